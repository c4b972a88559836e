//! [`Policy`]: an immutable snapshot of every Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding, indexed by subject, that answers "may this user do this?" as upstream's
//! RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`) with the privileged-group authorizer in
//! front of it:
//!
//! - members of `system:masters` are allowed everything;
//! - ClusterRoleBindings grant everywhere, RoleBindings only in their namespace (also when they
//!   refer to a ClusterRole), and never for non-resource paths;
//! - bindings are visited ClusterRoleBindings first, then the namespace's RoleBindings, each in
//!   the order given, and the first rule that allows decides;
//! - a binding whose role does not exist grants nothing, and is named in the denial.
//!
//! Objects being deleted count until they are gone, as upstream. Build a new snapshot when RBAC
//! objects change; the API server swaps it in.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::aggregate::effective_rules;
use crate::attributes::{Attributes, Decision, forbidden_message};
use crate::error::PolicyError;
use crate::go::{aggregate, quote};
use crate::objects::{BindingObject, Kind, RoleObject, RoleRef, Subject, SubjectKey};
use crate::rule::PolicyRule;
use crate::user::{SYSTEM_MASTERS, UserInfo};

/// Why a binding grants nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    NotFound { kind: Kind, name: String },
    UnsupportedKind(String),
}

impl Unresolved {
    /// Upstream's error text; `registry` picks the registry's plural resource names
    /// (`clusterroles.rbac...`) over the informer listers' singular ones (`clusterrole.rbac...`).
    pub(crate) fn message(&self, registry: bool) -> String {
        match self {
            Unresolved::NotFound { kind, name } => {
                let resource = match (kind, registry) {
                    (Kind::Role, false) => "role",
                    (Kind::Role, true) => "roles",
                    (_, false) => "clusterrole",
                    (_, true) => "clusterroles",
                };
                format!("{resource}.rbac.authorization.k8s.io {} not found", quote(name))
            }
            Unresolved::UnsupportedKind(kind) => format!("unsupported role reference kind: {}", quote(kind)),
        }
    }
}

#[derive(Debug)]
struct Binding {
    name: String,
    namespace: String,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
    /// What each subject matches, computed once.
    keys: Vec<Option<SubjectKey>>,
    rules: Result<Arc<[PolicyRule]>, Unresolved>,
}

/// The bindings of one scope (cluster-wide, or one namespace), indexed by user and group name.
#[derive(Debug, Default)]
struct Scope {
    bindings: Vec<Binding>,
    users: HashMap<String, Vec<usize>>,
    groups: HashMap<String, Vec<usize>>,
}

impl Scope {
    fn push(&mut self, binding: Binding) {
        let index = self.bindings.len();
        for key in &binding.keys {
            let list = match key {
                Some(SubjectKey::User(name)) => self.users.entry(name.clone()).or_default(),
                Some(SubjectKey::Group(name)) => self.groups.entry(name.clone()).or_default(),
                None => continue,
            };
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
        self.bindings.push(binding);
    }

    /// Bindings with a subject matching `user`, in order, each with the first subject that
    /// matches (the one upstream names in its reason).
    fn matching<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = (&'a Binding, &'a Subject)> + 'a {
        let mut indices: Vec<usize> = self.users.get(&user.name).into_iter().flatten().copied().collect();
        for group in &user.groups {
            indices.extend(self.groups.get(group).into_iter().flatten().copied());
        }
        indices.sort_unstable();
        indices.dedup();
        indices.into_iter().filter_map(move |i| {
            let binding = &self.bindings[i];
            let first = binding.keys.iter().position(|key| match key {
                Some(SubjectKey::User(name)) => *name == user.name,
                Some(SubjectKey::Group(name)) => user.in_group(name),
                None => false,
            })?;
            Some((binding, &binding.subjects[first]))
        })
    }
}

/// Where a rule came from, for the allow reason.
pub(crate) struct Source<'a> {
    binding: &'a Binding,
    subject: &'a Subject,
}

impl Source<'_> {
    /// Upstream's describer: `ClusterRoleBinding "x" of ClusterRole "y" to User "alice"` or
    /// `RoleBinding "x/ns" of Role "y" to Group "devs"`.
    fn describe(&self) -> String {
        let b = self.binding;
        let (kind, name) = if b.namespace.is_empty() {
            ("ClusterRoleBinding", b.name.clone())
        } else {
            ("RoleBinding", format!("{}/{}", b.name, b.namespace))
        };
        format!(
            "{kind} {} of {} {} to {}",
            quote(&name),
            b.role_ref.kind,
            quote(&b.role_ref.name),
            self.subject.describe(&b.namespace)
        )
    }
}

