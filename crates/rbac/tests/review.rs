//! SelfSubjectRulesReview output: the rules that apply, in upstream's JSON shapes.

mod common;

use canopy_rbac::{NonResourceRule, Policy, ResourceRule, UserInfo};
use common::*;
use serde_json::json;

#[test]
fn rules_for_lists_cluster_then_namespace_rules() {
    let policy = Policy::new(
        &[role(
            "ns",
            "cm",
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}]),
        )],
        &[cluster_role(
            "mixed",
            json!([
                {"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]},
                {"verbs": ["get"], "nonResourceURLs": ["/metrics"]},
            ]),
        )],
        &[
            role_binding("ns", "cm", "Role", "cm", json!([user("alice")])),
            role_binding("other", "x", "ClusterRole", "mixed", json!([user("alice")])),
        ],
        &[cluster_role_binding("mixed", "mixed", json!([group("ops")]))],
    )
    .expect("valid");
    let alice = UserInfo::new("alice").with_groups(["ops"]);
    let (resource, non_resource) = policy.rules_for(&alice, "ns");
    assert_eq!(
        resource,
        vec![
            ResourceRule {
                verbs: vec!["list".into()],
                api_groups: vec!["".into()],
                resources: vec!["nodes".into()],
                resource_names: vec![]
            },
            ResourceRule {
                verbs: vec!["get".into()],
                api_groups: vec!["".into()],
                resources: vec!["configmaps".into()],
                resource_names: vec!["app".into()]
            },
        ]
    );
    assert_eq!(
        non_resource,
        vec![NonResourceRule { verbs: vec!["get".into()], non_resource_urls: vec!["/metrics".into()] }]
    );

    assert_eq!(
        policy.rules_review_status(&alice, "ns"),
        json!({
            "resourceRules": [
                {"verbs": ["list"], "apiGroups": [""], "resources": ["nodes"]},
                {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]},
            ],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}],
            "incomplete": false,
        })
    );
    // Cluster scope: ClusterRoleBindings only.
    assert_eq!(policy.rules_for(&alice, "").0.len(), 1);
}

#[test]
fn rules_review_for_a_new_user_and_missing_roles() {
    let policy = with_bootstrap(&[], &[], &[role_binding("ns", "b", "Role", "gone", json!([user("bob")]))], &[]);
    let bob = UserInfo::new("bob").with_groups(["system:authenticated"]);
    let status = policy.rules_review_status(&bob, "ns");
    assert_eq!(
        status["resourceRules"],
        json!([
            {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
        ])
    );
    assert_eq!(status["nonResourceRules"].as_array().map(Vec::len), Some(2), "discovery and public info");
    assert_eq!(status["incomplete"], json!(false));
    assert_eq!(status["evaluationError"], json!(r#"role.rbac.authorization.k8s.io "gone" not found"#));

    let nobody = policy.rules_review_status(&UserInfo::new("nobody"), "ns");
    assert_eq!(nobody, json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false}));
}
