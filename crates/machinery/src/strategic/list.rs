//! Merging lists: by merge key for lists of objects, as a union for lists of scalars, the
//! `$patch` directives on list items, `$setElementOrder`, and upstream's ordering rules.

use serde_json::{Map, Value};

use super::apply::{DIRECTIVE, merge_map, merge_map_with};
use super::{PatchMeta, PatchStrategy, StrategicMergeError as E};

/// The field being merged and where to look up strategies.
pub(super) struct Ctx<'a, 'p> {
    pub(super) path: &'a mut Vec<&'p str>,
    pub(super) meta: &'a dyn PatchMeta,
}

/// JSON equality where numbers compare by value (`80` equals `80.0`), as Go's decoded
/// `float64`s do.
pub(super) fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Maps,
    Scalars,
}

fn element_kind(original: &[Value], patch: &[Value]) -> Result<Kind, E> {
    let all = || original.iter().chain(patch);
    if all().any(Value::is_array) {
        return Err(E::ListOfLists);
    }
    let objects = all().filter(|v| v.is_object()).count();
    if objects == 0 {
        Ok(Kind::Scalars)
    } else if objects == original.len() + patch.len() {
        Ok(Kind::Maps)
    } else {
        Err(E::MixedListTypes(format!("{} {}", Value::from(original.to_vec()), Value::from(patch.to_vec()))))
    }
}

fn no_merge_key(item: &Value, key: &str) -> E {
    E::NoMergeKey { map: item.to_string(), key: key.to_string() }
}

/// The merge key value of an item (which must be an object carrying it).
fn key_value<'v>(item: &'v Value, key: &str) -> Result<&'v Value, E> {
    item.get(key).ok_or_else(|| no_merge_key(item, key))
}

/// Position of `item` in `list`: by merge key for objects, by value for scalars.
fn index_in(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(k) => {
            let want = item.get(k)?;
            list.iter().position(|v| v.get(k).is_some_and(|x| scalar_eq(x, want)))
        }
        None => list.iter().position(|v| scalar_eq(v, item)),
    }
}

/// Stable sort by position in `order` (items not found keep their relative order at the end).
fn sort_by_order(items: &mut [Value], order: &[Value], key: Option<&str>) {
    items.sort_by_key(|v| index_in(order, v, key).unwrap_or(usize::MAX));
}

/// Upstream `mergeSortedSlice`: interleaves server-only items (`left`) with patch items
/// (`right`), taking a server item first only when both are known to `server_order` and the
/// server item comes earlier there.
fn merge_sorted(left: Vec<Value>, right: Vec<Value>, server_order: &[Value], key: Option<&str>) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => match (index_in(server_order, a, key), index_in(server_order, b, key)) {
                (Some(i), Some(j)) => i < j,
                _ => false,
            },
        };
        let next = if take_left { l.next() } else { r.next() };
        out.extend(next);
    }
    out
}

/// Orders `merged`: items present in `patch_order` follow it, the others keep
/// `server_order`, and the two are interleaved like upstream.
fn enforce_order(merged: Vec<Value>, patch_order: &[Value], server_order: &[Value], key: Option<&str>) -> Vec<Value> {
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) =
        merged.into_iter().partition(|v| index_in(patch_order, v, key).is_some());
    sort_by_order(&mut from_patch, patch_order, key);
    sort_by_order(&mut server_only, server_order, key);
    merge_sorted(server_only, from_patch, server_order, key)
}

/// Merges a patch list into the original list of a field with strategy `Merge`.
pub(super) fn merge_list<'p>(
    original: Vec<Value>,
    patch: &'p [Value],
    merge_key: Option<&str>,
    ctx: &mut Ctx<'_, 'p>,
) -> Result<Vec<Value>, E> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    match element_kind(&original, patch)? {
        Kind::Scalars => {
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(patch) {
                if !merged.iter().any(|m| scalar_eq(m, v)) {
                    merged.push(v.clone());
                }
            }
            Ok(enforce_order(merged, patch, &original, None))
        }
        Kind::Maps => {
            let key = merge_key.ok_or(E::NoMergeKeyDeclared)?;
            merge_object_list(original, patch, key, ctx)
        }
    }
}

