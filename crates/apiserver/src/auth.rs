//! Authentication (who is asking) and authorization (may they), with Kubernetes RBAC.
//!
//! Today one credential exists: the admin token generated on first start, which authenticates as
//! `canopy-admin` in `system:masters` (upstream's superuser group); any identity can then be
//! acted as through impersonation, which RBAC checks. Authorization is `canopy-rbac` over a
//! snapshot of the Roles, ClusterRoles and bindings, rebuilt whenever one of them changes.

use std::sync::{Arc, RwLock};

use canopy_rbac::{Attributes, Decision, Policy, ResourceAttributes, UserInfo};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::objects::{ListParams, Objects};

pub type User = UserInfo;

pub fn user_json(user: &User) -> Value {
    let mut v = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        v["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        v["extra"] = json!(user.extra);
    }
    v
}

/// RBAC over the live policy objects.
pub struct Rbac {
    policy: RwLock<Arc<Policy>>,
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

impl Rbac {
    pub fn new() -> Self {
        Self { policy: RwLock::new(Arc::new(Policy::builder().build())) }
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().expect("policy lock poisoned").clone()
    }

    pub fn authorize(&self, user: &User, attrs: &Attributes) -> Decision {
        self.policy().authorize(user, attrs)
    }

    /// Rebuilds the snapshot from the stored RBAC objects; an invalid object is skipped (logged),
    /// never the whole policy.
    pub async fn refresh(&self, objects: &Objects) -> ApiResult<()> {
        let mut builder = Policy::builder();
        for plural in ["roles", "clusterroles", "rolebindings", "clusterrolebindings"] {
            let res = objects.registry.get(RBAC_GROUP, "v1", plural).expect("RBAC kinds are built in");
            for obj in objects.list(&res, None, &ListParams::default(), &|_| true).await?.items {
                let added = match plural {
                    "roles" => builder.role(&obj).map(|_| ()),
                    "clusterroles" => builder.cluster_role(&obj).map(|_| ()),
                    "rolebindings" => builder.role_binding(&obj).map(|_| ()),
                    _ => builder.cluster_role_binding(&obj).map(|_| ()),
                };
                if let Err(e) = added {
                    tracing::warn!(kind = plural, name = meta::name(&obj), error = %e, "ignoring invalid RBAC object");
                }
            }
        }
        *self.policy.write().expect("policy lock poisoned") = Arc::new(builder.build());
        Ok(())
    }

    /// Upstream's escalation checks on writes of roles and bindings: nobody grants what they
    /// do not hold (unless they have `escalate` or `bind`).
    pub fn check_escalation(
        &self,
        user: &User,
        plural: &str,
        namespace: &str,
        new: &Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        let policy = self.policy();
        let result = match (plural, old) {
            ("roles" | "clusterroles", None) => canopy_rbac::can_create_role(&policy, user, namespace, new),
            ("roles" | "clusterroles", Some(old)) => canopy_rbac::can_update_role(&policy, user, namespace, new, old),
            ("rolebindings" | "clusterrolebindings", None) => canopy_rbac::can_bind(&policy, user, namespace, new),
            ("rolebindings" | "clusterrolebindings", Some(old)) => {
                canopy_rbac::can_update_binding(&policy, user, namespace, new, old)
            }
            _ => Ok(()),
        };
        result.map_err(|e| {
            let what = format!("{plural}.{RBAC_GROUP} \"{}\"", meta::name(new));
            match e.status_reason() {
                "NotFound" => ApiError::NotFound(crate::error::Target::new(RBAC_GROUP, plural, meta::name(new))),
                "BadRequest" => ApiError::BadRequest(e.to_string()),
                "Invalid" => ApiError::invalid(plural, RBAC_GROUP, meta::name(new), vec![e.to_string()]),
                _ => ApiError::Forbidden(format!("{what} is forbidden: {e}")),
            }
        })
    }
}

/// Whether writes to this resource change the policy.
pub fn is_rbac(group: &str) -> bool {
    group == RBAC_GROUP
}

/// The built-in ClusterRoles and ClusterRoleBindings (cluster-admin, admin, edit, view, the
/// system roles every authenticated user has), created on start when missing.
pub fn bootstrap_objects() -> Vec<(&'static str, Value)> {
    let roles = canopy_rbac::bootstrap::cluster_roles().into_iter().map(|r| ("clusterroles", r));
    let bindings = canopy_rbac::bootstrap::cluster_role_bindings().into_iter().map(|b| ("clusterrolebindings", b));
    roles.chain(bindings).collect()
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
        constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()).then(|| {
            let mut u = UserInfo::new("canopy-admin")
                .with_groups([canopy_rbac::SYSTEM_MASTERS, canopy_rbac::ALL_AUTHENTICATED]);
            u.uid = "canopy-admin".into();
            u
        })
    }
}

/// Applies `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` (kubectl `--as`,
/// `--as-group`, `--as-uid`): the requester must be allowed the `impersonate` verb on each.
/// Returns the user the request acts as.
pub fn impersonate(rbac: &Rbac, requester: User, headers: &http::HeaderMap) -> ApiResult<User> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let users = values("impersonate-user");
    let groups = values("impersonate-group");
    let uids = values("impersonate-uid");
    if users.is_empty() {
        if !groups.is_empty() || !uids.is_empty() {
            return Err(ApiError::BadRequest(
                "requested impersonation of groups or uid without impersonating a user".into(),
            ));
        }
        return Ok(requester);
    }
    let check = |resource: &str, name: &str, namespace: &str| -> ApiResult<()> {
        let group = if resource == "uids" { "authentication.k8s.io" } else { "" };
        let attrs = Attributes::Resource(
            ResourceAttributes::new("impersonate", group, resource).in_namespace(namespace).named(name),
        );
        if rbac.authorize(&requester, &attrs).allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{resource} \"{name}\" is forbidden: {}",
                canopy_rbac::forbidden_message(&requester, &attrs)
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
    if name != "system:anonymous" && !user_groups.iter().any(|g| g == canopy_rbac::ALL_AUTHENTICATED) {
        user_groups.push(canopy_rbac::ALL_AUTHENTICATED.into());
    }
    let mut user = UserInfo::new(name).with_groups(user_groups);
    user.uid = uids.first().cloned().unwrap_or_default();
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_token_authenticates() {
        let a = Authenticator::new("secret-token");
        assert!(a.authenticate("secret-token").is_some_and(|u| u.is_superuser()));
        assert!(a.authenticate("secret-tokeN").is_none());
        assert!(a.authenticate("").is_none());
    }
}
