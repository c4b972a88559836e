//! Privilege-escalation prevention for writes of RBAC objects, as upstream's policy-based
//! storage (`pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased`):
//!
//! - a Role or ClusterRole may be written by a member of `system:masters`, by a user allowed the
//!   `escalate` verb on `roles`/`clusterroles`, or by a user who already holds every rule in it
//!   (in the role's namespace, or cluster-wide for a ClusterRole); setting an `aggregationRule`
//!   additionally needs `*` on everything;
//! - a RoleBinding or ClusterRoleBinding may be written by a member of `system:masters`, by a user
//!   allowed `bind` on the referenced role (by name, in the binding's namespace), or by a user who
//!   already holds every rule of the referenced role where the binding applies.
//!
//! Owns the decision; the API server calls these before storing and maps an
//! [`EscalationError`] to a Status with [`EscalationError::status_reason`] (upstream prints a
//! forbidden one as `roles.rbac.authorization.k8s.io "name" is forbidden: <error>`).

use serde_json::Value;

use crate::attributes::{Attributes, ResourceAttributes};
use crate::covers::{compact_rules, covers};
use crate::error::PolicyError;
use crate::go::{aggregate, quote, quote_list};
use crate::objects::{BindingObject, Kind, RoleObject};
use crate::policy::{Policy, Unresolved};
use crate::rule::PolicyRule;
use crate::user::UserInfo;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Why a write of an RBAC object is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    /// The user lacks some of the rules being granted (upstream's `ConfirmNoEscalation` text).
    #[error(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}{}",
        quote(.user),
        quote_list(.groups),
        describe(.missing),
        resolution(.resolution_errors)
    )]
    NotHeld {
        /// The user's name.
        user: String,
        /// The user's groups.
        groups: Vec<String>,
        /// The rules not held, compacted per group and resource.
        missing: Vec<PolicyRule>,
        /// Bindings of the user's that referred to missing roles.
        resolution_errors: Vec<String>,
    },
    /// An `aggregationRule` is set by a user without `*` on everything.
    #[error("must have cluster-admin privileges to use the aggregationRule")]
    AggregationRule,
    /// The binding refers to a role that does not exist.
    #[error("{resource}.rbac.authorization.k8s.io {} not found", quote(.name))]
    RoleNotFound {
        /// `roles` or `clusterroles`.
        resource: &'static str,
        /// The role's name.
        name: String,
    },
    /// The binding's `roleRef.kind` is neither `Role` nor `ClusterRole`.
    #[error("unsupported role reference kind: {}", quote(.0))]
    UnsupportedRoleRefKind(String),
    /// A Role or RoleBinding was given without a namespace.
    #[error("namespace is required")]
    NamespaceRequired,
    /// The object could not be read.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
}

impl EscalationError {
    /// The Kubernetes Status `reason` upstream answers with: `Forbidden`, `NotFound`,
    /// `BadRequest` or `Invalid`.
    pub fn status_reason(&self) -> &'static str {
        match self {
            EscalationError::NotHeld { .. } | EscalationError::AggregationRule => "Forbidden",
            EscalationError::RoleNotFound { .. } => "NotFound",
            EscalationError::NamespaceRequired => "BadRequest",
            EscalationError::UnsupportedRoleRefKind(_) | EscalationError::Invalid(_) => "Invalid",
        }
    }
}

fn describe(missing: &[PolicyRule]) -> String {
    let mut lines: Vec<String> = missing.iter().map(PolicyRule::compact_string).collect();
    lines.sort();
    lines.dedup();
    lines.join("\n")
}

fn resolution(errors: &[String]) -> String {
    if errors.is_empty() { String::new() } else { format!("; resolution errors: [{}]", aggregate(errors)) }
}

/// Upstream's `ConfirmNoEscalation`: `Ok` if the rules `user` holds in `namespace` (`""`:
/// cluster-wide) cover `rules`.
pub fn confirm_no_escalation(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), EscalationError> {
    let owner = policy.resolve_rules_from_registry(user, namespace);
    covers(&owner.rules, rules).map_err(|missing| EscalationError::NotHeld {
        user: user.name.clone(),
        groups: user.groups.clone(),
        missing: compact_rules(&missing),
        resolution_errors: owner.errors,
    })
}

/// Which of a pair of kinds `obj` is: its `kind`, else cluster-scoped when `namespace` is empty.
fn kind_of(obj: &Value, namespace: &str, namespaced: Kind, cluster: Kind) -> Result<Kind, EscalationError> {
    let kind = match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k == namespaced.as_str() => namespaced,
        Some(k) if k == cluster.as_str() => cluster,
        Some(k) => {
            let expected =
                if namespaced == Kind::Role { "Role or ClusterRole" } else { "RoleBinding or ClusterRoleBinding" };
            return Err(PolicyError::WrongKind { expected, found: k.to_string() }.into());
        }
        None if namespace.is_empty() => cluster,
        None => namespaced,
    };
    if kind == namespaced && namespace.is_empty() {
        return Err(EscalationError::NamespaceRequired);
    }
    Ok(kind)
}

fn allowed(policy: &Policy, user: &UserInfo, verb: &str, group: &str, resource: &str, name: &str, ns: &str) -> bool {
    let attrs = ResourceAttributes::new(verb, group, resource).named(name).in_namespace(ns);
    policy.authorize(user, &Attributes::Resource(attrs)).allowed
}

