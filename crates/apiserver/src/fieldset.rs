//! Field sets in the upstream `FieldsV1` form (`{"f:spec":{"f:replicas":{}}}`), the unit of
//! ownership in `metadata.managedFields`.
//!
//! A path is a list of `FieldsV1` keys: `f:<field>`, `k:<merge-key JSON>` for items of lists
//! merged by key, `v:<value JSON>` for items of scalar sets. A leaf is an empty object.

use canopy_machinery::strategic::{PatchMeta, PatchStrategy};
use serde_json::{Map, Value, json};

pub type Path = Vec<String>;

/// Metadata fields a client may own; the rest of `metadata` is the server's.
pub(crate) const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The sections of an object a write changed: top-level fields and owned metadata fields whose
/// values differ between the old and the new object, found once per write so that unchanged
/// sections (the spec, on a status write) are neither walked nor compared again.
pub struct Changed(Vec<(String, Option<String>)>);

impl Changed {
    pub fn between(old: &Value, new: &Value) -> Self {
        let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        let mut out = Vec::new();
        let mut top = keys(old);
        top.extend(keys(new).into_iter().filter(|k| old.get(k).is_none()));
        for k in top {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for mk in OWNED_METADATA {
                        let in_old = old.get("metadata").and_then(|m| m.get(*mk));
                        if in_old != new.get("metadata").and_then(|m| m.get(*mk)) {
                            out.push((k.clone(), Some(mk.to_string())));
                        }
                    }
                }
                _ if old.get(&k) != new.get(&k) => out.push((k, None)),
                _ => {}
            }
        }
        Self(out)
    }

    /// Whether the section `top` (with `inner` under metadata) changed. Metadata the server
    /// owns is not compared, so it counts as changed.
    pub(crate) fn has(&self, top: &str, inner: Option<&str>) -> bool {
        if top == "metadata" && inner.is_none_or(|i| !OWNED_METADATA.contains(&i)) {
            return true;
        }
        self.0.iter().any(|(t, i)| t == top && (t != "metadata" || i.as_deref() == inner))
    }

    /// Whether any field of the FieldsV1 set `fields` lies in a changed section.
    pub fn touches(&self, fields: &Value) -> bool {
        let Some(fields) = fields.as_object() else { return true };
        fields.iter().any(|(k, v)| match k.strip_prefix("f:") {
            Some("metadata") => v.as_object().is_none_or(|m| {
                m.keys().any(|mk| mk.strip_prefix("f:").is_none_or(|mk| self.has("metadata", Some(mk))))
            }),
            Some(top) => self.has(top, None),
            None => true,
        })
    }
}

/// The set of fields `obj` sets, as leaf paths.
pub fn leaves(obj: &Value, meta: &dyn PatchMeta) -> Vec<Path> {
    let mut out = Vec::new();
    let Some(map) = obj.as_object() else { return out };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if OWNED_METADATA.contains(&mk.as_str()) {
                        walk(
                            mv,
                            &mut vec!["metadata".into(), mk.clone()],
                            &mut vec!["f:metadata".into(), format!("f:{mk}")],
                            meta,
                            &mut out,
                        );
                    }
                }
            }
            _ => walk(v, &mut vec![k.clone()], &mut vec![format!("f:{k}")], meta, &mut out),
        }
    }
    out
}

fn walk(v: &Value, names: &mut Vec<String>, path: &mut Path, meta: &dyn PatchMeta, out: &mut Vec<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                names.push(k.clone());
                path.push(format!("f:{k}"));
                walk(child, names, path, meta, out);
                path.pop();
                names.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            match meta.strategy(&refs) {
                Some(PatchStrategy::Merge { merge_key: Some(key) }) if items.iter().all(|i| i.get(&key).is_some()) => {
                    for item in items {
                        path.push(format!("k:{}", json!({key.clone(): item[&key]})));
                        match item.as_object() {
                            Some(fields) => {
                                for (k, child) in fields {
                                    names.push(k.clone());
                                    path.push(format!("f:{k}"));
                                    walk(child, names, path, meta, out);
                                    path.pop();
                                    names.pop();
                                }
                            }
                            None => out.push(path.clone()),
                        }
                        path.pop();
                    }
                }
                Some(PatchStrategy::Merge { merge_key: None })
                    if items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                {
                    for item in items {
                        path.push(format!("v:{item}"));
                        out.push(path.clone());
                        path.pop();
                    }
                }
                _ => out.push(path.clone()),
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The value a path addresses in `obj`, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        cur = step(cur, seg)?;
    }
    Some(cur)
}

pub(crate) fn step<'a>(cur: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(f) = seg.strip_prefix("f:") {
        return cur.get(f);
    }
    let items = cur.as_array()?;
    if let Some(k) = seg.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items.iter().find(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)));
    }
    if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return items.iter().find(|i| **i == want);
    }
    None
}

/// Removes what `path` addresses from `obj` (a field, a keyed list item or a set member).
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else { return };
    let mut cur = obj;
    for seg in parent_path {
        let next = match seg.strip_prefix("f:") {
            Some(f) => cur.get_mut(f),
            None => {
                let idx =
                    step(cur, seg).and_then(|target| cur.as_array()?.iter().position(|i| std::ptr::eq(i, target)));
                match idx {
                    Some(i) => cur.get_mut(i),
                    None => None,
                }
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(target) = step(cur, last).cloned()
        && let Some(items) = cur.as_array_mut()
    {
        items.retain(|i| *i != target);
    }
}

/// Leaf paths -> `FieldsV1` tree.
pub fn to_fields_v1(paths: &[Path]) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            cur = cur
                .entry(seg.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

/// `FieldsV1` tree -> leaf paths (a node with only `.` or nothing under it is a leaf).
pub fn from_fields_v1(v: &Value) -> Vec<Path> {
    fn go(m: &Map<String, Value>, path: &mut Path, out: &mut Vec<Path>) {
        for (k, child) in m {
            if k == "." {
                continue;
            }
            path.push(k.clone());
            match child.as_object() {
                Some(c) if c.keys().any(|x| x != ".") => go(c, path, out),
                _ => out.push(path.clone()),
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    if let Some(m) = v.as_object() {
        go(m, &mut Vec::new(), &mut out);
    }
    out
}

/// Renders a path the way upstream conflict messages do (`.spec.containers[name="nginx"].image`).
pub fn render(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if let Some(f) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(a, b)| format!("{a}={b}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = seg.strip_prefix("v:") {
            s.push_str(&format!("[{v}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_machinery::strategic::builtin_patch_meta;

    #[test]
    fn pod_containers_are_keyed_by_name() {
        let meta = builtin_patch_meta("v1", "Pod").expect("pods have patch metadata");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let ls = leaves(&pod, &meta);
        let rendered: Vec<String> = ls.iter().map(|p| render(p)).collect();
        assert!(rendered.contains(&".metadata.labels.a".to_string()), "{rendered:?}");
        assert!(rendered.contains(&".spec.containers[name=\"c\"].image".to_string()), "{rendered:?}");
        let tree = to_fields_v1(&ls);
        let mut back = from_fields_v1(&tree);
        let mut orig = ls.clone();
        back.sort();
        orig.sort();
        assert_eq!(back, orig);
        let image = ls.iter().find(|p| p.last().is_some_and(|l| l == "f:image")).expect("image leaf");
        assert_eq!(value_at(&pod, image), Some(&json!("busybox")));
        let mut pod2 = pod.clone();
        remove_at(&mut pod2, &image[..image.len() - 1]);
        assert_eq!(pod2["spec"]["containers"], json!([]));
    }
}
