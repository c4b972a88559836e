//! Admission of a request body: shape checks, defaulting and validation before anything is stored.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::{Resource, Validation};

/// How unknown fields are treated (`fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> ApiResult<Self> {
        match v {
            None | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other:?}; supported values are \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Checks that a body's apiVersion/kind fit the URL and fills them when absent.
pub fn check_type(res: &Resource, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest("the request body must be a JSON or YAML object".into()));
    }
    let want = res.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(want),
        Some(got) if got != want => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({got}) does not match the expected API version ({want})"
            )));
        }
        Some(_) => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(res.kind),
        Some(got) if got != res.kind => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({got}) does not match the expected kind ({})",
                res.kind
            )));
        }
        Some(_) => {}
    }
    Ok(())
}

/// Checks the body's namespace against the URL's and sets it.
pub fn check_namespace(res: &Resource, ns: Option<&str>, obj: &mut Value) -> ApiResult<()> {
    if !res.namespaced {
        meta::meta_mut(obj).remove("namespace");
        return Ok(());
    }
    let url_ns = ns.unwrap_or_default();
    match meta::meta_str(obj, "namespace") {
        Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        )),
        _ => {
            meta::meta_mut(obj).insert("namespace".into(), json!(url_ns));
            Ok(())
        }
    }
}

/// Validates and normalises `obj` for `res`; returns warnings (unknown fields under `Warn`).
pub fn validate(res: &Resource, obj: &mut Value, fv: FieldValidation) -> ApiResult<Vec<String>> {
    validate_checking(res, obj, fv, true)
}

/// [`validate`] for an object whose `metadata.managedFields` the server has just built
/// (`apply.rs` rewrites them on every write): those are left out of the typed round trip,
/// where they were often the larger part of the object.
pub fn validate_written(res: &Resource, obj: &mut Value, fv: FieldValidation) -> ApiResult<Vec<String>> {
    validate_checking(res, obj, fv, false)
}

fn validate_checking(res: &Resource, obj: &mut Value, fv: FieldValidation, managed: bool) -> ApiResult<Vec<String>> {
    let name = meta::name(obj).to_string();
    let mut causes: Vec<String> = meta::validate_name(&name, res.group.is_empty() && res.plural == "namespaces");
    let unknown = match &res.validation {
        Validation::Builtin { normalize, .. } => {
            crate::defaults::apply(&res.group, &res.plural, obj);
            let kept = if managed { None } else { obj.get_mut("metadata").and_then(take_managed_fields) };
            let normalized = normalize(obj).map_err(|e| ApiError::BadRequest(format!("{} in body: {e}", res.kind)))?;
            let mut unknown = Vec::new();
            if let Some(normalized) = normalized {
                unknown_fields(obj, &normalized, &mut Vec::new(), &mut unknown);
                *obj = normalized;
            }
            if let Some(entries) = kept
                && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            {
                // Where the typed round trip puts it: ObjectMeta's fields are in name order.
                let at = m.keys().filter(|k| k.as_str() < "managedFields").count();
                m.shift_insert(at, "managedFields".into(), entries);
            }
            unknown
        }
        Validation::Custom { schema: Some(schema) } => {
            canopy_machinery::schema::apply_defaults(schema, obj);
            let pruned = canopy_machinery::schema::prune(schema, obj);
            causes.extend(canopy_machinery::schema::validate(schema, obj).iter().map(ToString::to_string));
            pruned.into_iter().map(|p| p.trim_start_matches('.').to_string()).collect()
        }
        Validation::Custom { schema: None } => Vec::new(),
    };
    causes.extend(kind_rules(res, obj));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&res.kind, &res.group, &name, causes));
    }
    let unknown: Vec<String> = unknown.into_iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match fv {
        FieldValidation::Strict if !unknown.is_empty() => {
            Err(ApiError::BadRequest(format!("strict decoding error: {}", unknown.join(", "))))
        }
        FieldValidation::Warn => Ok(unknown),
        _ => Ok(Vec::new()),
    }
}

fn take_managed_fields(metadata: &mut Value) -> Option<Value> {
    metadata.as_object_mut()?.shift_remove("managedFields")
}

/// One step of a field path, rendered only when a field turns out unknown (every write of a
/// built-in kind walks its whole object here).
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

fn render_path(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(k) if out.is_empty() => out.push_str(k),
            Step::Field(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Fields present (non-null) in `input` that the typed round trip dropped.
fn unknown_fields<'a>(input: &'a Value, output: &Value, path: &mut Vec<Step<'a>>, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                path.push(Step::Field(k));
                match o.get(k) {
                    Some(ov) => unknown_fields(v, ov, path, out),
                    None if !v.is_null() => out.push(render_path(path)),
                    None => {}
                }
                path.pop();
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (idx, (iv, ov)) in i.iter().zip(o).enumerate() {
                path.push(Step::Index(idx));
                unknown_fields(iv, ov, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A few upstream rules beyond the schema that clients rely on.
fn kind_rules(res: &Resource, obj: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => {
            let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
            if containers.is_none_or(|c| c.is_empty()) {
                errs.push("spec.containers: Required value".to_string());
            }
            for (i, c) in containers.into_iter().flatten().enumerate() {
                if c["image"].as_str().is_none_or(str::is_empty) {
                    errs.push(format!("spec.containers[{i}].image: Required value"));
                }
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => errs.extend(crd_rules(obj)),
        _ => {}
    }
    errs
}

fn crd_rules(obj: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, plural) = (s("/spec/group"), s("/spec/names/plural"));
    if meta::name(obj) != format!("{plural}.{group}") {
        errs.push(format!(
            "metadata.name: Invalid value: {:?}: must be spec.names.plural+\".\"+spec.group",
            meta::name(obj)
        ));
    }
    if s("/spec/names/kind").is_empty() {
        errs.push("spec.names.kind: Required value".into());
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push("spec.versions: Invalid value: null: must have exactly one version marked as storage version".into());
    } else if versions.iter().filter(|v| v["storage"].as_bool() == Some(true)).count() != 1 {
        errs.push("spec.versions: Invalid value: must have exactly one version marked as storage version".into());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dropped_fields() {
        let input = json!({"spec": {"a": 1, "bogus": 2, "list": [{"x": 1, "y": 2}]}, "n": null});
        let output = json!({"spec": {"a": 1, "list": [{"x": 1}]}});
        let mut out = Vec::new();
        unknown_fields(&input, &output, &mut Vec::new(), &mut out);
        assert_eq!(out, ["spec.bogus", "spec.list[0].y"]);
    }
}
