//! The authenticated identity a request is authorized for (upstream's `user.Info`), and the
//! well-known user and group names RBAC treats specially.
//!
//! Owns the identity shape only; authentication (tokens, certificates) is the API server's.

use std::collections::BTreeMap;

/// Members of this group are allowed everything, before RBAC is consulted (upstream's
/// `user.SystemPrivilegedGroup`, served by the privileged-group authorizer).
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Every authenticated user carries this group.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// Every anonymous request carries this group.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// Every service account carries this group.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of a service account's user name: `system:serviceaccount:NAMESPACE:NAME`.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";

/// A user as the authenticator saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (`alice`, `system:serviceaccount:team-a:builder`).
    pub name: String,
    /// A unique id, opaque to RBAC.
    pub uid: String,
    /// Group names; RBAC `Group` subjects match against these.
    pub groups: Vec<String>,
    /// Extra attributes from the authenticator, opaque to RBAC.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and no groups.
    pub fn new(name: impl Into<String>) -> Self {
        UserInfo { name: name.into(), ..UserInfo::default() }
    }

    /// The same user with `groups` added.
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// The identity of service account `namespace/name` as upstream's token authenticator builds
    /// it: user `system:serviceaccount:NS:NAME`, groups `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo::new(service_account_username(namespace, name)).with_groups([
            ALL_SERVICE_ACCOUNTS.to_string(),
            format!("{ALL_SERVICE_ACCOUNTS}:{namespace}"),
            ALL_AUTHENTICATED.to_string(),
        ])
    }

    /// Whether the user is in `system:masters` and so is allowed everything.
    pub fn is_superuser(&self) -> bool {
        self.in_group(SYSTEM_MASTERS)
    }

    /// Whether the user carries `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// `system:serviceaccount:NAMESPACE:NAME`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_identity() {
        let sa = UserInfo::service_account("team-a", "builder");
        assert_eq!(sa.name, "system:serviceaccount:team-a:builder");
        assert!(sa.in_group("system:serviceaccounts"));
        assert!(sa.in_group("system:serviceaccounts:team-a"));
        assert!(sa.in_group(ALL_AUTHENTICATED));
        assert!(!sa.is_superuser());
        assert!(UserInfo::new("root").with_groups([SYSTEM_MASTERS]).is_superuser());
    }
}
