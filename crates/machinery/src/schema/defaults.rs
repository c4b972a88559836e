//! Structural defaulting, as upstream: a property with a `default` is set when absent (or
//! `null` where the property is not nullable), recursively, including inside new defaults.

use serde_json::Value;

use super::keywords::Schema;

/// Applies `default` values from `schema` to `obj` in place.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    if super::too_deep(schema, obj) {
        return;
    }
    walk(obj, Schema(schema));
}

fn non_nullable_null(x: &Value, s: Schema<'_>) -> bool {
    x.is_null() && !s.nullable() && s.get("default").is_some()
}

fn walk(x: &mut Value, s: Schema<'_>) {
    match x {
        Value::Object(map) => {
            for (k, prop) in s.properties().into_iter().flatten() {
                let Some(default) = prop.get("default") else { continue };
                match map.get(k) {
                    None => {
                        map.insert(k.clone(), default.clone());
                    }
                    Some(v) if non_nullable_null(v, Schema(prop)) => {
                        map.insert(k.clone(), default.clone());
                    }
                    Some(_) => {}
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = s.property(k) {
                    walk(v, prop);
                } else if let Some(additional) = s.additional() {
                    if non_nullable_null(v, additional)
                        && let Some(d) = additional.get("default")
                    {
                        *v = d.clone();
                    }
                    walk(v, additional);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.items() else { return };
            for v in items.iter_mut() {
                if non_nullable_null(v, item_schema)
                    && let Some(d) = item_schema.get("default")
                {
                    *v = d.clone();
                }
                walk(v, item_schema);
            }
        }
        _ => {}
    }
}
