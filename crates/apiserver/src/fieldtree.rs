//! Field sets as `FieldsV1` trees, for recording who changed what on every write.
//!
//! [`fieldset`](crate::fieldset) lists a set as leaf paths, which server-side apply needs for
//! its conflicts. Recording an ordinary write does not: it finds the fields the write changed,
//! takes them from other managers, gives them to the writer and drops fields that are gone.
//! Done on trees, each of those is one walk with no path built per leaf; a status write of a
//! pod (thousands a second on a busy platform) costs a fraction of what the path lists did.
//!
//! A leaf is a node with no children other than `.` (upstream marks owned list items and
//! maps with `.`; sets are compared as path lists are: a `.` beside children adds nothing).

use canopy_machinery::strategic::{PatchMeta, PatchStrategy};
use serde_json::{Map, Value, json};

use crate::fieldset::{Changed, OWNED_METADATA, step};

/// A `FieldsV1` set: `f:name`, `k:{"key":value}` and `v:value` keys down to leaves.
pub type Tree = Map<String, Value>;

fn is_leaf(node: &Value) -> bool {
    node.as_object().is_none_or(|m| m.keys().all(|k| k == "."))
}

/// `fields` with `.` markers dropped (a node holding only `.` becomes an empty leaf), and
/// anything that is not an object node read as a leaf.
pub fn canonical(fields: &Value) -> Tree {
    let mut out = Map::new();
    for (k, child) in fields.as_object().into_iter().flatten() {
        if k != "." {
            out.insert(k.clone(), Value::Object(canonical(child)));
        }
    }
    out
}

/// The leaves of `new` whose value differs from `old`'s (every leaf when there is no `old`),
/// walking only the `sections` a write changed when given. Leaves are what
/// [`fieldset::leaves`](crate::fieldset::leaves) lists: keyed list items are `k:` nodes,
/// scalar sets `v:` leaves, other lists and scalars leaves.
pub fn changed(old: Option<&Value>, new: &Value, sections: Option<&Changed>, meta: &dyn PatchMeta) -> Tree {
    let mut out = Map::new();
    let Some(map) = new.as_object() else { return out };
    let skip = |top: &str, inner: Option<&str>| sections.is_some_and(|c| !c.has(top, inner));
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let mut node = Map::new();
                let old_meta = old.and_then(|o| o.get("metadata"));
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if OWNED_METADATA.contains(&mk.as_str()) && !skip(k, Some(mk)) {
                        let before = old_meta.and_then(|m| m.get(mk));
                        let mut names = vec!["metadata", mk.as_str()];
                        if let Some(sub) = walk(before, mv, &mut names, meta, old.is_some()) {
                            node.insert(format!("f:{mk}"), sub);
                        }
                    }
                }
                if !node.is_empty() {
                    out.insert("f:metadata".into(), Value::Object(node));
                }
            }
            _ if skip(k, None) => {}
            _ => {
                let mut names = vec![k.as_str()];
                if let Some(sub) = walk(old.and_then(|o| o.get(k)), v, &mut names, meta, old.is_some()) {
                    out.insert(format!("f:{k}"), sub);
                }
            }
        }
    }
    out
}

/// The changed leaves under `new` as a node, `None` when nothing under it changed. `compare`
/// is false on a create (no old object: everything is new).
fn walk<'a>(
    old: Option<&Value>,
    new: &'a Value,
    names: &mut Vec<&'a str>,
    meta: &dyn PatchMeta,
    compare: bool,
) -> Option<Value> {
    let leaf = || (!compare || old != Some(new)).then(|| json!({}));
    match new {
        Value::Object(m) if !m.is_empty() => {
            let mut node = Map::new();
            children(old, m, names, meta, compare, &mut node);
            (!node.is_empty()).then_some(Value::Object(node))
        }
        Value::Array(items) if !items.is_empty() => {
            let before = old.and_then(Value::as_array);
            match meta.strategy(names) {
                Some(PatchStrategy::Merge { merge_key: Some(key) }) if items.iter().all(|i| i.get(&key).is_some()) => {
                    let mut node = Map::new();
                    for item in items {
                        let id = &item[&key];
                        let was = before.and_then(|b| b.iter().find(|i| i.get(&key) == Some(id)));
                        let sub = match item.as_object() {
                            Some(fields) => {
                                let mut sub = Map::new();
                                children(was, fields, names, meta, compare, &mut sub);
                                (!sub.is_empty()).then_some(Value::Object(sub))
                            }
                            None => (!compare || was != Some(item)).then(|| json!({})),
                        };
                        if let Some(sub) = sub {
                            merge_into(&mut node, format!("k:{}", json!({key.clone(): id})), sub);
                        }
                    }
                    (!node.is_empty()).then_some(Value::Object(node))
                }
                Some(PatchStrategy::Merge { merge_key: None })
                    if items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                {
                    let mut node = Map::new();
                    for item in items {
                        if !compare || !before.is_some_and(|b| b.contains(item)) {
                            node.insert(format!("v:{item}"), json!({}));
                        }
                    }
                    (!node.is_empty()).then_some(Value::Object(node))
                }
                _ => leaf(),
            }
        }
        _ => leaf(),
    }
}

