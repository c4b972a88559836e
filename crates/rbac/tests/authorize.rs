//! Authorization decisions and their reasons, checked against upstream's behaviour.

mod common;

use canopy_rbac::{Attributes, Policy, ResourceAttributes, UserInfo};
use common::*;
use serde_json::json;

fn pods_reader() -> serde_json::Value {
    json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
}

#[test]
fn role_binding_grants_only_in_its_namespace_cluster_binding_everywhere() {
    let policy = Policy::new(
        &[role("team-a", "pod-reader", pods_reader())],
        &[cluster_role("node-reader", json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["nodes"]}]))],
        &[role_binding("team-a", "read-pods", "Role", "pod-reader", json!([user("alice")]))],
        &[cluster_role_binding("read-nodes", "node-reader", json!([user("alice")]))],
    )
    .expect("valid");
    let alice = UserInfo::new("alice");
    let cases = [
        ("role in its namespace", req("list", "", "pods", "team-a"), true),
        ("role in another namespace", req("list", "", "pods", "team-b"), false),
        ("role at cluster scope", req("list", "", "pods", ""), false),
        ("role verb not granted", req("delete", "", "pods", "team-a"), false),
        ("cluster role at cluster scope", req("list", "", "nodes", ""), true),
        ("cluster role inside a namespace", req("get", "", "nodes", "team-z"), true),
    ];
    for (what, attrs, want) in cases {
        assert_eq!(policy.authorize(&alice, &attrs).allowed, want, "{what}");
    }
    assert!(!policy.authorize(&UserInfo::new("bob"), &req("list", "", "pods", "team-a")).allowed);
}

#[test]
fn role_binding_to_cluster_role_is_namespaced() {
    let policy = with_bootstrap(
        &[],
        &[],
        &[role_binding("team-a", "viewers", "ClusterRole", "view", json!([group("qa")]))],
        &[],
    );
    let qa = UserInfo::new("quinn").with_groups(["qa"]);
    assert!(policy.authorize(&qa, &req("list", "", "pods", "team-a")).allowed);
    assert!(!policy.authorize(&qa, &req("list", "", "pods", "team-b")).allowed);
    assert!(!policy.authorize(&qa, &req("list", "", "pods", "")).allowed);
    // A Role of the same name in another namespace does not leak either.
    let policy = Policy::new(
        &[role("team-b", "pod-reader", pods_reader())],
        &[],
        &[role_binding("team-a", "b", "Role", "pod-reader", json!([user("alice")]))],
        &[],
    )
    .expect("valid");
    let decision = policy.authorize(&UserInfo::new("alice"), &req("list", "", "pods", "team-a"));
    assert!(!decision.allowed);
    assert_eq!(
        decision.reason,
        r#"User "alice" cannot list resource "pods" in API group "" in the namespace "team-a": RBAC: role.rbac.authorization.k8s.io "pod-reader" not found"#
    );
}

#[test]
fn allow_reasons_name_binding_role_and_first_matching_subject() {
    let policy = Policy::new(
        &[role("team-a", "pod-reader", pods_reader())],
        &[cluster_role("everything", json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]))],
        &[role_binding("team-a", "readers", "Role", "pod-reader", json!([user("zed"), group("devs"), user("alice")]))],
        &[cluster_role_binding("ops", "everything", json!([group("ops"), user("root")]))],
    )
    .expect("valid");
    let alice = UserInfo::new("alice").with_groups(["devs"]);
    assert_eq!(
        policy.authorize(&alice, &req("get", "", "pods", "team-a")).reason,
        r#"RBAC: allowed by RoleBinding "readers/team-a" of Role "pod-reader" to Group "devs""#
    );
    let root = UserInfo::new("root").with_groups(["ops"]);
    assert_eq!(
        policy.authorize(&root, &req("delete", "apps", "deployments", "x")).reason,
        r#"RBAC: allowed by ClusterRoleBinding "ops" of ClusterRole "everything" to Group "ops""#
    );
    assert_eq!(
        policy.authorize(&UserInfo::new("root"), &req("delete", "", "nodes", "")).reason,
        r#"RBAC: allowed by ClusterRoleBinding "ops" of ClusterRole "everything" to User "root""#
    );
}

