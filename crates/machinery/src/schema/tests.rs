//! Table tests for validation (messages as the apiextensions-apiserver prints them),
//! pruning and defaulting, plus property tests.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["x"],
                "properties": {
                    "x": {"type": "string"},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "format": "int32"},
                    "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1, "multipleOf": 0.25},
                    "color": {"type": "string", "enum": ["red", "blue"]},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                    "when": {"type": "string", "format": "date-time"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "opt": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "minItems": 1,
                             "x-kubernetes-list-type": "set"},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "properties": {
                                  "port": {"type": "integer"},
                                  "protocol": {"type": "string", "default": "TCP"}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "x-kubernetes-preserve-unknown-fields": true},
                    "choice": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                               "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
                }
            }
        }
    })
}

fn errors(spec: Value) -> Vec<String> {
    validate(&schema(), &json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec}))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn valid_objects_pass() {
    assert_eq!(
        errors(json!({"x": "a", "replicas": 3, "ratio": 0.5, "color": "red", "name": "abc",
        "when": "2024-01-01T00:00:00Z", "port": "http", "opt": null, "tags": ["a"],
        "ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}], "labels": {"a": "b"},
        "free": {"anything": [1, {"x": 2}]}, "template": {"apiVersion": "v1", "kind": "Pod", "spec": {}},
        "choice": {"a": "1"}})),
        Vec::<String>::new()
    );
    assert_eq!(errors(json!({"x": "a", "replicas": 3.0, "port": 8080})), Vec::<String>::new());
}