fn children<'a>(
    old: Option<&Value>,
    fields: &'a Map<String, Value>,
    names: &mut Vec<&'a str>,
    meta: &dyn PatchMeta,
    compare: bool,
    node: &mut Tree,
) {
    for (k, child) in fields {
        names.push(k);
        if let Some(sub) = walk(old.and_then(|o| o.get(k)), child, names, meta, compare) {
            node.insert(format!("f:{k}"), sub);
        }
        names.pop();
    }
}

/// Adds `sub` under `key`, merging with a node already there (list items with equal keys).
fn merge_into(node: &mut Tree, key: String, sub: Value) {
    match (node.get_mut(&key), sub) {
        (Some(Value::Object(have)), Value::Object(add)) => union(have, &add),
        (None, sub) => drop(node.insert(key, sub)),
        _ => {}
    }
}

/// Removes from `set` every field overlapping one in `remove`: the field itself, what lies
/// under it, and leaves of `set` above it. Nodes left without children go too.
pub fn subtract(set: &mut Tree, remove: &Tree) {
    for (k, r) in remove {
        let Some(have) = set.get_mut(k) else { continue };
        if is_leaf(r) || is_leaf(have) {
            set.shift_remove(k);
            continue;
        }
        if let (Some(have_map), Some(r_map)) = (have.as_object_mut(), r.as_object()) {
            subtract(have_map, r_map);
            if have_map.is_empty() {
                set.shift_remove(k);
            }
        }
    }
}

/// Adds every field of `add` to `set`.
pub fn union(set: &mut Tree, add: &Tree) {
    for (k, a) in add {
        match set.get_mut(k) {
            None => drop(set.insert(k.clone(), a.clone())),
            Some(have) if is_leaf(have) => *have = a.clone(),
            Some(have) => {
                if let (Some(have_map), Some(a_map)) = (have.as_object_mut(), a.as_object()) {
                    union(have_map, a_map);
                }
            }
        }
    }
}

/// Keeps the fields of `set` that `obj` still has, or that lie in sections the write left
/// alone (not walked: they cannot have gone).
pub fn retain_present(set: &mut Tree, obj: &Value, sections: &Changed) {
    set.retain(|k, node| {
        let Some(top) = k.strip_prefix("f:") else { return false };
        let inner = node.as_object_mut().filter(|m| !is_leaf_map(m));
        match inner {
            Some(inner) if top == "metadata" => {
                let value = obj.get(top).unwrap_or(&Value::Null);
                inner.retain(|mk, sub| {
                    let field = mk.strip_prefix("f:");
                    field.is_some_and(|f| !sections.has("metadata", Some(f))) || retain_one(mk, sub, value)
                });
                !inner.is_empty()
            }
            _ if !sections.has(top, None) => true,
            Some(inner) => {
                let Some(value) = obj.get(top) else { return false };
                retain_under(inner, value);
                !inner.is_empty()
            }
            None => obj.get(top).is_some(),
        }
    });
}

fn retain_under(set: &mut Tree, obj: &Value) {
    set.retain(|k, node| retain_one(k, node, obj));
}

/// Whether the field `k` (with `node` under it) survives in `parent`.
fn retain_one(k: &str, node: &mut Value, parent: &Value) -> bool {
    let Some(value) = step(parent, k) else { return false };
    match node.as_object_mut() {
        Some(inner) if !is_leaf_map(inner) => {
            retain_under(inner, value);
            !inner.is_empty()
        }
        _ => true,
    }
}