#[test]
fn denial_messages_match_upstream() {
    let policy = Policy::default();
    let alice = UserInfo::new("alice");
    assert_eq!(
        policy.authorize(&alice, &req("list", "", "pods", "team-a")).reason,
        r#"User "alice" cannot list resource "pods" in API group "" in the namespace "team-a""#
    );
    assert_eq!(
        policy.authorize(&alice, &req("create", "rbac.authorization.k8s.io", "clusterroles", "")).reason,
        r#"User "alice" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#
    );
    assert_eq!(
        policy.authorize(&alice, &Attributes::non_resource("get", "/metrics")).reason,
        r#"User "alice" cannot get path "/metrics""#
    );
    // Several missing roles are aggregated, deduplicated, as upstream.
    let policy = Policy::new(
        &[],
        &[],
        &[role_binding("ns", "a", "ClusterRole", "gone", json!([user("alice")]))],
        &[
            cluster_role_binding("b", "gone", json!([user("alice")])),
            cluster_role_binding("c", "gone", json!([user("alice")])),
            cluster_role_binding("d", "other-gone", json!([user("alice")])),
        ],
    )
    .expect("valid");
    assert_eq!(
        policy.authorize(&alice, &req("get", "", "pods", "ns")).reason,
        r#"User "alice" cannot get resource "pods" in API group "" in the namespace "ns": RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, clusterrole.rbac.authorization.k8s.io "other-gone" not found]"#
    );
}

#[test]
fn service_account_subjects() {
    let policy = with_bootstrap(
        &[],
        &[],
        &[
            // No namespace: the binding's own.
            role_binding(
                "ci",
                "builder-edit",
                "ClusterRole",
                "edit",
                json!([{"kind": "ServiceAccount", "name": "builder"}]),
            ),
            // Explicit namespace: another namespace's service account may be granted here.
            role_binding("prod", "deployer", "ClusterRole", "edit", json!([service_account("ci", "deployer")])),
            role_binding("ci", "all-sas", "ClusterRole", "view", json!([group("system:serviceaccounts:ci")])),
        ],
        &[
            // In a ClusterRoleBinding a service account needs a namespace; without one it matches nothing.
            cluster_role_binding("bad", "cluster-admin", json!([{"kind": "ServiceAccount", "name": "builder"}])),
            cluster_role_binding("monitor", "view", json!([service_account("monitoring", "scraper")])),
        ],
    );
    let builder = UserInfo::service_account("ci", "builder");
    assert_eq!(
        policy.authorize(&builder, &req("create", "apps", "deployments", "ci")).reason,
        r#"RBAC: allowed by RoleBinding "builder-edit/ci" of ClusterRole "edit" to ServiceAccount "builder/ci""#
    );
    assert!(!policy.authorize(&builder, &req("create", "apps", "deployments", "prod")).allowed);
    assert!(!policy.authorize(&builder, &req("list", "", "nodes", "")).allowed, "no namespace in a CRB: no match");

    let deployer = UserInfo::service_account("ci", "deployer");
    assert!(policy.authorize(&deployer, &req("update", "apps", "deployments", "prod")).allowed);
    assert!(policy.authorize(&deployer, &req("list", "", "configmaps", "ci")).allowed, "by the group binding");
    assert!(!policy.authorize(&deployer, &req("create", "", "configmaps", "ci")).allowed);

    // A plain user with a service account's groups but another name is not that service account.
    let impostor = UserInfo::new("builder").with_groups(["system:serviceaccounts", "system:serviceaccounts:other"]);
    assert!(!policy.authorize(&impostor, &req("create", "apps", "deployments", "ci")).allowed);

    let scraper = UserInfo::service_account("monitoring", "scraper");
    assert_eq!(
        policy.authorize(&scraper, &req("list", "", "pods", "anywhere")).reason,
        r#"RBAC: allowed by ClusterRoleBinding "monitor" of ClusterRole "view" to ServiceAccount "scraper/monitoring""#
    );
}