#[test]
fn messages_match_upstream() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"x": "a", "replicas": "3"}),
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        ),
        (json!({}), "spec.x: Required value"),
        (
            json!({"x": "a", "color": "pink"}),
            r#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#,
        ),
        (
            json!({"x": "a", "replicas": 11}),
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        ),
        (
            json!({"x": "a", "replicas": -1}),
            "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            json!({"x": "a", "replicas": 1.5}),
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#,
        ),
        (json!({"x": "a", "ratio": 1}), "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"),
        (
            json!({"x": "a", "ratio": 0.3}),
            "spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.25",
        ),
        (json!({"x": "a", "name": "toolong"}), "spec.name: Too long: may not be more than 5 bytes"),
        (
            json!({"x": "a", "name": "a"}),
            r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#,
        ),
        (
            json!({"x": "a", "name": "AB"}),
            r#"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"#,
        ),
        (
            json!({"x": "a", "when": "soon"}),
            r#"spec.when: Invalid value: "soon": spec.when in body must be of type date-time: "soon""#,
        ),
        (
            json!({"x": "a", "port": true}),
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
        ),
        (json!({"x": null}), r#"spec.x: Invalid value: "null": spec.x in body must be of type string: "null""#),
        (json!({"x": "a", "tags": ["a", "b", "c"]}), "spec.tags: Too many: 3: must have at most 2 items"),
        (json!({"x": "a", "tags": []}), "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"),
        (json!({"x": "a", "tags": ["a", "a"]}), r#"spec.tags[1]: Duplicate value: "a""#),
        (
            json!({"x": "a", "ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]}),
            r#"spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}"#,
        ),
        (
            json!({"x": "a", "labels": {"a": 1}}),
            r#"spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#,
        ),
        (
            json!({"x": "a", "labels": {"a": "1", "b": "2", "c": "3"}}),
            "spec.labels: Too many: 3: must have at most 2 items",
        ),
        (json!({"x": "a", "template": {"kind": "Pod"}}), "spec.template.apiVersion: Required value: must not be empty"),
        (
            json!({"x": "a", "choice": {}}),
            r#"<nil>: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found none valid"#,
        ),
        (
            json!({"x": "a", "choice": {"a": "1", "b": "2"}}),
            r#"<nil>: Invalid value: "": "spec.choice" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
        ),
        (
            json!({"x": "a", "free": {"known": {"a": 1}}}),
            r#"spec.free.known.a: Invalid value: "integer": spec.free.known.a in body must be of type string: "integer""#,
        ),
    ];
    for (spec, want) in cases {
        let got = errors(spec.clone());
        assert!(got.iter().any(|e| e == want), "spec {spec}\nwant {want}\ngot  {got:#?}");
    }
    let root = validate(&json!({"type": "object"}), &json!([1]));
    assert_eq!(root[0].to_string(), r#"<nil>: Invalid value: "array":  in body must be of type object: "array""#);
}

#[test]
fn composition_keywords() {
    let s = json!({"anyOf": [{"type": "string"}, {"type": "integer"}], "not": {"enum": [0]}});
    assert!(validate(&s, &json!("a")).is_empty());
    assert!(validate(&s, &json!(1)).is_empty());
    let e: Vec<String> = validate(&s, &json!(true)).iter().map(ToString::to_string).collect();
    assert!(
        e.contains(&r#"<nil>: Invalid value: "": "" must validate at least one schema (anyOf)"#.to_string()),
        "{e:?}"
    );
    let e: Vec<String> = validate(&s, &json!(0)).iter().map(ToString::to_string).collect();
    assert_eq!(e, vec![r#"<nil>: Invalid value: "": "" must not validate the schema (not)"#]);
    let s = json!({"allOf": [{"minimum": 1}, {"maximum": 3}]});
    assert!(validate(&s, &json!(2)).is_empty());
    assert_eq!(validate(&s, &json!(5)).len(), 2);
    let s = json!({"type": "object", "additionalProperties": false, "properties": {"a": {}}});
    let e: Vec<String> = validate(&s, &json!({"a": 1, "b": 2})).iter().map(ToString::to_string).collect();
    assert_eq!(e, vec![r#"<nil>: Invalid value: "b": .b in body is a forbidden property"#]);
}

#[test]
fn pruning() {
    let mut obj = json!({
        "apiVersion": "v1", "kind": "K", "metadata": {"name": "n", "extra": 1}, "status": {"a": 1},
        "spec": {"x": "a", "foo": 1, "labels": {"k": "v"}, "free": {"anything": 1, "known": {"a": "x", "b": 2}},
                 "ports": [{"port": 1, "junk": true}], "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"z": 1}, "spec": {}}}
    });
    let pruned = prune(&schema(), &mut obj);
    assert_eq!(pruned, vec!["spec.foo", "spec.free.known.b", "spec.ports[0].junk", "status"]);
    assert_eq!(obj["metadata"], json!({"name": "n", "extra": 1}));
    assert_eq!(obj["spec"]["free"], json!({"anything": 1, "known": {"a": "x"}}));
    assert_eq!(obj["spec"]["template"]["metadata"], json!({"z": 1}));
    assert!(obj.get("status").is_none());
    assert_eq!(unknown_field_message("spec.foo"), r#"unknown field "spec.foo""#);

    let mut free = json!({"a": {"b": 1}});
    assert!(prune(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), &mut free).is_empty());
    assert_eq!(free, json!({"a": {"b": 1}}));
}

#[test]
fn defaulting() {
    let s = json!({"type": "object", "properties": {
        "spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "auto"},
            "opt": {"type": "string", "nullable": true, "default": "x"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"p": {"type": "string", "default": "TCP"}}}}
        }}
    }});
    let mut obj = json!({});
    apply_defaults(&s, &mut obj);
    assert_eq!(obj, json!({"spec": {"replicas": 1, "mode": "auto", "opt": "x"}}));
    let mut obj = json!({"spec": {"replicas": 3, "mode": null, "opt": null, "items": [{}, {"p": "UDP"}]}});
    apply_defaults(&s, &mut obj);
    assert_eq!(
        obj,
        json!({"spec": {"replicas": 3, "mode": "auto", "opt": null, "items": [{"p": "TCP"}, {"p": "UDP"}]}})
    );
}

#[test]
fn hostile_depth_is_rejected_not_overflowed() {
    let mut deep = json!(1);
    for _ in 0..3_000 {
        deep = Value::Array(vec![deep]);
    }
    let errs = validate(&json!({"type": "array"}), &deep);
    assert_eq!(errs.len(), 1);
    assert!(prune(&json!({}), &mut deep).is_empty());
    apply_defaults(&json!({}), &mut deep);
    // Dropping a very deep Value recurses inside serde_json; leak it instead.
    std::mem::forget(deep);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9:.-]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("spec".to_string()),
                    Just("x".to_string()),
                    Just("ports".to_string()),
                    Just("tags".to_string()),
                    Just("choice".to_string()),
                    Just("port".to_string()),
                    "[a-c]".prop_map(String::from)
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_and_prune_is_idempotent(obj in arb_json()) {
        let s = schema();
        let _ = validate(&s, &obj);
        let mut once = obj.clone();
        let _ = prune(&s, &mut once);
        let mut twice = once.clone();
        prop_assert!(prune(&s, &mut twice).is_empty());
        prop_assert_eq!(once, twice);
        let mut d = obj.clone();
        apply_defaults(&s, &mut d);
    }

    #[test]
    fn arbitrary_schemas_never_panic(s in arb_json(), obj in arb_json()) {
        let _ = validate(&s, &obj);
        let mut o = obj.clone();
        let _ = prune(&s, &mut o);
        apply_defaults(&s, &mut o);
    }
}
