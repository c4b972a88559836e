//! Typed access to the schema keywords the validator, pruner and defaulter read.

use serde_json::{Map, Value};

/// A view of one schema node (a JSON object; anything else reads as the empty schema).
#[derive(Clone, Copy)]
pub(super) struct Schema<'s>(pub(super) &'s Value);

impl<'s> Schema<'s> {
    pub(super) fn get(self, key: &str) -> Option<&'s Value> {
        self.0.get(key)
    }

    pub(super) fn flag(self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub(super) fn str(self, key: &str) -> Option<&'s str> {
        self.get(key).and_then(Value::as_str)
    }

    pub(super) fn f64(self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub(super) fn usize(self, key: &str) -> Option<usize> {
        self.get(key).and_then(Value::as_u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn properties(self) -> Option<&'s Map<String, Value>> {
        self.get("properties").and_then(Value::as_object)
    }

    pub(super) fn property(self, name: &str) -> Option<Schema<'s>> {
        self.properties().and_then(|p| p.get(name)).map(Schema)
    }

    /// `additionalProperties` as a schema (`true` reads as the empty schema).
    pub(super) fn additional(self) -> Option<Schema<'s>> {
        match self.get("additionalProperties")? {
            v @ Value::Object(_) => Some(Schema(v)),
            Value::Bool(true) => Some(Schema(&EMPTY)),
            _ => None,
        }
    }

    /// `additionalProperties: false`.
    pub(super) fn forbids_additional(self) -> bool {
        self.get("additionalProperties") == Some(&Value::Bool(false))
    }

    pub(super) fn items(self) -> Option<Schema<'s>> {
        match self.get("items")? {
            v @ Value::Object(_) => Some(Schema(v)),
            _ => None,
        }
    }

    pub(super) fn list(self, key: &str) -> &'s [Value] {
        self.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    pub(super) fn nullable(self) -> bool {
        self.flag("nullable")
    }

    pub(super) fn preserves_unknown(self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
    }

    pub(super) fn embedded(self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    /// The allowed JSON types (`x-kubernetes-int-or-string` means integer or string).
    pub(super) fn types(self) -> Vec<&'s str> {
        if self.flag("x-kubernetes-int-or-string") {
            return vec!["integer", "string"];
        }
        match self.get("type") {
            Some(Value::String(t)) if !t.is_empty() => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

static EMPTY: Value = Value::Null;

/// Joins a parent path and a property name the way kube-openapi does.
pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// The field of an error about the node at `path` (`<nil>` at the root, as upstream).
pub(super) fn field(path: &str) -> String {
    if path.is_empty() { "<nil>".to_string() } else { path.to_string() }
}
