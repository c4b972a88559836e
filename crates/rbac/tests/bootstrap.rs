//! The built-in roles and bindings: upstream's names, labels, rules and aggregation.

mod common;

use canopy_rbac::{Policy, PolicyRule, UserInfo, bootstrap};
use common::req;
use serde_json::json;

fn names(objects: &[serde_json::Value]) -> Vec<&str> {
    objects.iter().filter_map(|o| o["metadata"]["name"].as_str()).collect()
}

#[test]
fn ships_upstream_names_and_bindings() {
    let roles = bootstrap::cluster_roles();
    assert_eq!(
        names(&roles),
        [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:aggregate-to-admin",
            "system:aggregate-to-edit",
            "system:aggregate-to-view",
            "system:basic-user",
            "system:discovery",
            "system:public-info-viewer",
            "system:node",
            "system:kube-scheduler",
        ]
    );
    for role in &roles {
        assert_eq!(role["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(role["kind"], "ClusterRole");
        assert_eq!(role["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
        assert_eq!(role["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"], "true");
    }
    let bindings = bootstrap::cluster_role_bindings();
    let subjects: Vec<(&str, Vec<&str>)> = bindings
        .iter()
        .map(|b| {
            assert_eq!(b["roleRef"]["name"], b["metadata"]["name"]);
            let groups = b["subjects"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
            (b["metadata"]["name"].as_str().unwrap_or_default(), groups)
        })
        .collect();
    assert_eq!(
        subjects,
        [
            ("cluster-admin", vec!["system:masters"]),
            ("system:basic-user", vec!["system:authenticated"]),
            ("system:discovery", vec!["system:authenticated"]),
            ("system:public-info-viewer", vec!["system:authenticated", "system:unauthenticated"]),
            ("system:node", vec!["system:nodes"]),
            ("system:kube-scheduler", vec!["system:kube-scheduler"]),
        ]
    );
}

#[test]
fn aggregation_labels_and_rules_as_upstream() {
    let [admin, edit, view] = [bootstrap::admin(), bootstrap::edit(), bootstrap::view()];
    let selector = |r: &serde_json::Value| r["aggregationRule"]["clusterRoleSelectors"].clone();
    assert_eq!(selector(&admin), json!([{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]));
    assert_eq!(selector(&edit), json!([{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]));
    assert_eq!(selector(&view), json!([{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]));
    assert_eq!(edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"], "true");
    assert_eq!(view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");

    // Shipped expanded: a policy that re-aggregates them finds the same rules.
    let policy = Policy::new(&[], &bootstrap::cluster_roles(), &[], &[]).expect("valid");
    for role in [&admin, &edit, &view] {
        let name = role["metadata"]["name"].as_str().unwrap_or_default();
        let shipped: Vec<PolicyRule> =
            role["rules"].as_array().into_iter().flatten().map(|r| PolicyRule::from_json(r).expect("rule")).collect();
        assert!(!shipped.is_empty(), "{name}");
        assert_eq!(policy.cluster_role_rules(name), Some(&shipped[..]), "{name}");
    }
    // view's rules are exactly system:aggregate-to-view's; edit starts with aggregate-to-edit's.
    assert_eq!(view["rules"], bootstrap::aggregate_to_view()["rules"]);
    assert_eq!(edit["rules"][0], bootstrap::aggregate_to_edit()["rules"][0]);
    // Upstream renders rule lists sorted.
    assert_eq!(
        bootstrap::aggregate_to_admin()["rules"][1],
        json!({"verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings", "roles"]})
    );
    assert_eq!(
        bootstrap::discovery()["rules"],
        json!([{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
            "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}])
    );
}

#[test]
fn cluster_admin_binding_grants_system_masters_everything_through_rbac() {
    let policy =
        Policy::new(&[], &bootstrap::cluster_roles(), &[], &bootstrap::cluster_role_bindings()).expect("valid");
    let (resource, non_resource) = policy.rules_for(&UserInfo::new("root").with_groups(["system:masters"]), "");
    assert_eq!(resource.len(), 1);
    assert_eq!((resource[0].verbs.clone(), resource[0].api_groups.clone()), (vec!["*".into()], vec!["*".into()]));
    assert_eq!(non_resource[0].verbs, ["*"]);
    let view = bootstrap::view();
    assert!(!serde_json::to_string(&view["rules"]).unwrap_or_default().contains("secrets"), "view never reads secrets");
    let user = UserInfo::new("u").with_groups(["system:authenticated"]);
    assert!(!policy.authorize(&user, &req("get", "", "secrets", "default")).allowed);
}
