//! Table tests ported in spirit from upstream `strategicpatch/patch_test.go` (whose
//! `MergeItem` type is recreated by [`merge_item_meta`]), plus Pod-shaped cases and
//! property tests.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Upstream's test type: strategies depend only on the field name, at any depth.
fn merge_item_meta(path: &[&str]) -> Option<PatchStrategy> {
    match *path.last()? {
        "mergingList" | "mergeItemPtr" | "retainKeysMergingList" => Some(PatchStrategy::merge_by("name")),
        "mergingIntList" => Some(PatchStrategy::merge_scalars()),
        "replacingItem" => Some(PatchStrategy::Replace),
        _ => None,
    }
}

fn check(original: Value, patch: Value, want: Value) {
    let got = apply(&original, &patch, &merge_item_meta).unwrap_or_else(|e| panic!("patch {patch} failed: {e}"));
    assert_eq!(got, want, "\noriginal {original}\npatch    {patch}");
}

fn check_err(original: Value, patch: Value, want: &str) {
    let err = apply(&original, &patch, &merge_item_meta).expect_err("should fail");
    assert!(err.to_string().contains(want), "{err}");
}

#[test]
fn maps_merge_and_null_deletes() {
    check(json!({"name": 1}), json!({"value": 1}), json!({"name": 1, "value": 1}));
    check(json!({"name": 1, "other": "a"}), json!({"name": null, "value": 1}), json!({"other": "a", "value": 1}));
    check(
        json!({"simpleMap": {"key1": 1, "key2": 1, "other": "a"}}),
        json!({"simpleMap": {"key2": null}}),
        json!({"simpleMap": {"key1": 1, "other": "a"}}),
    );
    check(json!({"name": 1}), json!({"other": null}), json!({"name": 1}));
    check(json!({"a": {"b": 1}}), json!({"a": "x"}), json!({"a": "x"}));
}

#[test]
fn map_directives() {
    check(
        json!({"simpleMap": {"key1": 1, "key2": 1}}),
        json!({"simpleMap": {"$patch": "delete"}}),
        json!({"simpleMap": {}}),
    );
    check(json!({"name": 1, "value": 1}), json!({"$patch": "replace"}), json!({}));
    check(json!({"name": 1, "value": 1}), json!({"other": "a", "$patch": "replace"}), json!({"other": "a"}));
    check(json!({"a": {"x": 1}}), json!({"a": {"y": 2, "$patch": "merge"}}), json!({"a": {"x": 1, "y": 2}}));
    check_err(json!({}), json!({"$patch": "bogus"}), "unknown patch type: bogus in map");
    check(
        json!({"replacingItem": {"a": 1, "b": 2}}),
        json!({"replacingItem": {"c": 3}}),
        json!({"replacingItem": {"c": 3}}),
    );
}

#[test]
fn lists_without_strategy_are_replaced() {
    check(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"nonMergingIntList": [2, 3]}),
        json!({"nonMergingIntList": [2, 3]}),
    );
    check(
        json!({"nonMergingList": [{"name": 1}, {"name": 2}]}),
        json!({"nonMergingList": [{"name": 3, "$patch": "delete"}]}),
        json!({"nonMergingList": [{"name": 3}]}),
    );
}

