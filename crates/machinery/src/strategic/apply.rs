//! Merging maps: directives on the map itself (`$patch`, `$retainKeys`,
//! `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) and per-key recursion.

use serde_json::{Map, Value};

use super::list::{self, Ctx};
use super::{PatchMeta, PatchStrategy, StrategicMergeError as E};

pub(super) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PREFIX: &str = "$deleteFromPrimitiveList";
const ORDER_PREFIX: &str = "$setElementOrder";

/// `"<prefix>/<key>"` -> `key`; malformed directives are errors.
fn directive_key<'a>(k: &'a str, prefix: &str, err: E) -> Result<Option<&'a str>, E> {
    if !k.starts_with(prefix) {
        return Ok(None);
    }
    match k.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(Some(rest)),
        _ => Err(err),
    }
}

/// Merges `patch` into `original` (the map at `path`).
pub(super) fn merge_map<'p>(
    original: Map<String, Value>,
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Map<String, Value>, E> {
    merge_map_with(original, patch, path, meta, true)
}

/// [`merge_map`], optionally ignoring a `$patch` directive on the map itself.
pub(super) fn merge_map_with<'p>(
    mut original: Map<String, Value>,
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
    honor_directive: bool,
) -> Result<Map<String, Value>, E> {
    if let Some(d) = patch.get(DIRECTIVE).filter(|_| honor_directive) {
        match d.as_str() {
            Some("replace") => {
                // Upstream returns the rest of the patch verbatim; process nested directives.
                return merge_map_with(Map::new(), patch, path, meta, false);
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {}
            _ => {
                return Err(E::BadPatchType {
                    directive: d.as_str().map_or_else(|| d.to_string(), str::to_string),
                    map: Value::Object(patch.clone()).to_string(),
                });
            }
        }
    }
    apply_retain_keys(&mut original, patch)?;
    let mut handled: Vec<&str> = Vec::new();
    for (k, order) in patch {
        let Some(field) = directive_key(k, ORDER_PREFIX, E::BadSetElementOrder)? else { continue };
        handled.push(field);
        path.push(field);
        let merged = list::apply_element_order(original.get(field), patch.get(field), order, &mut Ctx { path, meta });
        path.pop();
        if let Some(v) = merged? {
            original.insert(field.to_string(), v);
        }
    }
    for (k, pv) in patch {
        if k == DIRECTIVE || k == RETAIN_KEYS || k.starts_with(ORDER_PREFIX) || handled.contains(&k.as_str()) {
            continue;
        }
        if let Some(field) = directive_key(k, DELETE_PREFIX, E::BadPrimitiveList)? {
            let Value::Array(remove) = pv else { return Err(E::BadPrimitiveList) };
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|v| !remove.iter().any(|r| list::scalar_eq(r, v)));
            }
            continue;
        }
        if pv.is_null() {
            original.remove(k);
            continue;
        }
        path.push(k);
        let merged = match original.remove(k) {
            Some(ov) => merge_value(ov, pv, path, meta),
            None => clean(pv, path, meta),
        };
        path.pop();
        original.insert(k.clone(), merged?);
    }
    Ok(original)
}

/// `$retainKeys`: drop original keys not listed; every non-null patch key must be listed.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), E> {
    let Some(rk) = patch.get(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(keys) = rk else { return Err(E::BadRetainKeys) };
    let listed = |k: &str| keys.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch {
        if v.is_null()
            || k == RETAIN_KEYS
            || k == DIRECTIVE
            || k.starts_with(DELETE_PREFIX)
            || k.starts_with(ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(E::BadRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Merges a patch value into an existing value of the field at `path`.
fn merge_value<'p>(
    original: Value,
    patch: &'p Value,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Value, E> {
    match (original, patch) {
        (Value::Object(o), Value::Object(p)) => {
            if meta.strategy(path) == Some(PatchStrategy::Replace) {
                return clean_map(p, path, meta).map(Value::Object);
            }
            merge_map(o, p, path, meta).map(Value::Object)
        }
        (Value::Array(o), Value::Array(p)) => match meta.strategy(path) {
            Some(PatchStrategy::Merge { merge_key }) => {
                list::merge_list(o, p, merge_key.as_deref(), &mut Ctx { path, meta }).map(Value::Array)
            }
            _ => list::clean_replaced_list(p, &mut Ctx { path, meta }).map(Value::Array),
        },
        _ => clean(patch, path, meta),
    }
}

/// A patch value with nothing to merge into: apply it to an empty value of its own type.
pub(super) fn clean<'p>(patch: &'p Value, path: &mut Vec<&'p str>, meta: &dyn PatchMeta) -> Result<Value, E> {
    match patch {
        Value::Object(p) => clean_map(p, path, meta).map(Value::Object),
        Value::Array(_) => merge_value(Value::Array(Vec::new()), patch, path, meta),
        other => Ok(other.clone()),
    }
}

pub(super) fn clean_map<'p>(
    patch: &'p Map<String, Value>,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Map<String, Value>, E> {
    merge_map(Map::new(), patch, path, meta)
}