/// One step of a rule visit.
pub(crate) enum Visit<'a> {
    Rule(Source<'a>, &'a PolicyRule),
    Unresolved(&'a Unresolved),
}

/// The rules that apply to a user in a namespace, and the bindings that could not be resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleResolution {
    /// Rules from matching ClusterRoleBindings, then from the namespace's RoleBindings.
    pub rules: Vec<PolicyRule>,
    /// Upstream's texts for bindings whose role is missing (`clusterrole.rbac.authorization.k8s.io
    /// "x" not found`); the rules found are still valid, as RBAC only adds.
    pub errors: Vec<String>,
}

/// An RBAC policy snapshot; see the module docs.
#[derive(Debug, Default)]
pub struct Policy {
    roles: HashMap<String, HashMap<String, Arc<[PolicyRule]>>>,
    cluster_roles: HashMap<String, Arc<[PolicyRule]>>,
    cluster: Scope,
    namespaces: HashMap<String, Scope>,
}

/// Collects RBAC objects for a [`Policy`], one at a time, so a caller can skip (and log) an
/// object it cannot read instead of failing the whole snapshot.
#[derive(Debug, Default)]
pub struct PolicyBuilder {
    roles: Vec<RoleObject>,
    cluster_roles: Vec<RoleObject>,
    role_bindings: Vec<BindingObject>,
    cluster_role_bindings: Vec<BindingObject>,
}

impl PolicyBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        PolicyBuilder::default()
    }

    /// Adds a Role.
    pub fn role(&mut self, obj: &Value) -> Result<&mut Self, PolicyError> {
        self.roles.push(RoleObject::parse(obj, Kind::Role)?);
        Ok(self)
    }

    /// Adds a ClusterRole.
    pub fn cluster_role(&mut self, obj: &Value) -> Result<&mut Self, PolicyError> {
        self.cluster_roles.push(RoleObject::parse(obj, Kind::ClusterRole)?);
        Ok(self)
    }

    /// Adds a RoleBinding.
    pub fn role_binding(&mut self, obj: &Value) -> Result<&mut Self, PolicyError> {
        self.role_bindings.push(BindingObject::parse(obj, Kind::RoleBinding)?);
        Ok(self)
    }

    /// Adds a ClusterRoleBinding.
    pub fn cluster_role_binding(&mut self, obj: &Value) -> Result<&mut Self, PolicyError> {
        self.cluster_role_bindings.push(BindingObject::parse(obj, Kind::ClusterRoleBinding)?);
        Ok(self)
    }

    /// Aggregates ClusterRoles, resolves every binding's role and indexes bindings by subject.
    pub fn build(self) -> Policy {
        let mut policy = Policy { cluster_roles: effective_rules(self.cluster_roles), ..Policy::default() };
        for role in self.roles {
            policy.roles.entry(role.meta.namespace).or_default().insert(role.meta.name, Arc::from(role.rules));
        }
        for b in self.cluster_role_bindings {
            let binding = policy.resolve(b, String::new());
            policy.cluster.push(binding);
        }
        for b in self.role_bindings {
            let namespace = b.meta.namespace.clone();
            let binding = policy.resolve(b, namespace.clone());
            policy.namespaces.entry(namespace).or_default().push(binding);
        }
        policy
    }
}

impl Policy {
    /// A snapshot from the four lists as served by the API.
    pub fn new(
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> Result<Policy, PolicyError> {
        let mut builder = PolicyBuilder::new();
        for r in roles {
            builder.role(r)?;
        }
        for r in cluster_roles {
            builder.cluster_role(r)?;
        }
        for b in role_bindings {
            builder.role_binding(b)?;
        }
        for b in cluster_role_bindings {
            builder.cluster_role_binding(b)?;
        }
        Ok(builder.build())
    }

    /// A builder to add objects one at a time.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::new()
    }

    fn resolve(&self, b: BindingObject, namespace: String) -> Binding {
        let rules = self.role_ref_rules(&b.role_ref, &namespace);
        let keys = b.subjects.iter().map(|s| s.key(&namespace)).collect();
        Binding { name: b.meta.name, namespace, role_ref: b.role_ref, subjects: b.subjects, keys, rules }
    }