#[test]
fn merging_lists_of_maps() {
    check(
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({"mergingList": [{"name": 2, "value": 3}]}),
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]}),
    );
    check(
        json!({"mergingList": [{"name": 1}, {"name": 2}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
        json!({"mergingList": []}),
    );
    check(
        json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
        json!({"mergingList": [{"name": 2, "value": "a"}]}),
    );
    check(
        json!({"mergingList": [{"name": 1}, {"name": 2}]}),
        json!({"mergingList": [{"$patch": "replace"}]}),
        json!({"mergingList": []}),
    );
    check(json!({"mergingList": []}), json!({"mergingList": []}), json!({"mergingList": []}));
    check(
        json!({"mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"name": 2}, {"$patch": "replace"}]}),
        json!({"mergingList": [{"name": 2}]}),
    );
    check(
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": "x", "v": 1}]}]}),
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": "y"}]}]}),
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": "y"}, {"name": "x", "v": 1}]}]}),
    );
    check_err(
        json!({"mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"value": "b"}]}),
        "does not contain declared merge key",
    );
    check_err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": 1, "$patch": "merge"}]}),
        "merging lists cannot yet be specified",
    );
    check_err(json!({"mergingList": [{"name": 1}]}), json!({"mergingList": [[1]]}), "lists of lists");
}

#[test]
fn order_of_merged_lists() {
    // Patch order wins for patched items; server-only items keep their place.
    check(
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]}),
    );
    check(
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
        json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
    );
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"mergingIntList": [3, 1, 2]}),
        json!({"mergingIntList": [3, 1, 2]}),
    );
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"mergingIntList": [3, 1]}),
        json!({"mergingIntList": [2, 3, 1]}),
    );
    // New items come first without $setElementOrder, as upstream.
    check(
        json!({"mergingList": [{"name": "a"}]}),
        json!({"mergingList": [{"name": "b"}]}),
        json!({"mergingList": [{"name": "b"}, {"name": "a"}]}),
    );
}