fn merge_object_list<'p>(
    mut original: Vec<Value>,
    patch: &'p [Value],
    key: &str,
    ctx: &mut Ctx<'_, 'p>,
) -> Result<Vec<Value>, E> {
    let mut regular: Vec<&'p Map<String, Value>> = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = item else { continue };
        match m.get(DIRECTIVE) {
            None => regular.push(m),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let want = key_value(item, key)?;
                    original.retain(|o| !o.get(key).is_some_and(|v| scalar_eq(v, want)));
                }
                Some("replace") => replace = true,
                Some("merge") => return Err(E::MergeDirectiveInList),
                _ => {
                    return Err(E::BadPatchType {
                        directive: d.as_str().map_or_else(|| d.to_string(), str::to_string),
                        map: item.to_string(),
                    });
                }
            },
        }
    }
    if replace {
        return regular.into_iter().map(|m| merge_map(Map::new(), m, ctx.path, ctx.meta).map(Value::Object)).collect();
    }
    let server_order = original.clone();
    let mut patch_order = Vec::with_capacity(regular.len());
    for m in regular {
        let item = Value::Object(m.clone());
        let want = key_value(&item, key)?.clone();
        let found = original.iter().position(|o| o.get(key).is_some_and(|v| scalar_eq(v, &want)));
        match found {
            Some(i) => {
                let Value::Object(o) = std::mem::take(&mut original[i]) else {
                    return Err(E::MixedListTypes(item.to_string()));
                };
                original[i] = Value::Object(merge_map(o, m, ctx.path, ctx.meta)?);
            }
            None => original.push(Value::Object(merge_map(Map::new(), m, ctx.path, ctx.meta)?)),
        }
        patch_order.push(item);
    }
    for item in &original {
        key_value(item, key)?;
    }
    Ok(enforce_order(original, &patch_order, &server_order, Some(key)))
}

/// A list replacing the original (no merge strategy): directives inside its objects are
/// processed against empty values and `$patch` keys dropped.
pub(super) fn clean_replaced_list<'p>(patch: &'p [Value], ctx: &mut Ctx<'_, 'p>) -> Result<Vec<Value>, E> {
    patch
        .iter()
        .map(|v| match v {
            Value::Object(m) => merge_map_with(Map::new(), m, ctx.path, ctx.meta, false).map(Value::Object),
            other => Ok(other.clone()),
        })
        .collect()
}

/// Upstream `validatePatchWithSetOrderList`: the patch list must follow the order list.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), E> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let is_delete = |v: &Value| v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete");
    let items: Vec<&Value> = patch.iter().filter(|v| key.is_none() || !is_delete(v)).collect();
    let (mut pi, mut si) = (0, 0);
    while pi < items.len() && si < order.len() {
        if items[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = match key {
            Some(k) => scalar_eq(key_value(items[pi], k)?, key_value(&order[si], k)?),
            None => scalar_eq(items[pi], &order[si]),
        };
        if equal {
            pi += 1;
        }
        si += 1;
    }
    if pi < items.len() && si >= order.len() {
        return Err(E::OrderMismatch {
            patch: Value::from(patch.to_vec()).to_string(),
            order: Value::from(order.to_vec()).to_string(),
        });
    }
    Ok(())
}

/// Handles `$setElementOrder/<field>`: merges the field's patch list (if any) into the
/// original and orders the result by the order list. `None` when neither list exists.
pub(super) fn apply_element_order<'p>(
    original: Option<&Value>,
    patch: Option<&'p Value>,
    order: &'p Value,
    ctx: &mut Ctx<'_, 'p>,
) -> Result<Option<Value>, E> {
    let Value::Array(order) = order else { return Err(E::BadSetElementOrder) };
    let original = match original {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => return Err(E::BadSetElementOrder),
    };
    let patch = match patch {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.as_slice()),
        Some(_) => return Err(E::BadSetElementOrder),
    };
    let strategy = ctx.meta.strategy(ctx.path);
    let merge_key = match &strategy {
        Some(PatchStrategy::Merge { merge_key }) => merge_key.clone(),
        _ => None,
    };
    let key = merge_key.as_deref();
    validate_order(patch.unwrap_or_default(), order, key)?;
    let merge_or_replace = |o: Vec<Value>, p: &'p [Value], ctx: &mut Ctx<'_, 'p>| match &strategy {
        Some(PatchStrategy::Merge { .. }) => merge_list(o, p, key, ctx),
        _ => clean_replaced_list(p, ctx),
    };
    let server_order = original.clone().unwrap_or_default();
    let merged = match (original, patch) {
        (Some(o), None) => o,
        (None, Some(p)) => merge_or_replace(Vec::new(), p, ctx)?,
        (Some(o), Some(p)) => merge_or_replace(o, p, ctx)?,
        (None, None) => return Ok(None),
    };
    if key.is_some() {
        for item in &merged {
            key_value(item, key.unwrap_or_default())?;
        }
    }
    Ok(Some(Value::Array(enforce_order(merged, order, &server_order, key))))
}