    /// Upstream's `GetRoleReferenceRules`: a Role in the binding's namespace, or a ClusterRole.
    pub(crate) fn role_ref_rules(&self, role_ref: &RoleRef, namespace: &str) -> Result<Arc<[PolicyRule]>, Unresolved> {
        let found = match role_ref.kind.as_str() {
            "Role" => self.roles.get(namespace).and_then(|roles| roles.get(&role_ref.name)),
            "ClusterRole" => self.cluster_roles.get(&role_ref.name),
            other => return Err(Unresolved::UnsupportedKind(other.to_string())),
        };
        let kind = if role_ref.kind == "Role" { Kind::Role } else { Kind::ClusterRole };
        found.cloned().ok_or_else(|| Unresolved::NotFound { kind, name: role_ref.name.clone() })
    }

    /// The rules of Role `namespace/name`, if it exists.
    pub fn role_rules(&self, namespace: &str, name: &str) -> Option<&[PolicyRule]> {
        self.roles.get(namespace)?.get(name).map(|rules| &rules[..])
    }

    /// The effective rules of ClusterRole `name` (after aggregation), if it exists.
    pub fn cluster_role_rules(&self, name: &str) -> Option<&[PolicyRule]> {
        self.cluster_roles.get(name).map(|rules| &rules[..])
    }

    /// Upstream's `VisitRulesFor`: every rule that applies to `user` in `namespace` (`""`:
    /// ClusterRoleBindings only) and every unresolvable binding, until `visitor` returns false.
    pub(crate) fn visit<'a>(&'a self, user: &'a UserInfo, namespace: &str, mut visitor: impl FnMut(Visit<'a>) -> bool) {
        let namespaced = (!namespace.is_empty()).then(|| self.namespaces.get(namespace)).flatten();
        for scope in std::iter::once(&self.cluster).chain(namespaced) {
            for (binding, subject) in scope.matching(user) {
                match &binding.rules {
                    Err(unresolved) => {
                        if !visitor(Visit::Unresolved(unresolved)) {
                            return;
                        }
                    }
                    Ok(rules) => {
                        for rule in rules.iter() {
                            if !visitor(Visit::Rule(Source { binding, subject }, rule)) {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether `user` may do `attrs`; see [`Decision`] for the reasons.
    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.is_superuser() {
            // Upstream's privileged-group authorizer gives no reason; this one says which group.
            return Decision::allow(format!("allowed by group {}", quote(SYSTEM_MASTERS)));
        }
        let mut allowed = None;
        let mut errors = Vec::new();
        self.visit(user, attrs.namespace(), |visit| match visit {
            Visit::Rule(source, rule) if rule.allows(attrs) => {
                allowed = Some(source.describe());
                false
            }
            Visit::Rule(..) => true,
            Visit::Unresolved(unresolved) => {
                errors.push(unresolved.message(false));
                true
            }
        });
        match allowed {
            Some(source) => Decision::allow(format!("RBAC: allowed by {source}")),
            None if errors.is_empty() => Decision::deny(forbidden_message(user, attrs)),
            None => Decision::deny(format!("{}: RBAC: {}", forbidden_message(user, attrs), aggregate(&errors))),
        }
    }

    /// Upstream's `RulesFor`: every rule that applies to `user` in `namespace`. Membership in
    /// `system:masters` adds nothing here (upstream's privileged-group authorizer lists no rules);
    /// the bootstrap `cluster-admin` binding is what shows its rules.
    pub fn resolve_rules(&self, user: &UserInfo, namespace: &str) -> RuleResolution {
        self.collect_rules(user, namespace, false)
    }

    /// As [`Self::resolve_rules`], with missing roles named as the registry names them
    /// (`clusterroles.rbac.authorization.k8s.io`), as in upstream's escalation errors.
    pub(crate) fn resolve_rules_from_registry(&self, user: &UserInfo, namespace: &str) -> RuleResolution {
        self.collect_rules(user, namespace, true)
    }

    fn collect_rules(&self, user: &UserInfo, namespace: &str, registry: bool) -> RuleResolution {
        let mut out = RuleResolution::default();
        self.visit(user, namespace, |visit| {
            match visit {
                Visit::Rule(_, rule) => out.rules.push(rule.clone()),
                Visit::Unresolved(unresolved) => out.errors.push(unresolved.message(registry)),
            }
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Policy>();
    }
}
