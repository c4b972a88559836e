//! Server-side apply and `metadata.managedFields`: who owns which field.
//!
//! Every write records its changed fields for its field manager (ownership moves to the last
//! writer, as upstream). An apply (`application/apply-patch+yaml`) owns exactly the fields in its
//! configuration: fields it owned before and no longer sets are removed, and setting a field
//! another manager owns to a different value is a conflict unless `force=true`.

use canopy_machinery::strategic::{BuiltinPatchMeta, NoPatchMeta, PatchMeta, builtin_patch_meta};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Target};
use crate::fieldset::{self, Path};
use crate::fieldtree;
use crate::registry::Resource;
use crate::{meta, patch};

enum Meta {
    Builtin(BuiltinPatchMeta),
    None,
}

impl Meta {
    fn of(res: &Resource) -> Self {
        match builtin_patch_meta(&res.api_version(), &res.kind).filter(|_| res.strategic_merge) {
            Some(m) => Self::Builtin(m),
            None => Self::None,
        }
    }

    fn get(&self) -> &dyn PatchMeta {
        match self {
            Self::Builtin(m) => m,
            Self::None => &NoPatchMeta,
        }
    }
}

struct Entry {
    manager: String,
    operation: String,
    subresource: Option<String>,
    fields: Vec<Path>,
    time: Option<Value>,
}

/// The entries of `obj`'s managedFields, their fields as leaf paths.
fn entries(obj: Option<&Value>) -> Vec<Entry> {
    obj.and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or_default().to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    subresource: e["subresource"].as_str().map(str::to_string),
                    fields: fieldset::from_fields_v1(&e["fieldsV1"]),
                    time: e.get("time").cloned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn store_entries(res: &Resource, obj: &mut Value, list: Vec<Entry>) {
    let rendered: Vec<Value> = list
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| entry_json(res, e.manager, e.operation, e.subresource, e.time, fieldset::to_fields_v1(&e.fields)))
        .collect();
    set_entries(obj, rendered);
}

fn entry_json(
    res: &Resource,
    manager: String,
    operation: String,
    subresource: Option<String>,
    time: Option<Value>,
    fields: Value,
) -> Value {
    // Built field by field: `json!` would serialize `fields` into a copy of itself.
    let mut v = serde_json::Map::new();
    v.insert("manager".into(), Value::String(manager));
    v.insert("operation".into(), Value::String(operation));
    v.insert("apiVersion".into(), Value::String(res.api_version()));
    v.insert("time".into(), time.unwrap_or_else(|| json!(meta::now_rfc3339())));
    v.insert("fieldsType".into(), Value::String("FieldsV1".into()));
    v.insert("fieldsV1".into(), fields);
    if let Some(s) = subresource {
        v.insert("subresource".into(), Value::String(s));
    }
    Value::Object(v)
}

fn set_entries(obj: &mut Value, rendered: Vec<Value>) {
    let m = meta::meta_mut(obj);
    if rendered.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(rendered));
    }
}