fn is_leaf_map(m: &Tree) -> bool {
    m.keys().all(|k| k == ".")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use canopy_machinery::strategic::builtin_patch_meta;
    use proptest::prelude::*;

    use super::*;
    use crate::fieldset::{from_fields_v1, value_at};
    use crate::registry::Registry;

    fn tree(v: Value) -> Tree {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn dot_markers_add_nothing() {
        let read = canonical(&json!({"f:a": {".": {}, "f:b": {}}, "f:c": {".": {}}, ".": {}}));
        assert_eq!(Value::Object(read), json!({"f:a": {"f:b": {}}, "f:c": {}}));
    }

    #[test]
    fn subtracting_removes_overlaps_both_ways() {
        let mut set = tree(json!({"f:a": {"f:b": {}, "f:x": {}}, "f:c": {}, "f:d": {}}));
        subtract(&mut set, &tree(json!({"f:a": {"f:b": {}}, "f:c": {"f:deeper": {}}})));
        assert_eq!(Value::Object(set.clone()), json!({"f:a": {"f:x": {}}, "f:d": {}}));
        subtract(&mut set, &tree(json!({"f:a": {}})));
        assert_eq!(Value::Object(set), json!({"f:d": {}}), "a node left without children goes");
    }

    #[test]
    fn a_changed_list_item_is_found_by_its_key() {
        let meta = builtin_patch_meta("v1", "Pod").expect("pods have patch metadata");
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let new = json!({"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "z"}]}});
        let got = changed(Some(&old), &new, None, &meta);
        assert_eq!(Value::Object(got), json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {"f:image": {}}}}}));
        let created = changed(None, &new, None, &meta);
        assert_eq!(from_fields_v1(&Value::Object(created)).len(), 4, "every field of a new object");
    }

    #[test]
    fn fields_gone_from_changed_sections_are_dropped() {
        let old = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
        let new = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"}});
        let sections = Changed::between(&old, &new);
        let mut set = tree(json!({"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}, "f:data": {"f:gone": {}}}));
        retain_present(&mut set, &new, &sections);
        // `data` did not change: its fields are not looked at.
        assert_eq!(Value::Object(set), json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:data": {"f:gone": {}}}));
    }

    /// Pods with the lists managedFields key by name, type and value.
    fn pod() -> impl Strategy<Value = Value> {
        let labels = prop::collection::btree_map("[abc]", "[xy]", 0..3);
        let finalizers = prop::collection::btree_set("[pq]", 0..3);
        let container = ("[abc]", "[ij]", prop::option::of(80..82i64)).prop_map(|(name, image, port)| {
            let mut c = json!({"name": name, "image": image});
            if let Some(p) = port {
                c["ports"] = json!([{"containerPort": p, "protocol": "TCP"}]);
            }
            c
        });
        let containers = prop::collection::vec(container, 0..3);
        let condition = ("(Ready|Initialized)", "(True|False)").prop_map(|(t, s)| json!({"type": t, "status": s}));
        let conditions = prop::collection::vec(condition, 0..3);
        let phase = prop::option::of("(Pending|Running)");
        (labels, finalizers, containers, conditions, phase, prop::option::of("[hk]")).prop_map(
            |(labels, finalizers, mut containers, mut conditions, phase, node)| {
                let mut seen = HashSet::new();
                containers.retain(|c| seen.insert(c["name"].clone()));
                let mut seen = HashSet::new();
                conditions.retain(|c| seen.insert(c["type"].clone()));
                let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                    "spec": {"containers": containers}});
                if !labels.is_empty() {
                    p["metadata"]["labels"] = json!(labels);
                }
                if !finalizers.is_empty() {
                    p["metadata"]["finalizers"] = json!(finalizers);
                }
                if let Some(n) = node {
                    p["spec"]["nodeName"] = json!(n);
                }
                if phase.is_some() || !conditions.is_empty() {
                    p["status"] = json!({"phase": phase, "conditions": conditions});
                }
                p
            },
        )
    }

    proptest! {
        /// After any sequence of writes: the writer owns every field it changed, every owned
        /// field exists, and no two managers own overlapping fields.
        #[test]
        fn writes_move_ownership_to_the_writer(writes in prop::collection::vec((pod(), 0..3usize), 1..6)) {
            let reg = Registry::with_builtins();
            let res = reg.get("", "v1", "pods").expect("pods");
            let meta = builtin_patch_meta("v1", "Pod").expect("pods have patch metadata");
            let managers = ["alice", "bob", "carol"];
            let mut previous: Option<Value> = None;
            for (obj, m) in writes {
                let mut next = obj;
                let want = from_fields_v1(&Value::Object(changed(previous.as_ref(), &next, None, &meta)));
                crate::apply::record_update(&res, previous.as_ref(), &mut next, managers[m], "Update");
                let entries = next["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
                let owned: Vec<(String, Vec<crate::fieldset::Path>)> = entries
                    .iter()
                    .map(|e| (e["manager"].as_str().unwrap_or_default().to_string(), from_fields_v1(&e["fieldsV1"])))
                    .collect();
                let mine: Vec<_> = owned.iter().filter(|(o, _)| o == managers[m]).flat_map(|(_, f)| f).collect();
                for path in &want {
                    prop_assert!(mine.contains(&path), "{path:?} changed but not owned by the writer: {entries:?}");
                }
                let all: Vec<_> = owned.iter().flat_map(|(o, fs)| fs.iter().map(move |f| (o, f))).collect();
                for (i, (o, f)) in all.iter().enumerate() {
                    prop_assert!(value_at(&next, f).is_some(), "{o} owns {f:?}, which the object lacks");
                    for (o2, f2) in &all[i + 1..] {
                        let overlap = f.starts_with(f2) || f2.starts_with(f);
                        prop_assert!(!(overlap && o != o2), "{o} and {o2} both own {f:?} / {f2:?}");
                    }
                }
                previous = Some(next);
            }
        }
    }
}
