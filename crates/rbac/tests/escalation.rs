//! Escalation prevention for writes of roles and bindings, checked against upstream's
//! policy-based storage.

mod common;

use canopy_rbac::{EscalationError, UserInfo, can_bind, can_create_role, can_update_binding, can_update_role};
use common::*;
use serde_json::json;

fn escalate_and_bind_rules() -> serde_json::Value {
    json!([
        {"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["admin"]},
        {"verbs": ["create"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"]},
    ])
}

#[test]
fn edit_user_cannot_bind_admin_but_can_bind_what_it_holds() {
    let policy =
        with_bootstrap(&[], &[], &[role_binding("team-a", "e", "ClusterRole", "edit", json!([user("ed")]))], &[]);
    let ed = UserInfo::new("ed").with_groups(["system:authenticated"]);
    let grant = |role: &str| role_binding("team-a", "g", "ClusterRole", role, json!([user("mallory")]));

    let err = can_bind(&policy, &ed, "team-a", &grant("admin")).expect_err("edit lacks admin's rules");
    assert_eq!(err.status_reason(), "Forbidden");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "user \"ed\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n"
        ),
        "{message}"
    );
    assert!(message.contains(
        r#"{APIGroups:["authorization.k8s.io"], Resources:["localsubjectaccessreviews"], Verbs:["create"]}"#
    ));
    assert!(message.contains(
        r#"{APIGroups:["rbac.authorization.k8s.io"], Resources:["rolebindings"], Verbs:["create" "delete" "deletecollection" "get" "list" "patch" "update" "watch"]}"#
    ));
    // Lines are sorted and unique, as upstream's string set.
    let lines: Vec<&str> = message.lines().skip(1).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(lines, sorted);

    // edit holds all of view's and its own rules in team-a...
    can_bind(&policy, &ed, "team-a", &grant("view")).expect("view is covered by edit");
    can_bind(&policy, &ed, "team-a", &grant("edit")).expect("edit is covered by edit");
    // ...but not in another namespace, nor cluster-wide.
    let elsewhere = role_binding("team-b", "g", "ClusterRole", "view", json!([user("mallory")]));
    assert!(can_bind(&policy, &ed, "team-b", &elsewhere).is_err());
    let cluster_wide = cluster_role_binding("g", "view", json!([user("mallory")]));
    assert!(can_bind(&policy, &ed, "", &cluster_wide).is_err());
}

#[test]
fn bind_verb_on_the_role_allows_binding_it() {
    let policy = with_bootstrap(
        &[],
        &[cluster_role("admin-granter", escalate_and_bind_rules())],
        &[role_binding("team-a", "granter", "ClusterRole", "admin-granter", json!([user("gina")]))],
        &[],
    );
    let gina = UserInfo::new("gina");
    let grant = |ns: &str, role: &str| role_binding(ns, "g", "ClusterRole", role, json!([user("mallory")]));
    can_bind(&policy, &gina, "team-a", &grant("team-a", "admin")).expect("bind on clusterroles/admin in team-a");
    assert!(can_bind(&policy, &gina, "team-a", &grant("team-a", "edit")).is_err(), "resourceNames restrict bind");
    assert!(can_bind(&policy, &gina, "team-b", &grant("team-b", "admin")).is_err(), "bind is checked in the namespace");
    let cluster_wide = cluster_role_binding("g", "admin", json!([user("mallory")]));
    assert!(can_bind(&policy, &gina, "", &cluster_wide).is_err());

    // bind granted cluster-wide covers ClusterRoleBindings.
    let policy = with_bootstrap(
        &[],
        &[cluster_role("admin-granter", escalate_and_bind_rules())],
        &[],
        &[cluster_role_binding("granter", "admin-granter", json!([user("gina")]))],
    );
    can_bind(&policy, &gina, "", &cluster_wide).expect("bind at cluster scope");
}

#[test]
fn binding_a_local_role() {
    let pods = json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]);
    let policy = with_bootstrap(
        &[role("ns", "pod-getter", pods.clone())],
        &[],
        &[role_binding("ns", "e", "ClusterRole", "edit", json!([user("ed")]))],
        &[],
    );
    let ed = UserInfo::new("ed");
    let grant = role_binding("ns", "g", "Role", "pod-getter", json!([user("x")]));
    can_bind(&policy, &ed, "ns", &grant).expect("edit holds get pods");
    let missing = role_binding("ns", "g", "Role", "nope", json!([user("x")]));
    let err = can_bind(&policy, &ed, "ns", &missing).expect_err("no such role");
    assert_eq!(err, EscalationError::RoleNotFound { resource: "roles", name: "nope".into() });
    assert_eq!(err.to_string(), r#"roles.rbac.authorization.k8s.io "nope" not found"#);
    assert_eq!(err.status_reason(), "NotFound");
    // system:masters skips the checks, as upstream (the role may be created later).
    let root = UserInfo::new("root").with_groups(["system:masters"]);
    can_bind(&policy, &root, "ns", &missing).expect("superuser");
    let no_ns = json!({"kind": "RoleBinding", "metadata": {"name": "g"}, "roleRef": {"kind": "Role", "name": "x"}});
    assert_eq!(can_bind(&policy, &ed, "", &no_ns), Err(EscalationError::NamespaceRequired));
}