/// Records a non-apply write by `manager`: the fields it changed become its own.
///
/// Worked on `FieldsV1` trees ([`fieldtree`]): the changed fields are found in one walk of the
/// sections that changed, taken from other managers, given to the writer, and fields the
/// object no longer has are dropped. Entries whose sections the write left alone are kept
/// exactly as they were, unparsed.
pub fn record_update(res: &Resource, old: Option<&Value>, new: &mut Value, manager: &str, operation: &str) {
    let m = Meta::of(res);
    let sections = old.map(|o| fieldset::Changed::between(o, new));
    let changed = fieldtree::changed(old, new, sections.as_ref(), m.get());
    let mine = |e: &Value| {
        e["manager"] == manager && e["operation"] == operation && e.get("subresource").is_none_or(Value::is_null)
    };
    let existing = old.and_then(|o| o.pointer("/metadata/managedFields")).and_then(Value::as_array);
    let mut list: Vec<Recorded> = Vec::new();
    for e in existing.into_iter().flatten() {
        // An entry none of whose sections changed lost no fields and gained none.
        if sections.as_ref().is_some_and(|s| (changed.is_empty() || !mine(e)) && !s.touches(&e["fieldsV1"])) {
            list.push(Recorded::Verbatim(e.clone()));
            continue;
        }
        let mut fields = fieldtree::canonical(&e["fieldsV1"]);
        fieldtree::subtract(&mut fields, &changed);
        list.push(Recorded::Parsed {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            subresource: e["subresource"].as_str().map(str::to_string),
            time: e.get("time").cloned(),
            fields,
        });
    }
    if !changed.is_empty() {
        let now = Some(json!(meta::now_rfc3339()));
        let own = list.iter_mut().find_map(|r| match r {
            Recorded::Parsed { manager: m, operation: o, subresource: None, time, fields }
                if m == manager && o == operation =>
            {
                Some((time, fields))
            }
            _ => None,
        });
        match own {
            Some((time, fields)) => {
                fieldtree::union(fields, &changed);
                *time = now;
            }
            None => list.push(Recorded::Parsed {
                manager: manager.to_string(),
                operation: operation.to_string(),
                subresource: None,
                time: now,
                fields: changed,
            }),
        }
    }
    let rendered = list
        .into_iter()
        .filter_map(|r| match r {
            Recorded::Verbatim(v) => Some(v),
            Recorded::Parsed { manager, operation, subresource, time, mut fields } => {
                // Drop what the object no longer has (e.g. a removed label) from every owner.
                // Fields in sections the write left alone are still there.
                if let Some(s) = &sections {
                    fieldtree::retain_present(&mut fields, new, s);
                }
                (!fields.is_empty())
                    .then(|| entry_json(res, manager, operation, subresource, time, Value::Object(fields)))
            }
        })
        .collect();
    set_entries(new, rendered);
}

/// A managedFields entry while a write is recorded.
enum Recorded {
    /// Kept as read: the write cannot have changed it.
    Verbatim(Value),
    Parsed {
        manager: String,
        operation: String,
        subresource: Option<String>,
        time: Option<Value>,
        fields: fieldtree::Tree,
    },
}

