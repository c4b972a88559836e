//! Property tests: authorization never panics on arbitrary strings, and `*` allows everything.

use canopy_rbac::{Attributes, Policy, PolicyRule, ResourceAttributes, UserInfo, covers};
use proptest::prelude::*;
use serde_json::json;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("*".to_string()),
        Just("*/scale".to_string()),
        Just("pods".to_string()),
        Just("pods/log".to_string()),
        Just("/api/*".to_string()),
        "[a-z/*:.-]{0,12}",
        any::<String>(),
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    (texts(), texts(), texts(), texts(), texts()).prop_map(|(verbs, api_groups, resources, resource_names, urls)| {
        PolicyRule { verbs, api_groups, resources, resource_names, non_resource_urls: urls }
    })
}

fn attributes() -> impl Strategy<Value = Attributes> {
    prop_oneof![
        (text(), text(), text(), text(), text(), text()).prop_map(|(verb, group, resource, sub, name, ns)| {
            Attributes::Resource(ResourceAttributes {
                verb,
                api_group: group,
                resource,
                subresource: sub,
                name,
                namespace: ns,
            })
        }),
        (text(), text()).prop_map(|(verb, path)| Attributes::non_resource(verb, path)),
    ]
}

fn everything() -> PolicyRule {
    PolicyRule::new(&["*"]).groups(&["*"]).resources(&["*"]).urls(&["*"])
}

proptest! {
    #[test]
    fn authorize_never_panics(rules in prop::collection::vec(rule(), 0..4), attrs in attributes(),
                              name in text(), groups in texts(), ns in text(), kind in text()) {
        let rules_json: Vec<_> = rules.iter().map(PolicyRule::to_json).collect();
        let policy = Policy::new(
            &[json!({"kind": "Role", "metadata": {"name": "r", "namespace": ns}, "rules": rules_json})],
            &[json!({"kind": "ClusterRole", "metadata": {"name": "c"}, "rules": rules_json})],
            &[json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": ns},
                "roleRef": {"kind": kind, "name": "r"}, "subjects": [{"kind": "User", "name": name}]})],
            &[json!({"kind": "ClusterRoleBinding", "metadata": {"name": "cb"},
                "roleRef": {"kind": "ClusterRole", "name": "c"},
                "subjects": [{"kind": "Group", "name": groups.first().cloned().unwrap_or_default()},
                             {"kind": "ServiceAccount", "name": name, "namespace": ns}]})],
        ).expect("generated objects are well-formed");
        let user = UserInfo::new(name).with_groups(groups);
        let decision = policy.authorize(&user, &attrs);
        prop_assert!(!decision.reason.is_empty());
        // Whatever a single rule allows, the policy allows to a subject bound cluster-wide.
        if rules.iter().any(|r| r.allows(&attrs)) && !user.groups.is_empty() {
            prop_assert!(decision.allowed, "{}", decision.reason);
        }
        let _ = policy.rules_for(&user, attrs.namespace());
        let _ = covers(&rules, &rules);
    }

    #[test]
    fn star_rule_allows_everything(attrs in attributes()) {
        prop_assert!(everything().allows(&attrs));
        let policy = Policy::new(
            &[],
            &[json!({"kind": "ClusterRole", "metadata": {"name": "all"}, "rules": [everything().to_json()]})],
            &[],
            &[json!({"kind": "ClusterRoleBinding", "metadata": {"name": "all"},
                "roleRef": {"kind": "ClusterRole", "name": "all"}, "subjects": [{"kind": "User", "name": "u"}]})],
        ).expect("valid");
        let decision = policy.authorize(&UserInfo::new("u"), &attrs);
        prop_assert!(decision.allowed);
        prop_assert_eq!(decision.reason, r#"RBAC: allowed by ClusterRoleBinding "all" of ClusterRole "all" to User "u""#);
    }

    #[test]
    fn rules_cover_themselves_and_star_covers_all(rules in prop::collection::vec(rule(), 0..4)) {
        prop_assert!(covers(&[everything()], &rules).is_ok());
        // A valid rule covers itself. (A rule mixing resourceNames with nonResourceURLs, which
        // validation rejects, does not: upstream's breakdown drops the names from URL pieces.)
        let valid: Vec<PolicyRule> =
            rules.into_iter().filter(|r| r.resource_names.is_empty() || r.non_resource_urls.is_empty()).collect();
        prop_assert!(covers(&valid, &valid).is_ok());
    }
}