#[test]
fn primitive_lists() {
    check(json!({"mergingIntList": [1, 2]}), json!({"mergingIntList": [2, 3]}), json!({"mergingIntList": [1, 2, 3]}));
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
        json!({"mergingIntList": [1, 3]}),
    );
    check(
        json!({"mergingIntList": [1, 2]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2]}),
    );
    check(
        json!({"mergingIntList": null}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": null}),
    );
    check(json!({"foo": ["bar"]}), json!({"$deleteFromPrimitiveList/mergingIntList": [3]}), json!({"foo": ["bar"]}));
    check(
        json!({"nonMergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
        json!({"nonMergingIntList": [1, 3]}),
    );
    check(
        json!({"mergingIntList": [1, 2, 3, 3, 4]}),
        json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
        json!({"mergingIntList": [1, 2, 4]}),
    );
    check_err(json!({}), json!({"$deleteFromPrimitiveList/x": 3}), "invalid patch format of primitive list");
    check_err(json!({}), json!({"$deleteFromPrimitiveListx": [3]}), "invalid patch format of primitive list");
}

#[test]
fn set_element_order() {
    check(
        json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]
        }),
        json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
    );
    check(
        json!({"mergingList": [{"name": 1}, {"name": 3}]}),
        json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
    );
    check(
        json!({"mergingIntList": [1, 3]}),
        json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
        json!({"mergingIntList": [3, 1]}),
    );
    check(
        json!({"name": "hi", "mergingList": [{"name": "hello2"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "hello"}, {"name": "doesntexist"}], "mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
        json!({"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]}),
    );
    check_err(
        json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
        json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        "doesn't match",
    );
    check_err(
        json!({"mergingIntList": [1, 3, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
        "doesn't match",
    );
}

#[test]
fn new_fields_have_directives_processed() {
    check(
        json!({"name": "hi"}),
        json!({"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
        json!({"name": "hi", "mergingList": [{"name": "hello"}]}),
    );
    check(json!({}), json!({"simpleMap": {"a": null, "b": 1}}), json!({"simpleMap": {"b": 1}}));
}

#[test]
fn retain_keys() {
    check(
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"value": "bar"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
    );
    check(
        json!({"retainKeysMap": {"name": "foo", "value": "a", "other": "b"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "c"}}),
        json!({"retainKeysMap": {"name": "foo", "value": "c"}}),
    );
    check_err(
        json!({"retainKeysMap": {}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "c"}}),
        "retainKeys",
    );
    check_err(json!({"retainKeysMap": {}}), json!({"retainKeysMap": {"$retainKeys": "name"}}), "retainKeys");
}

#[test]
fn pod_patches_like_kubectl() {
    let meta = builtin_patch_meta("v1", "Pod").expect("pod");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "a"}, "finalizers": ["x"]},
        "spec": {"containers": [
            {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80, "name": "http"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "side", "image": "busybox"}
        ], "tolerations": [{"key": "a"}]}
    });
    let patch = json!({
        "metadata": {"labels": {"tier": "web"}, "finalizers": ["y"]},
        "spec": {"containers": [{"name": "app", "image": "nginx:2",
            "ports": [{"containerPort": 443}],
            "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]}],
            "tolerations": [{"key": "b"}]}
    });
    let got = apply(&pod, &patch, &meta).expect("applies");
    assert_eq!(got["metadata"]["labels"], json!({"app": "a", "tier": "web"}));
    // Upstream puts items unknown to the server list first.
    assert_eq!(got["metadata"]["finalizers"], json!(["y", "x"]));
    assert_eq!(got["spec"]["tolerations"], json!([{"key": "b"}]));
    let app = &got["spec"]["containers"][0];
    assert_eq!(app["image"], "nginx:2");
    assert_eq!(app["ports"], json!([{"containerPort": 443}, {"containerPort": 80, "name": "http"}]));
    assert_eq!(app["env"], json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}]));
    assert_eq!(got["spec"]["containers"][1], json!({"name": "side", "image": "busybox"}));
}

#[test]
fn rejects_non_objects() {
    assert_eq!(apply(&json!({}), &json!([]), &NoPatchMeta), Err(StrategicMergeError::BadJsonDoc));
    assert!(StrategicMergeError::BadJsonDoc.is_bad_request());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0..4i32).prop_map(Value::from),
        prop_oneof![Just("name"), Just("a"), Just("delete"), Just("replace"), Just("$patch")].prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("mergingList".to_string()),
                    Just("mergingIntList".to_string()),
                    Just("$patch".to_string()),
                    Just("$retainKeys".to_string()),
                    Just("$setElementOrder/mergingList".to_string()),
                    Just("$deleteFromPrimitiveList/mergingIntList".to_string()),
                    Just("replacingItem".to_string()),
                    "[a-c]".prop_map(String::from),
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object of plain values (generated as one, not filtered: most plain values are not).
fn arb_plain_object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map("[a-d]", arb_plain(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn arb_plain() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (0..4i32).prop_map(Value::from),
        "[a-c]".prop_map(Value::from)
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn has_directive(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            k == "$patch"
                || k == "$retainKeys"
                || k.starts_with("$setElementOrder/")
                || k.starts_with("$deleteFromPrimitiveList/")
                || has_directive(v)
        }),
        Value::Array(a) => a.iter().any(has_directive),
        _ => false,
    }
}

proptest! {
    #[test]
    fn results_carry_no_directives(original in arb_json(), patch in arb_json()) {
        prop_assume!(!has_directive(&original));
        if let Ok(got) = apply(&original, &patch, &merge_item_meta) {
            prop_assert!(!has_directive(&got), "{}", got);
        }
    }

    #[test]
    fn never_panics(original in arb_json(), patch in arb_json()) {
        let _ = apply(&original, &patch, &merge_item_meta);
        let _ = apply(&original, &patch, &NoPatchMeta);
    }

    #[test]
    fn without_strategies_it_is_a_merge_patch(original in arb_plain_object(), patch in arb_plain_object()) {
        let got = apply(&original, &patch, &NoPatchMeta).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut want = original.clone();
        crate::merge::apply_merge_patch(&mut want, &patch);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn merging_a_list_with_itself_is_identity(names in proptest::collection::btree_set("[a-e]", 0..5)) {
        let list: Vec<Value> = names.iter().map(|n| json!({"name": n, "v": 1})).collect();
        let doc = json!({"mergingList": list});
        let got = apply(&doc, &doc, &merge_item_meta).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, doc);
    }
}
