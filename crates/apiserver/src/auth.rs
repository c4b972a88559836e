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

/// Allows `system:masters` everything and every authenticated user the reviews of itself (as
/// upstream's `system:basic-user`); denies the rest. The policy until RBAC is enforced.
pub struct MastersOnly;

const SELF_REVIEWS: &[&str] = &["selfsubjectreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews"];

impl Authorizer for MastersOnly {
    fn authorize(&self, user: &User, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            Decision { allowed: true, reason: format!("{} is in {MASTERS}", user.name) }
        } else if attrs.verb == "create" && SELF_REVIEWS.contains(&attrs.resource.as_str()) {
            Decision { allowed: true, reason: "every authenticated user may review itself".into() }
        } else {
            Decision { allowed: false, reason: String::new() }
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

/// Applies `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` (kubectl `--as`,
/// `--as-group`, `--as-uid`): the requester must be allowed the `impersonate` verb on each.
/// Returns the user the request acts as.
pub fn impersonate(
    authorizer: &dyn Authorizer,
    requester: User,
    headers: &http::HeaderMap,
) -> Result<User, crate::error::ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let users = values("impersonate-user");
    let groups = values("impersonate-group");
    let uids = values("impersonate-uid");
    if users.is_empty() {
        if !groups.is_empty() || !uids.is_empty() {
            return Err(crate::error::ApiError::BadRequest(
                "requested impersonation of groups or uid without impersonating a user".into(),
            ));
        }
        return Ok(requester);
    }
    let check = |resource: &str, name: &str, namespace: &str| -> Result<(), crate::error::ApiError> {
        let attrs = Attributes {
            verb: "impersonate".into(),
            api_group: if resource == "uids" { "authentication.k8s.io".into() } else { String::new() },
            resource: resource.into(),
            subresource: String::new(),
            name: name.into(),
            namespace: namespace.into(),
        };
        if authorizer.authorize(&requester, &attrs).allowed {
            Ok(())
        } else {
            Err(crate::error::ApiError::Forbidden(format!(
                "{resource} \"{name}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"{}\"{}",
                requester.name,
                attrs.api_group,
                if namespace.is_empty() {
                    " at the cluster scope".to_string()
                } else {
                    format!(" in the namespace \"{namespace}\"")
                }
            )))
        }
    };
    let name = users[0].clone();
    match name.strip_prefix("system:serviceaccount:").and_then(|r| r.split_once(':')) {
        Some((ns, sa)) => check("serviceaccounts", sa, ns)?,
        None => check("users", &name, "")?,
    }
    for g in &groups {
        check("groups", g, "")?;
    }
    for u in &uids {
        check("uids", u, "")?;
    }
    let mut user_groups = groups;
    if let Some((ns, _)) = name.strip_prefix("system:serviceaccount:").and_then(|r| r.split_once(':')) {
        user_groups.push("system:serviceaccounts".into());
        user_groups.push(format!("system:serviceaccounts:{ns}"));
    }
    if name != "system:anonymous" && !user_groups.iter().any(|g| g == AUTHENTICATED) {
        user_groups.push(AUTHENTICATED.into());
    }
    Ok(User { uid: uids.first().cloned().unwrap_or_default(), name, groups: user_groups })
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
