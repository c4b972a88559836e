//! Reading the fields RBAC needs out of `serde_json::Value` objects, with errors that name the
//! field (`rules[2].verbs[0]`).
//!
//! Owns JSON access only; the objects come from the store already validated, so these checks
//! only guard against shapes that could not be authorized at all.

use std::collections::BTreeMap;

use serde_json::Value;

/// A field of an RBAC object with the wrong JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The field path, `rules[0].verbs`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError { field: field.into(), problem: problem.into() }
    }

    /// The same error one level down, under `parent`.
    pub(crate) fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// `obj[key]` as a string; missing or null is `""`.
pub(crate) fn string(obj: &Value, key: &str) -> Result<String, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(key, "must be a string")),
    }
}

/// `obj[key]` as a list of strings; missing or null is empty.
pub(crate) fn strings(obj: &Value, key: &str) -> Result<Vec<String>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(FieldError::new(format!("{key}[{i}]"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(FieldError::new(key, "must be a list of strings")),
    }
}

/// `obj[key]` as a list of values; missing or null is empty.
pub(crate) fn list<'a>(obj: &'a Value, key: &str) -> Result<&'a [Value], FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(FieldError::new(key, "must be a list")),
    }
}

/// `obj[key]` as a string-to-string map; missing or null is empty.
pub(crate) fn string_map(obj: &Value, key: &str) -> Result<BTreeMap<String, String>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(FieldError::new(format!("{key}.{k}"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(FieldError::new(key, "must be a map of strings")),
    }
}

/// `obj[key]` as an object, `None` when missing or null.
pub(crate) fn object<'a>(obj: &'a Value, key: &str) -> Result<Option<&'a Value>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(FieldError::new(key, "must be an object")),
    }
}
