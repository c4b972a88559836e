//! The two standard PATCH formats and a guard against hostile nesting:
//! RFC 7386 JSON merge patch (`application/merge-patch+json`), RFC 6902 JSON patch
//! (`application/json-patch+json`, via the `json-patch` crate), the inverse of merge patch
//! ([`create_merge_patch`]) and [`check_depth`].
//!
//! Error texts follow what kubectl users see from upstream's `evanphx/json-patch`
//! (`jsonpatch remove operation does not apply: doc is missing path: /x`).

use serde_json::{Map, Value};

/// Upstream's cap on the operations of one JSON patch (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Errors from applying a JSON patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPatchError {
    /// The patch document is not a list of valid operations (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// More operations than [`MAX_JSON_PATCH_OPERATIONS`] (HTTP 413).
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit.
        max: usize,
        /// Operations in the patch.
        got: usize,
    },
    /// A `test` operation found a different value (HTTP 422).
    #[error("testing value {path} failed: test failed")]
    TestFailed {
        /// The tested pointer.
        path: String,
    },
    /// An operation's `path` (or `from`) does not exist in the document (HTTP 422).
    #[error("jsonpatch {op} operation does not apply: doc is missing path: {path}")]
    MissingPath {
        /// The operation name (`add`, `remove`, ...).
        op: &'static str,
        /// The missing pointer.
        path: String,
    },
    /// A `move` into its own child (HTTP 422).
    #[error("jsonpatch move operation does not apply: cannot move {from} into its own child {path}")]
    MoveIntoChild {
        /// Source pointer.
        from: String,
        /// Destination pointer.
        path: String,
    },
}

/// The document is nested deeper than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the object is nested deeper than the maximum of {max} levels")]
pub struct DepthError {
    /// The limit that was exceeded.
    pub max: usize,
}

/// Fails when `value` has objects/arrays nested more than `max` levels (a scalar is depth 0,
/// `{}` and `[]` are depth 1). Iterative, so it is safe on any input.
pub fn check_depth(value: &Value, max: usize) -> Result<(), DepthError> {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        let depth = depth + 1;
        if depth > max {
            return Err(DepthError { max });
        }
        stack.extend(children.map(|c| (c, depth)));
    }
    Ok(())
}

/// Applies an RFC 7386 merge patch in place: objects merge recursively, `null` deletes, any
/// other value (including arrays) replaces.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// The merge patch that turns `original` into `modified` (removed keys become `null`,
/// changed arrays and scalars are replaced whole). Nulls inside `modified` cannot be
/// expressed and come out as deletions.
pub fn create_merge_patch(original: &Value, modified: &Value) -> Value {
    match (original, modified) {
        (Value::Object(o), Value::Object(m)) => {
            let mut patch = Map::new();
            for (k, ov) in o {
                match m.get(k) {
                    None => {
                        patch.insert(k.clone(), Value::Null);
                    }
                    Some(mv) if mv != ov => {
                        let sub =
                            if ov.is_object() && mv.is_object() { create_merge_patch(ov, mv) } else { mv.clone() };
                        patch.insert(k.clone(), sub);
                    }
                    Some(_) => {}
                }
            }
            for (k, mv) in m {
                if !o.contains_key(k) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
            Value::Object(patch)
        }
        _ => modified.clone(),
    }
}

/// Parses and applies an RFC 6902 JSON patch to `target` (left untouched on error).
pub fn apply_json_patch(target: &mut Value, patch: &Value) -> Result<(), JsonPatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        JsonPatchError::Malformed("json: cannot unmarshal object into Go value of type jsonpatch.Patch".into())
    })?;
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(JsonPatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    let parsed: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| JsonPatchError::Malformed(format!("invalid JSON patch: {e}")))?;
    // Work on a copy so a failed patch leaves `target` untouched without relying on undo.
    let mut work = target.clone();
    json_patch::patch_unsafe(&mut work, &parsed.0).map_err(|e| map_error(&parsed, e))?;
    *target = work;
    Ok(())
}