/// Server-side apply of `applied` (the user's configuration) by `manager` onto `current`.
pub fn apply(res: &Resource, current: Option<&Value>, applied: &Value, manager: &str, force: bool) -> ApiResult<Value> {
    let m = Meta::of(res);
    let mut config = applied.clone();
    if let Some(md) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
        md.remove("resourceVersion");
    }
    let owned = fieldset::leaves(&config, m.get());
    let mut list = entries(current);
    let base = current.cloned().unwrap_or_else(|| json!({}));

    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in list.iter().filter(|e| !(e.manager == manager && e.operation == "Apply")) {
        for p in &owned {
            if e.fields.contains(p) && fieldset::value_at(&base, p) != fieldset::value_at(&config, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(mgr, p)| format!("conflict with \"{mgr}\" using {}: {}", res.api_version(), fieldset::render(p)))
            .collect();
        let n = lines.len();
        return Err(ApiError::Conflict(
            Target::new(&res.group, &res.plural, meta::name(&config)),
            format!("Apply failed with {n} conflict{}: {}", if n == 1 { "" } else { "s" }, lines.join("\n")),
        ));
    }
    for e in &mut list {
        if !(e.manager == manager && e.operation == "Apply") {
            e.fields.retain(|f| !conflicts.iter().any(|(_, p)| p == f));
        }
    }

    let mut result = base.clone();
    if let Some(prev) = list.iter().find(|e| e.manager == manager && e.operation == "Apply") {
        for gone in prev.fields.iter().filter(|f| !owned.contains(f)) {
            let owned_elsewhere = list
                .iter()
                .filter(|e| !(e.manager == manager && e.operation == "Apply"))
                .any(|e| e.fields.iter().any(|f| f == gone));
            if !owned_elsewhere {
                fieldset::remove_at(&mut result, gone);
            }
        }
    }
    if current.is_some() {
        let kind = if res.strategic_merge { patch::PatchKind::Strategic } else { patch::PatchKind::Merge };
        result = patch::apply_patch(res, kind, &result, &config)?;
    } else {
        result = config.clone();
    }

    // An apply that changes nothing keeps its timestamp, so the object (and its
    // resourceVersion) stays as it was, as upstream.
    let without_fields = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        v
    };
    let previous = list.iter().find(|e| e.manager == manager && e.operation == "Apply");
    let time = match previous {
        Some(p) if p.fields == owned && without_fields(&result) == without_fields(&base) => p.time.clone(),
        _ => None,
    };
    list.retain(|e| !(e.manager == manager && e.operation == "Apply"));
    list.push(Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        subresource: None,
        fields: owned,
        time: Some(time.unwrap_or_else(|| json!(meta::now_rfc3339()))),
    });
    for e in &mut list {
        e.fields.retain(|f| fieldset::value_at(&result, f).is_some());
    }
    store_entries(res, &mut result, list);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": data})
    }

    #[test]
    fn managers_own_what_they_apply() {
        let reg = Registry::with_builtins();
        let res = reg.get("", "v1", "configmaps").expect("configmaps");
        let v1 = apply(&res, None, &cm(json!({"a": "1", "b": "2"})), "alice", false).expect("create");
        let err = apply(&res, Some(&v1), &cm(json!({"a": "x"})), "bob", false).expect_err("conflict");
        assert!(err.to_string().contains("conflict with \"alice\""), "{err}");
        let v2 = apply(&res, Some(&v1), &cm(json!({"a": "x"})), "bob", true).expect("forced");
        let v3 = apply(&res, Some(&v2), &cm(json!({})), "alice", false).expect("alice lets go of b");
        assert_eq!(v3["data"], json!({"a": "x"}), "{v3}");
        // An unchanged value is no conflict.
        apply(&res, Some(&v3), &cm(json!({"a": "x"})), "carol", false).expect("same value");
        // Re-applying the same configuration changes nothing, not even a timestamp.
        let again = apply(&res, Some(&v3), &cm(json!({})), "alice", false).expect("no-op apply");
        assert_eq!(again, v3);
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
        obj["metadata"]["managedFields"].as_array()?.iter().find(|e| e["manager"] == manager)
    }

    #[test]
    fn updates_take_what_they_change_and_leave_other_sections_alone() {
        let reg = Registry::with_builtins();
        let res = reg.get("", "v1", "configmaps").expect("configmaps");
        let mut v1 = cm(json!({"a": "1", "b": "2"}));
        record_update(&res, None, &mut v1, "creator", "Update");
        let mut v2 = v1.clone();
        v2["data"]["a"] = json!("x");
        record_update(&res, Some(&v1), &mut v2, "editor", "Update");
        assert_eq!(entry(&v2, "editor").expect("editor")["fieldsV1"], json!({"f:data": {"f:a": {}}}));
        assert_eq!(entry(&v2, "creator").expect("creator")["fieldsV1"], json!({"f:data": {"f:b": {}}}));

        // A write elsewhere leaves the creator's entry exactly as it was, time included.
        let mut v3 = v2.clone();
        v3["metadata"]["labels"] = json!({"l": "1"});
        record_update(&res, Some(&v2), &mut v3, "labeler", "Update");
        assert_eq!(entry(&v3, "creator"), entry(&v2, "creator"));
        assert_eq!(
            entry(&v3, "labeler").expect("labeler")["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:l": {}}}})
        );

        // Removing the creator's last field removes its entry.
        let mut v4 = v3.clone();
        v4["data"].as_object_mut().expect("data").remove("b");
        record_update(&res, Some(&v3), &mut v4, "editor", "Update");
        assert!(entry(&v4, "creator").is_none(), "{}", v4["metadata"]["managedFields"]);
        assert!(entry(&v4, "labeler").is_some());
    }
}
