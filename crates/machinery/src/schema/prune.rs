//! Pruning of unknown fields, as upstream's structural pruning algorithm: fields not declared
//! by `properties` or `additionalProperties` are dropped unless the node preserves unknown
//! fields; `apiVersion`, `kind` and `metadata` are kept at the root and in embedded
//! resources.

use serde_json::Value;

use super::keywords::Schema;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Removes unknown fields from `obj` (the whole resource) in place and returns their paths,
/// sorted (`spec.foo`, `spec.items[0].bar`), for `unknown field "..."` messages.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if super::too_deep(schema, obj) {
        return pruned;
    }
    walk(obj, Some(Schema(schema)), true, &mut String::new(), &mut pruned);
    pruned.sort();
    pruned
}

fn append_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn record(path: &str, key: &str, pruned: &mut Vec<String>) {
    let mut p = path.to_string();
    append_key(&mut p, key);
    pruned.push(p);
}

fn walk(x: &mut Value, s: Option<Schema<'_>>, root: bool, path: &mut String, pruned: &mut Vec<String>) {
    let embedded = root || s.is_some_and(Schema::embedded);
    if let Some(s) = s.filter(|s| s.preserves_unknown()) {
        return skip(x, s, embedded, path, pruned);
    }
    let len = path.len();
    match x {
        Value::Object(map) => {
            let Some(s) = s else {
                for k in map.keys() {
                    record(path, k, pruned);
                }
                map.clear();
                return;
            };
            map.retain(|k, v| {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    return true;
                }
                let sub = s.property(k).or_else(|| s.additional());
                match sub {
                    Some(sub) => {
                        append_key(path, k);
                        walk(v, Some(sub), false, path, pruned);
                        path.truncate(len);
                        true
                    }
                    None => {
                        if !META_FIELDS.contains(&k.as_str()) || !path.is_empty() {
                            record(path, k, pruned);
                        }
                        false
                    }
                }
            });
        }
        Value::Array(items) => {
            let item_schema = s.and_then(Schema::items);
            for (i, v) in items.iter_mut().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(v, item_schema, false, path, pruned);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// A node preserving unknown fields: keep everything, but still prune below declared
/// properties.
fn skip(x: &mut Value, s: Schema<'_>, embedded: bool, path: &mut String, pruned: &mut Vec<String>) {
    let len = path.len();
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if embedded && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(sub) = s.property(k).or_else(|| s.additional()) {
                    append_key(path, k);
                    walk(v, Some(sub), false, path, pruned);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items() {
                for (i, v) in items.iter_mut().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    // As upstream: items of a preserving list are themselves only skip-pruned.
                    skip(v, item_schema, item_schema.embedded(), path, pruned);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}