fn has_aggregation(role: &RoleObject) -> bool {
    role.aggregation.as_ref().is_some_and(|selectors| !selectors.is_empty())
}

fn full_authority() -> [PolicyRule; 2] {
    [PolicyRule::new(&["*"]).groups(&["*"]).resources(&["*"]), PolicyRule::new(&["*"]).urls(&["*"])]
}

/// The checks of a Role or ClusterRole write; `old` is set for updates.
fn check_role(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    role: &Value,
    old: Option<&Value>,
) -> Result<(), EscalationError> {
    let kind = kind_of(role, namespace, Kind::Role, Kind::ClusterRole)?;
    let namespace = if kind == Kind::ClusterRole { "" } else { namespace };
    let parsed = RoleObject::parse(role, kind)?;
    if user.is_superuser() {
        return Ok(());
    }
    let resource = if kind == Kind::Role { "roles" } else { "clusterroles" };
    // Upstream authorizes `escalate` with the request's name: none on create.
    let name = if old.is_some() { parsed.meta.name.as_str() } else { "" };
    if allowed(policy, user, "escalate", RBAC_GROUP, resource, name, namespace) {
        return Ok(());
    }
    let old = old.map(|o| RoleObject::parse(o, kind).map(|parsed| (o, parsed))).transpose()?;
    if let Some((old_json, _)) = &old
        && is_only_mutating_gc_fields(role, old_json)
    {
        return Ok(());
    }
    confirm_no_escalation(policy, user, namespace, &parsed.rules)?;
    if (has_aggregation(&parsed) || old.as_ref().is_some_and(|(_, o)| has_aggregation(o)))
        && confirm_no_escalation(policy, user, namespace, &full_authority()).is_err()
    {
        return Err(EscalationError::AggregationRule);
    }
    Ok(())
}

/// May `user` create `role` (a Role in `namespace`, or a ClusterRole when its `kind` says so or
/// `namespace` is empty)?
pub fn can_create_role(policy: &Policy, user: &UserInfo, namespace: &str, role: &Value) -> Result<(), EscalationError> {
    check_role(policy, user, namespace, role, None)
}

/// May `user` replace `old` with `role`? As creation, except that `escalate` is checked on the
/// role's name, changing only garbage-collection fields (`ownerReferences`, `finalizers`) is
/// always allowed, and removing an `aggregationRule` also needs `*` on everything.
pub fn can_update_role(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    role: &Value,
    old: &Value,
) -> Result<(), EscalationError> {
    check_role(policy, user, namespace, role, Some(old))
}

/// The checks of a RoleBinding or ClusterRoleBinding write; `old` is set for updates.
fn check_binding(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    binding: &Value,
    old: Option<&Value>,
) -> Result<(), EscalationError> {
    let kind = kind_of(binding, namespace, Kind::RoleBinding, Kind::ClusterRoleBinding)?;
    let namespace = if kind == Kind::ClusterRoleBinding { "" } else { namespace };
    let parsed = BindingObject::parse(binding, kind)?;
    if user.is_superuser() {
        return Ok(());
    }
    if let Some(old) = old
        && is_only_mutating_gc_fields(binding, old)
    {
        return Ok(());
    }
    let role_ref = &parsed.role_ref;
    let resource = match role_ref.kind.as_str() {
        "ClusterRole" => Some("clusterroles"),
        "Role" => Some("roles"),
        _ => None,
    };
    if let Some(resource) = resource
        && allowed(policy, user, "bind", &role_ref.api_group, resource, &role_ref.name, namespace)
    {
        return Ok(());
    }
    let rules = policy.role_ref_rules(role_ref, namespace).map_err(|e| match e {
        Unresolved::NotFound { kind, name } => {
            EscalationError::RoleNotFound { resource: if kind == Kind::Role { "roles" } else { "clusterroles" }, name }
        }
        Unresolved::UnsupportedKind(kind) => EscalationError::UnsupportedRoleRefKind(kind),
    })?;
    confirm_no_escalation(policy, user, namespace, &rules)
}

/// May `user` create `binding` (a RoleBinding in `namespace`, or a ClusterRoleBinding when its
/// `kind` says so or `namespace` is empty)?
pub fn can_bind(policy: &Policy, user: &UserInfo, namespace: &str, binding: &Value) -> Result<(), EscalationError> {
    check_binding(policy, user, namespace, binding, None)
}

/// May `user` replace `old` with `binding`? As creation, except that changing only
/// garbage-collection fields is always allowed.
pub fn can_update_binding(
    policy: &Policy,
    user: &UserInfo,
    namespace: &str,
    binding: &Value,
    old: &Value,
) -> Result<(), EscalationError> {
    check_binding(policy, user, namespace, binding, Some(old))
}

/// Upstream's `IsOnlyMutatingGCFields`: `new` equals `old` once its `ownerReferences`,
/// `finalizers` and `selfLink` are taken from `old`. Null and empty values count as absent (as
/// upstream's semantic equality treats nil and empty alike), and `resourceVersion` and
/// `managedFields`, which the server rewrites on every update, are not compared.
pub fn is_only_mutating_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = normalized(v);
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in ["ownerReferences", "finalizers", "selfLink", "resourceVersion", "managedFields"] {
                meta.remove(field);
            }
        }
        v
    };
    strip(new) == strip(old)
}

fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v))).filter(|(_, v)| !is_empty(v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
