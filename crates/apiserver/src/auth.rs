//! Authentication (who is asking) and the authorizer seam (may they).
//!
//! Today one credential exists: the admin token generated on first start, which authenticates as
//! `canopy-admin` in `system:masters` (upstream's superuser group). The `Authorizer` trait is the
//! seam RBAC plugs into; `MastersOnly` allows `system:masters` and denies everyone else.

use std::sync::Arc;

use serde_json::{Value, json};

/// The group upstream treats as superuser.
pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";

/// An authenticated user, as `kubectl auth whoami` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn to_json(&self) -> Value {
        json!({"username": self.name, "uid": self.uid, "groups": self.groups})
    }
}

/// What a request asks to do, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &User, attrs: &Attributes) -> Decision;
}

/// Allows `system:masters`, denies everyone else (the policy until RBAC is enforced).
pub struct MastersOnly;

impl Authorizer for MastersOnly {
    fn authorize(&self, user: &User, _attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            Decision { allowed: true, reason: format!("{} is in {MASTERS}", user.name) }
        } else {
            Decision { allowed: false, reason: "only system:masters is authorized".into() }
        }
    }
}

/// Bearer tokens -> users.
pub struct Authenticator {
    admin_token: Arc<str>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    pub fn new(admin_token: &str) -> Self {
        Self { admin_token: Arc::from(admin_token) }
    }

    pub fn authenticate(&self, token: &str) -> Option<User> {
        constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()).then(|| User {
            name: "canopy-admin".into(),
            uid: "canopy-admin".into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_token_authenticates() {
        let a = Authenticator::new("secret-token");
        assert!(a.authenticate("secret-token").is_some_and(|u| u.groups.contains(&MASTERS.to_string())));
        assert!(a.authenticate("secret-tokeN").is_none());
        assert!(a.authenticate("").is_none());
    }
}