fn map_error(patch: &json_patch::Patch, e: json_patch::PatchError) -> JsonPatchError {
    use json_patch::{PatchErrorKind, PatchOperation as Op};
    let op = patch.0.get(e.operation);
    let path = e.path.to_string();
    let (name, from) = match op {
        Some(Op::Add(_)) => ("add", None),
        Some(Op::Remove(_)) => ("remove", None),
        Some(Op::Replace(_)) => ("replace", None),
        Some(Op::Move(m)) => ("move", Some(m.from.to_string())),
        Some(Op::Copy(c)) => ("copy", Some(c.from.to_string())),
        Some(Op::Test(_)) | None => ("test", None),
    };
    match e.kind {
        PatchErrorKind::TestFailed => JsonPatchError::TestFailed { path },
        PatchErrorKind::InvalidFromPointer => JsonPatchError::MissingPath { op: name, path: from.unwrap_or(path) },
        PatchErrorKind::CannotMoveInsideItself => {
            JsonPatchError::MoveIntoChild { from: from.unwrap_or_default(), path }
        }
        _ => JsonPatchError::MissingPath { op: name, path },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn merge_patch_semantics() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "k": "v"});
        apply_merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3], "k": null}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
        apply_merge_patch(&mut doc, &json!([1]));
        assert_eq!(doc, json!([1]));
    }

    #[test]
    fn json_patch_ops_and_errors() {
        let mut doc = json!({"metadata": {"name": "a"}, "spec": {"replicas": 1}});
        apply_json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/name", "value": "a"},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/spec/paused", "value": true}
            ]),
        )
        .expect("applies");
        assert_eq!(doc["spec"], json!({"replicas": 3, "paused": true}));

        let err = apply_json_patch(&mut doc, &json!([{"op": "test", "path": "/metadata/name", "value": "b"}]))
            .expect_err("test fails");
        assert_eq!(err.to_string(), "testing value /metadata/name failed: test failed");
        let err = apply_json_patch(&mut doc, &json!([{"op": "remove", "path": "/spec/nope"}])).expect_err("missing");
        assert_eq!(err.to_string(), "jsonpatch remove operation does not apply: doc is missing path: /spec/nope");
        let err = apply_json_patch(&mut doc, &json!([{"op": "bogus", "path": "/x"}])).expect_err("bogus");
        assert!(matches!(err, JsonPatchError::Malformed(_)));
        let err = apply_json_patch(&mut doc, &json!({"op": "add"})).expect_err("not a list");
        assert!(matches!(err, JsonPatchError::Malformed(_)));
        let before = doc.clone();
        let _ = apply_json_patch(
            &mut doc,
            &json!([{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/nope"}]),
        );
        assert_eq!(doc, before, "failed patch leaves the document untouched");
    }

    #[test]
    fn depth_check() {
        let mut v = json!(1);
        for _ in 0..10 {
            v = json!({"a": [v]});
        }
        assert!(check_depth(&v, 20).is_ok());
        assert_eq!(check_depth(&v, 19), Err(DepthError { max: 19 }));
        assert!(check_depth(&json!(1), 0).is_ok());
        assert!(check_depth(&json!({}), 0).is_err());
    }

    fn arb_json(null_in_objects: bool) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-c]{1,2}", inner, 0..4).prop_map(move |m| {
                    Value::Object(m.into_iter().filter(|(_, v)| null_in_objects || !v.is_null()).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn merge_patch_of_diff_reproduces_target(a in arb_json(false), b in arb_json(false)) {
            let patch = create_merge_patch(&a, &b);
            let mut doc = a.clone();
            apply_merge_patch(&mut doc, &patch);
            prop_assert_eq!(doc, b);
        }

        #[test]
        fn json_patch_never_panics(doc in arb_json(true), path in "(/[a-c0-9~-]{0,2}){0,3}", op in 0..6usize, v in arb_json(true)) {
            let names = ["add", "remove", "replace", "move", "copy", "test"];
            let patch = json!([{"op": names[op], "path": path, "from": "/a", "value": v}]);
            let mut d = doc.clone();
            let _ = apply_json_patch(&mut d, &patch);
        }

        #[test]
        fn merge_patch_never_panics(mut doc in arb_json(true), patch in arb_json(true)) {
            apply_merge_patch(&mut doc, &patch);
        }
    }
}
