//! Kubernetes list and object extensions: `x-kubernetes-list-type: set|map` uniqueness (with
//! `x-kubernetes-list-map-keys`) and the `x-kubernetes-embedded-resource` requirements.

use serde_json::{Map, Value};

use super::keywords::{Schema, child};
use crate::field_error::FieldError;

/// Duplicate checks for `set` and `map` lists (`spec.items[1]: Duplicate value: ...`).
pub(super) fn check(s: Schema<'_>, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    match s.str("x-kubernetes-list-type") {
        Some("set") => {
            for (i, v) in items.iter().enumerate() {
                if items[..i].contains(v) {
                    errs.push(FieldError::duplicate(format!("{path}[{i}]"), v.clone()));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = s.list("x-kubernetes-list-map-keys").iter().filter_map(Value::as_str).collect();
            let item_schema = s.items();
            let mut seen: Vec<Map<String, Value>> = Vec::new();
            for (i, v) in items.iter().enumerate() {
                let Value::Object(obj) = v else { continue };
                let key: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| {
                        let val = obj.get(*k).cloned().or_else(|| {
                            item_schema.and_then(|is| is.property(k)).and_then(|p| p.get("default")).cloned()
                        })?;
                        Some(((*k).to_string(), val))
                    })
                    .collect();
                if seen.contains(&key) {
                    errs.push(FieldError::duplicate(format!("{path}[{i}]"), Value::Object(key)));
                } else {
                    seen.push(key);
                }
            }
        }
        _ => {}
    }
}

/// An embedded resource must carry non-empty string `apiVersion` and `kind`, and an object
/// `metadata` if any.
pub(super) fn embedded_resource(obj: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    for key in ["apiVersion", "kind"] {
        let p = child(path, key);
        match obj.get(key) {
            None | Some(Value::Null) => errs.push(FieldError::required(p, "must not be empty")),
            Some(Value::String(s)) if s.is_empty() => errs.push(FieldError::required(p, "must not be empty")),
            Some(Value::String(_)) => {}
            Some(other) => errs.push(FieldError::invalid(p, other.clone(), "must be a string")),
        }
    }
    if let Some(m) = obj.get("metadata")
        && !m.is_object()
        && !m.is_null()
    {
        errs.push(FieldError::invalid(child(path, "metadata"), m.clone(), "must be an object"));
    }
}
