//! Builders for RBAC objects as the API serves them, shared by the integration tests.
#![allow(dead_code)]

use canopy_rbac::{Attributes, Policy, ResourceAttributes, bootstrap};
use serde_json::{Value, json};

pub fn role(namespace: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name, "namespace": namespace}, "rules": rules})
}

pub fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}, "rules": rules})
}

fn role_ref(kind: &str, name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name})
}

/// A RoleBinding of `role_kind` `role_name` to `subjects`.
pub fn role_binding(namespace: &str, name: &str, role_kind: &str, role_name: &str, subjects: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": role_ref(role_kind, role_name), "subjects": subjects})
}

/// A ClusterRoleBinding of ClusterRole `role_name` to `subjects`.
pub fn cluster_role_binding(name: &str, role_name: &str, subjects: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name}, "roleRef": role_ref("ClusterRole", role_name), "subjects": subjects})
}

pub fn user(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

pub fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

pub fn service_account(namespace: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
}

/// The bootstrap roles and bindings plus the given objects.
pub fn with_bootstrap(
    roles: &[Value],
    cluster_roles: &[Value],
    bindings: &[Value],
    cluster_bindings: &[Value],
) -> Policy {
    let mut all_cluster_roles = bootstrap::cluster_roles();
    all_cluster_roles.extend_from_slice(cluster_roles);
    let mut all_cluster_bindings = bootstrap::cluster_role_bindings();
    all_cluster_bindings.extend_from_slice(cluster_bindings);
    Policy::new(roles, &all_cluster_roles, bindings, &all_cluster_bindings).expect("valid RBAC objects")
}

/// `verb` on `group`/`resource[/sub]` in `namespace` (`""`: cluster scope).
pub fn req(verb: &str, group: &str, resource: &str, namespace: &str) -> Attributes {
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    ResourceAttributes::new(verb, group, resource).subresource(sub).in_namespace(namespace).into()
}
