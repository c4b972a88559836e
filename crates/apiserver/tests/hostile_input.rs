//! Hostile input never panics the request path (the same entry points the fuzz targets drive;
//! this runs on stable in every CI run, the fuzzers in `fuzz/` go deeper with cargo-fuzz).

use canopy_apiserver::fuzzing;
use proptest::prelude::*;
use serde_json::json;

const TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z$/]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-zA-Z$/]{1,12}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), t in 0..TYPES.len(), pod in any::<bool>()) {
        fuzzing::decode_and_admit(TYPES[t], &body, if pod { "pods" } else { "deployments" });
    }

    #[test]
    fn structured_bodies_never_panic(v in json_value()) {
        let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": v})).expect("json");
        fuzzing::decode_and_admit("application/json", &body, "pods");
    }

    #[test]
    fn urls_never_panic(path in "[a-z/%.]{0,64}", query in "[a-z=&%0-9]{0,64}") {
        fuzzing::parse_url(&path, &query);
    }

    #[test]
    fn patches_never_panic(current in json_value(), patch in json_value(), t in 2..6usize) {
        let current = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": current});
        fuzzing::patch(TYPES[t], &current, &patch);
    }
}

#[test]
fn deep_nesting_is_rejected() {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(!fuzzing::decode_and_admit("application/json", deep.as_bytes(), "pods"));
    let yaml = "a:\n  ".to_string() + &"[".repeat(5_000);
    assert!(!fuzzing::decode_and_admit("application/yaml", yaml.as_bytes(), "pods"));
}
