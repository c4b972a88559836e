use serde_json::json;

use super::*;
use crate::attributes::ResourceAttributes;

fn res(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
    ResourceAttributes::new(verb, group, resource).subresource(sub).named(name).in_namespace("ns").into()
}

#[test]
fn resource_matching_table() {
    let pods_get = PolicyRule::new(&["get"]).groups(&[""]).resources(&["pods"]);
    let all = PolicyRule::new(&["*"]).groups(&["*"]).resources(&["*"]);
    let any_scale = PolicyRule::new(&["get", "update"]).groups(&["apps"]).resources(&["*/scale"]);
    let pods_log = PolicyRule::new(&["get"]).groups(&[""]).resources(&["pods/log"]);
    let named = PolicyRule::new(&["get", "list"]).groups(&[""]).resources(&["configmaps"]).names(&["app-config"]);
    let empty_group_list = PolicyRule::new(&["get"]).resources(&["pods"]);
    let cases: &[(&str, &PolicyRule, Attributes, bool)] = &[
        ("exact", &pods_get, res("get", "", "pods", "", "web"), true),
        ("other verb", &pods_get, res("list", "", "pods", "", ""), false),
        ("other group", &pods_get, res("get", "apps", "pods", "", ""), false),
        ("other resource", &pods_get, res("get", "", "services", "", ""), false),
        ("resource rule does not cover subresource", &pods_get, res("get", "", "pods", "log", "web"), false),
        ("star allows any", &all, res("deletecollection", "x.io", "widgets", "status", "a"), true),
        ("star allows escalate", &all, res("escalate", "rbac.authorization.k8s.io", "roles", "", ""), true),
        ("*/scale on deployments", &any_scale, res("update", "apps", "deployments", "scale", "web"), true),
        ("*/scale on statefulsets", &any_scale, res("get", "apps", "statefulsets", "scale", "db"), true),
        ("*/scale not status", &any_scale, res("get", "apps", "deployments", "status", "web"), false),
        ("*/scale not the resource", &any_scale, res("get", "apps", "deployments", "", "web"), false),
        ("subresource rule", &pods_log, res("get", "", "pods", "log", "web"), true),
        ("subresource rule not parent", &pods_log, res("get", "", "pods", "", "web"), false),
        ("subresource rule not sibling", &pods_log, res("get", "", "pods", "exec", "web"), false),
        ("resourceNames match", &named, res("get", "", "configmaps", "", "app-config"), true),
        ("resourceNames other", &named, res("get", "", "configmaps", "", "other"), false),
        ("resourceNames deny list", &named, res("list", "", "configmaps", "", ""), false),
        ("no apiGroups matches nothing", &empty_group_list, res("get", "", "pods", "", ""), false),
        ("resource rule never matches path", &all, Attributes::non_resource("get", "/healthz"), false),
    ];
    for (what, rule, attrs, want) in cases {
        assert_eq!(rule.allows(attrs), *want, "{what}");
    }
}

#[test]
fn non_resource_matching_table() {
    let discovery = PolicyRule::new(&["get"]).urls(&["/api", "/api/*", "/healthz"]);
    let everything = PolicyRule::new(&["*"]).urls(&["*"]);
    let prefix = PolicyRule::new(&["get"]).urls(&["/logs*"]);
    let cases: &[(&str, &PolicyRule, &str, &str, bool)] = &[
        ("exact", &discovery, "get", "/api", true),
        ("suffix wildcard", &discovery, "get", "/api/v1", true),
        ("deep suffix wildcard", &discovery, "get", "/api/v1/namespaces", true),
        ("wildcard needs the slash", &discovery, "get", "/apis", false),
        ("exact only", &discovery, "get", "/healthz/etcd", false),
        ("verb", &discovery, "post", "/api", false),
        ("star", &everything, "delete", "/anything/at/all", true),
        ("bare prefix", &prefix, "get", "/logs", true),
        ("bare prefix longer", &prefix, "get", "/logsfoo/bar", true),
        ("bare prefix mismatch", &prefix, "get", "/log", false),
    ];
    for (what, rule, verb, path, want) in cases {
        assert_eq!(rule.allows(&Attributes::non_resource(*verb, *path)), *want, "{what}");
    }
    // A non-resource rule never allows a resource request.
    assert!(!everything.allows(&res("get", "", "pods", "", "")));
}

#[test]
fn parses_api_json() {
    let rule = PolicyRule::from_json(&json!({
        "verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"],
        "resourceNames": null,
    }))
    .expect("valid rule");
    assert_eq!(rule, PolicyRule::new(&["get", "list"]).groups(&[""]).resources(&["pods", "pods/log"]));
    assert_eq!(rule.to_json(), json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}));

    let urls = PolicyRule::from_json(&json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]})).expect("valid");
    assert_eq!(urls.to_json(), json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}));
    assert_eq!(PolicyRule::default().to_json(), json!({"verbs": []}));

    let err = PolicyRule::from_json(&json!({"verbs": ["get", 3]})).expect_err("not a string");
    assert_eq!(err.to_string(), "verbs[1]: must be a string");
    let err = rules_from_json(&json!({"rules": [{"verbs": ["get"]}, {"resources": "pods"}]})).expect_err("bad");
    assert_eq!(err.to_string(), "rules[1].resources: must be a list of strings");
    let err = rules_from_json(&json!({"rules": [7]})).expect_err("bad");
    assert_eq!(err.to_string(), "rules[0]: must be an object");
}

#[test]
fn compact_string_matches_upstream() {
    let rule = PolicyRule::new(&["get"]).groups(&[""]).resources(&["pods"]);
    assert_eq!(rule.compact_string(), r#"{APIGroups:[""], Resources:["pods"], Verbs:["get"]}"#);
    let rule = PolicyRule::new(&["get", "update"]).groups(&["apps"]).resources(&["deployments"]).names(&["web"]);
    assert_eq!(
        rule.compact_string(),
        r#"{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get" "update"]}"#
    );
    assert_eq!(
        PolicyRule::new(&["get"]).urls(&["/metrics"]).compact_string(),
        r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#
    );
}