#[test]
fn creating_roles() {
    let policy = with_bootstrap(
        &[],
        &[cluster_role(
            "escalator",
            json!([{"verbs": ["escalate"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"]}]),
        )],
        &[
            role_binding("ns", "e", "ClusterRole", "edit", json!([user("ed")])),
            role_binding("ns", "x", "ClusterRole", "escalator", json!([user("esc")])),
        ],
        &[],
    );
    let ed = UserInfo::new("ed").with_groups(["devs"]);
    let secrets_reader =
        role("ns", "r", json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}]));
    can_create_role(&policy, &ed, "ns", &secrets_reader).expect("edit reads secrets in ns");
    let nodes = role(
        "ns",
        "r",
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}, {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]),
    );
    let err = can_create_role(&policy, &ed, "ns", &nodes).expect_err("edit does not hold nodes");
    assert_eq!(
        err.to_string(),
        "user \"ed\" (groups=[\"devs\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\"]}"
    );
    let err = can_create_role(&policy, &ed, "other", &secrets_reader).expect_err("not held in other");
    assert!(matches!(err, EscalationError::NotHeld { .. }));

    // The escalate verb on roles allows any Role in that namespace.
    let esc = UserInfo::new("esc");
    can_create_role(&policy, &esc, "ns", &nodes).expect("escalate on roles");
    assert!(can_create_role(&policy, &esc, "other", &nodes).is_err());
    let cluster = cluster_role("c", json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]));
    assert!(can_create_role(&policy, &esc, "", &cluster).is_err(), "escalate on roles is not on clusterroles");
}

#[test]
fn cluster_roles_are_checked_cluster_wide_and_aggregation_needs_everything() {
    let pods = json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]);
    let policy = with_bootstrap(
        &[],
        &[],
        &[role_binding("ns", "a", "ClusterRole", "admin", json!([user("nsadmin")]))],
        &[
            cluster_role_binding("v", "view", json!([user("viewer")])),
            cluster_role_binding("m", "cluster-admin", json!([user("boss")])),
        ],
    );
    let pod_getter = cluster_role("pod-getter", pods.clone());
    assert!(can_create_role(&policy, &UserInfo::new("nsadmin"), "", &pod_getter).is_err(), "ns rules do not count");
    can_create_role(&policy, &UserInfo::new("viewer"), "", &pod_getter).expect("cluster-wide view holds it");

    let aggregated = json!({"kind": "ClusterRole", "metadata": {"name": "agg"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}});
    let err = can_create_role(&policy, &UserInfo::new("viewer"), "", &aggregated).expect_err("needs cluster-admin");
    assert_eq!(err.to_string(), "must have cluster-admin privileges to use the aggregationRule");
    can_create_role(&policy, &UserInfo::new("boss"), "", &aggregated).expect("cluster-admin");

    // Updating away an aggregation rule needs the same.
    let plain = json!({"kind": "ClusterRole", "metadata": {"name": "agg"}});
    assert_eq!(
        can_update_role(&policy, &UserInfo::new("viewer"), "", &plain, &aggregated),
        Err(EscalationError::AggregationRule)
    );
}

#[test]
fn updates_that_only_touch_gc_fields_are_allowed() {
    let policy = with_bootstrap(&[], &[], &[], &[]);
    let nobody = UserInfo::new("gc");
    let old = role_binding("ns", "b", "ClusterRole", "admin", json!([user("x")]));
    let mut new = old.clone();
    new["metadata"]["finalizers"] = json!(["example.com/keep"]);
    new["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "1"}]);
    can_update_binding(&policy, &nobody, "ns", &new, &old).expect("GC fields only");
    let mut changed = new.clone();
    changed["subjects"] = json!([user("y")]);
    assert!(can_update_binding(&policy, &nobody, "ns", &changed, &old).is_err());

    let old_role = role("ns", "r", json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]));
    let mut new_role = old_role.clone();
    new_role["metadata"]["finalizers"] = json!([]);
    new_role["metadata"]["ownerReferences"] = json!([{"kind": "X", "name": "o"}]);
    can_update_role(&policy, &nobody, "ns", &new_role, &old_role).expect("GC fields only");
}

#[test]
fn escalate_on_update_uses_the_role_name() {
    let policy = with_bootstrap(
        &[],
        &[cluster_role(
            "fix-one",
            json!([{"verbs": ["escalate", "update"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "resourceNames": ["r"]}]),
        )],
        &[role_binding("ns", "f", "ClusterRole", "fix-one", json!([user("fixer")]))],
        &[],
    );
    let fixer = UserInfo::new("fixer");
    let old = role("ns", "r", json!([]));
    let new = role("ns", "r", json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]));
    can_update_role(&policy, &fixer, "ns", &new, &old).expect("escalate on roles/r");
    // Creating has no name to match resourceNames against, as upstream.
    assert!(can_create_role(&policy, &fixer, "ns", &new).is_err());
}

#[test]
fn missing_roles_of_the_user_are_reported() {
    let policy = with_bootstrap(&[], &[], &[role_binding("ns", "b", "ClusterRole", "gone", json!([user("u")]))], &[]);
    let err = can_create_role(
        &policy,
        &UserInfo::new("u"),
        "ns",
        &role("ns", "r", json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])),
    )
    .expect_err("holds nothing");
    assert_eq!(
        err.to_string(),
        "user \"u\" (groups=[]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}; resolution errors: [clusterroles.rbac.authorization.k8s.io \"gone\" not found]"
    );
}
