//! Canopy's Kubernetes RBAC authorization: pure, IO-free functions over `serde_json::Value`
//! Role, ClusterRole, RoleBinding and ClusterRoleBinding objects, with upstream's semantics and
//! messages (`plugin/pkg/auth/authorizer/rbac`, `pkg/registry/rbac`).
//!
//! Owns: matching a request against [`PolicyRule`]s ([`rule`]), a [`Policy`] snapshot indexed
//! by subject that authorizes requests and lists a user's rules for SelfSubjectRulesReview
//! ([`policy`], [`review`]), ClusterRole aggregation, privilege-escalation checks for writes of
//! RBAC objects ([`mod@covers`], [`escalation`]), and the built-in roles and bindings
//! ([`bootstrap`]).
//!
//! Does not own: authentication (who the [`UserInfo`] is), turning HTTP requests into
//! [`Attributes`], storage, watching RBAC objects for changes, or rendering `Status` objects;
//! the API server does those and calls in here.
//!
//! ```
//! use canopy_rbac::{Attributes, Policy, ResourceAttributes, UserInfo, bootstrap};
//! use serde_json::json;
//!
//! let binding = json!({"kind": "RoleBinding", "metadata": {"name": "devs-edit", "namespace": "team-a"},
//!     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
//!     "subjects": [{"kind": "Group", "name": "devs"}]});
//! let policy = Policy::new(&[], &bootstrap::cluster_roles(), &[binding], &bootstrap::cluster_role_bindings())
//!     .expect("valid RBAC objects");
//!
//! let alice = UserInfo::new("alice").with_groups(["devs", "system:authenticated"]);
//! let list_pods: Attributes = ResourceAttributes::new("list", "", "pods").in_namespace("team-a").into();
//! let decision = policy.authorize(&alice, &list_pods);
//! assert!(decision.allowed);
//! assert_eq!(decision.reason,
//!     r#"RBAC: allowed by RoleBinding "devs-edit/team-a" of ClusterRole "edit" to Group "devs""#);
//!
//! let elsewhere: Attributes = ResourceAttributes::new("list", "", "pods").in_namespace("prod").into();
//! assert_eq!(policy.authorize(&alice, &elsewhere).reason,
//!     r#"User "alice" cannot list resource "pods" in API group "" in the namespace "prod""#);
//!
//! // edit cannot grant admin in its namespace.
//! let grant_admin = json!({"kind": "RoleBinding", "metadata": {"name": "x", "namespace": "team-a"},
//!     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
//!     "subjects": [{"kind": "User", "name": "mallory"}]});
//! assert!(canopy_rbac::can_bind(&policy, &alice, "team-a", &grant_admin).is_err());
//! ```

mod aggregate;
mod attributes;
pub mod bootstrap;
pub mod covers;
mod error;
pub mod escalation;
mod go;
mod json;
mod objects;
pub mod policy;
pub mod review;
pub mod rule;
mod selector;
mod user;

pub use attributes::{Attributes, Decision, NonResourceAttributes, ResourceAttributes, forbidden_message};
pub use covers::{breakdown_rule, compact_rules, covers};
pub use error::PolicyError;
pub use escalation::{
    EscalationError, can_bind, can_create_role, can_update_binding, can_update_role, confirm_no_escalation,
    is_only_mutating_gc_fields,
};
pub use json::FieldError;
pub use policy::{Policy, PolicyBuilder, RuleResolution};
pub use review::{NonResourceRule, ResourceRule};
pub use rule::PolicyRule;
pub use user::{
    ALL_AUTHENTICATED, ALL_SERVICE_ACCOUNTS, ALL_UNAUTHENTICATED, SERVICE_ACCOUNT_USER_PREFIX, SYSTEM_MASTERS,
    UserInfo, service_account_username,
};