#[test]
fn system_masters_is_allowed_everything() {
    let policy = Policy::default();
    let root = UserInfo::new("kube-admin").with_groups(["system:masters"]);
    for attrs in [
        req("delete", "", "namespaces", ""),
        req("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
        Attributes::non_resource("post", "/anything"),
    ] {
        let decision = policy.authorize(&root, &attrs);
        assert!(decision.allowed);
        assert_eq!(decision.reason, r#"allowed by group "system:masters""#);
    }
    // Its SelfSubjectRulesReview shows the bootstrap cluster-admin binding's rules only.
    assert_eq!(policy.rules_for(&root, "x"), (vec![], vec![]));
    let (resource, non_resource) = with_bootstrap(&[], &[], &[], &[]).rules_for(&root, "x");
    assert_eq!(resource[0].resources, ["*"]);
    assert_eq!(non_resource[0].non_resource_urls, ["*"]);
}

#[test]
fn non_resource_urls_only_through_cluster_role_bindings() {
    let metrics = json!([{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/debug/*"]}]);
    let policy = Policy::new(
        &[],
        &[cluster_role("metrics", metrics)],
        &[role_binding("ns", "m", "ClusterRole", "metrics", json!([user("alice")]))],
        &[cluster_role_binding("m", "metrics", json!([user("bob")]))],
    )
    .expect("valid");
    let get = |path: &str| Attributes::non_resource("get", path);
    assert!(!policy.authorize(&UserInfo::new("alice"), &get("/metrics")).allowed, "a RoleBinding never grants paths");
    assert!(policy.authorize(&UserInfo::new("bob"), &get("/metrics")).allowed);
    assert!(policy.authorize(&UserInfo::new("bob"), &get("/debug/pprof/heap")).allowed);
    assert!(!policy.authorize(&UserInfo::new("bob"), &get("/debug")).allowed);
    assert!(!policy.authorize(&UserInfo::new("bob"), &Attributes::non_resource("post", "/metrics")).allowed);
}

#[test]
fn bootstrap_discovery_and_public_info() {
    let policy = with_bootstrap(&[], &[], &[], &[]);
    let authenticated = UserInfo::new("alice").with_groups(["system:authenticated"]);
    let anonymous = UserInfo::new("system:anonymous").with_groups(["system:unauthenticated"]);
    let get = |path: &str| Attributes::non_resource("get", path);
    for path in
        ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2"]
    {
        assert!(policy.authorize(&authenticated, &get(path)).allowed, "{path}");
    }
    for path in ["/version", "/healthz", "/livez", "/readyz"] {
        assert!(policy.authorize(&anonymous, &get(path)).allowed, "{path}");
    }
    for path in ["/api", "/apis/apps", "/openapi/v2", "/metrics"] {
        assert!(!policy.authorize(&anonymous, &get(path)).allowed, "{path}");
    }
    assert!(!policy.authorize(&authenticated, &get("/metrics")).allowed);
    let ssar = req("create", "authorization.k8s.io", "selfsubjectaccessreviews", "");
    assert!(policy.authorize(&authenticated, &ssar).allowed);
    assert!(
        policy.authorize(&authenticated, &req("create", "authorization.k8s.io", "selfsubjectrulesreviews", "")).allowed
    );
    assert!(
        policy.authorize(&authenticated, &req("create", "authentication.k8s.io", "selfsubjectreviews", "")).allowed
    );
    assert!(!policy.authorize(&anonymous, &ssar).allowed);
    assert!(!policy.authorize(&authenticated, &req("list", "", "pods", "default")).allowed);
}

#[test]
fn view_edit_admin_differ_as_upstream() {
    let policy = with_bootstrap(
        &[],
        &[],
        &[
            role_binding("ns", "v", "ClusterRole", "view", json!([user("viewer")])),
            role_binding("ns", "e", "ClusterRole", "edit", json!([user("editor")])),
            role_binding("ns", "a", "ClusterRole", "admin", json!([user("admin")])),
        ],
        &[],
    );
    let (viewer, editor, admin) = (UserInfo::new("viewer"), UserInfo::new("editor"), UserInfo::new("admin"));
    let rbac = "rbac.authorization.k8s.io";
    // (request, view, edit, admin)
    let cases = [
        (req("get", "", "pods", "ns"), true, true, true),
        (req("get", "", "pods/log", "ns"), true, true, true),
        (req("create", "", "pods/exec", "ns"), false, true, true),
        (req("create", "", "pods/portforward", "ns"), false, true, true),
        (req("create", "", "pods", "ns"), false, true, true),
        (req("get", "", "secrets", "ns"), false, true, true),
        (req("list", "", "secrets", "ns"), false, true, true),
        (req("update", "", "configmaps", "ns"), false, true, true),
        (req("list", "", "services", "ns"), true, true, true),
        (req("list", "", "endpoints", "ns"), true, true, true),
        (req("list", "", "events", "ns"), true, true, true),
        (req("create", "", "events", "ns"), false, true, true),
        (req("list", "", "serviceaccounts", "ns"), true, true, true),
        (req("create", "", "serviceaccounts/token", "ns"), false, true, true),
        (req("list", "", "persistentvolumeclaims", "ns"), true, true, true),
        (req("get", "", "resourcequotas", "ns"), true, true, true),
        (req("update", "", "resourcequotas", "ns"), false, false, false),
        (req("get", "", "limitranges", "ns"), true, true, true),
        (req("delete", "", "limitranges", "ns"), false, false, false),
        (req("get", "", "namespaces", "ns"), true, true, true),
        (req("delete", "", "namespaces", "ns"), false, false, false),
        (req("patch", "apps", "deployments", "ns"), false, true, true),
        (req("list", "apps", "replicasets", "ns"), true, true, true),
        (req("update", "apps", "statefulsets/scale", "ns"), false, true, true),
        (req("get", "apps", "daemonsets", "ns"), true, true, true),
        (req("get", "apps", "deployments/scale", "ns"), true, true, true),
        (req("create", "batch", "jobs", "ns"), false, true, true),
        (req("list", "batch", "cronjobs", "ns"), true, true, true),
        (req("update", "coordination.k8s.io", "leases", "ns"), false, true, true),
        (req("get", rbac, "roles", "ns"), false, false, true),
        (req("create", rbac, "rolebindings", "ns"), false, false, true),
        (req("create", "authorization.k8s.io", "localsubjectaccessreviews", "ns"), false, false, true),
        (req("create", rbac, "clusterroles", ""), false, false, false),
        (req("list", "", "pods", "other"), false, false, false),
        (req("list", "", "nodes", ""), false, false, false),
    ];
    for (attrs, v, e, a) in cases {
        let got = [&viewer, &editor, &admin].map(|u| policy.authorize(u, &attrs).allowed);
        assert_eq!(got, [v, e, a], "{attrs:?}");
    }
}

#[test]
fn crd_roles_join_aggregated_roles_by_label() {
    let widgets = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": ["example.com"], "resources": ["widgets"]}]});
    let gadgets = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "gadgets-edit", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
        "rules": [{"verbs": ["create", "delete"], "apiGroups": ["example.com"], "resources": ["gadgets"]}]});
    let policy = with_bootstrap(
        &[],
        &[widgets, gadgets],
        &[
            role_binding("ns", "v", "ClusterRole", "view", json!([user("viewer")])),
            role_binding("ns", "a", "ClusterRole", "admin", json!([user("admin")])),
        ],
        &[],
    );
    let viewer = UserInfo::new("viewer");
    let admin = UserInfo::new("admin");
    assert!(policy.authorize(&viewer, &req("list", "example.com", "widgets", "ns")).allowed);
    assert!(!policy.authorize(&viewer, &req("create", "example.com", "gadgets", "ns")).allowed);
    // view aggregates into edit, edit into admin.
    assert!(policy.authorize(&admin, &req("list", "example.com", "widgets", "ns")).allowed);
    assert!(policy.authorize(&admin, &req("create", "example.com", "gadgets", "ns")).allowed);
    let view_rules = policy.cluster_role_rules("view").expect("view exists");
    assert_eq!(view_rules.last().map(|r| r.resources.clone()), Some(vec!["widgets".to_string()]));
}

#[test]
fn match_expressions_aggregation() {
    let policy = Policy::new(
        &[],
        &[
            json!({"kind": "ClusterRole", "metadata": {"name": "team-all"},
                "aggregationRule": {"clusterRoleSelectors": [
                    {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}]},
                "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "a-pods", "labels": {"team": "a"}},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "c-secrets", "labels": {"team": "c"}},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]}),
        ],
        &[],
        &[cluster_role_binding("t", "team-all", json!([user("t")]))],
    )
    .expect("valid");
    let t = UserInfo::new("t");
    assert!(policy.authorize(&t, &req("get", "", "pods", "x")).allowed);
    assert!(!policy.authorize(&t, &req("get", "", "secrets", "x")).allowed, "team c does not match");
    assert!(!policy.authorize(&t, &req("delete", "", "pods", "x")).allowed, "the role's own rules are replaced");
}

#[test]
fn thousands_of_bindings_index_by_subject() {
    let mut bindings = Vec::new();
    let mut cluster_bindings = Vec::new();
    for i in 0..3000 {
        bindings.push(role_binding(
            &format!("ns-{}", i % 50),
            &format!("b{i}"),
            "ClusterRole",
            "reader",
            json!([user(&format!("user-{i}"))]),
        ));
        cluster_bindings.push(cluster_role_binding(&format!("c{i}"), "reader", json!([group(&format!("group-{i}"))])));
    }
    let reader = cluster_role("reader", pods_reader());
    let policy = Policy::new(&[], &[reader], &bindings, &cluster_bindings).expect("valid");
    let u = UserInfo::new("user-1234");
    assert!(policy.authorize(&u, &req("get", "", "pods", "ns-34")).allowed);
    assert!(!policy.authorize(&u, &req("get", "", "pods", "ns-35")).allowed);
    let g = UserInfo::new("someone").with_groups(["group-2999"]);
    assert_eq!(
        policy.authorize(&g, &req("list", "", "pods", "")).reason,
        r#"RBAC: allowed by ClusterRoleBinding "c2999" of ClusterRole "reader" to Group "group-2999""#
    );
    assert!(!policy.authorize(&UserInfo::new("user-1234"), &req("list", "", "pods", "")).allowed);
}

#[test]
fn builder_lets_callers_skip_bad_objects() {
    let mut builder = Policy::builder();
    builder.cluster_role(&cluster_role("reader", pods_reader())).expect("valid");
    let err =
        builder.cluster_role_binding(&json!({"metadata": {"name": "bad"}, "subjects": "alice"})).expect_err("bad");
    assert_eq!(err.to_string(), r#"ClusterRoleBinding "bad" is invalid: subjects: must be a list"#);
    builder.cluster_role_binding(&cluster_role_binding("ok", "reader", json!([user("alice")]))).expect("valid");
    let err = builder.role(&cluster_role("x", json!([]))).expect_err("wrong kind");
    assert_eq!(err.to_string(), r#"expected a Role, got kind "ClusterRole""#);
    let policy = builder.build();
    let attrs: Attributes = ResourceAttributes::new("get", "", "pods").in_namespace("a").named("p").into();
    assert!(policy.authorize(&UserInfo::new("alice"), &attrs).allowed);
}
