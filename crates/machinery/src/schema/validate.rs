//! The validator walk: for each node, kube-openapi's validators in its order (type,
//! composition, string, format, number, array, enum, object), then the Kubernetes extensions.

use serde_json::{Map, Value};

use super::format;
use super::keywords::{Schema, child, field};
use super::listtype;
use crate::field_error::{ErrorType, FieldError, format_float, go_quote};

/// Validates `data` at `path` against `schema`, appending errors.
pub(super) fn node(schema: &Value, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let s = Schema(schema);
    if !schema.is_object() {
        return;
    }
    check_type(s, data, path, errs);
    if data.is_null() {
        check_enum(s, data, path, errs);
        return;
    }
    composition(s, data, path, errs);
    match data {
        Value::String(text) => {
            string(s, text, path, errs);
            if let Some(f) = s.str("format")
                && !format::valid(f, text)
            {
                errs.push(FieldError::new(
                    ErrorType::TypeInvalid,
                    field(path),
                    data.clone(),
                    format!("{path} in body must be of type {f}: {}", go_quote(text)),
                ));
            }
        }
        Value::Number(_) => number(s, data, path, errs),
        Value::Array(items) => array(s, items, path, errs),
        _ => {}
    }
    check_enum(s, data, path, errs);
    if let Value::Object(map) = data {
        object(s, map, path, errs);
        if s.embedded() {
            listtype::embedded_resource(map, path, errs);
        }
    }
}

/// The JSON type name of a value, as kube-openapi infers it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_type(s: Schema<'_>, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let types = s.types();
    if types.is_empty() {
        return;
    }
    let actual = json_type(data);
    let ok = match data {
        Value::Null => s.nullable() || types.contains(&"null"),
        Value::Number(n) => {
            types.contains(&actual)
                || (actual == "integer" && types.contains(&"number"))
                || (actual == "number"
                    && types.contains(&"integer")
                    && n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15))
        }
        _ => types.contains(&actual),
    };
    if !ok {
        errs.push(FieldError::new(
            ErrorType::TypeInvalid,
            field(path),
            Value::String(actual.to_string()),
            format!("{path} in body must be of type {}: {}", types.join(","), go_quote(actual)),
        ));
    }
}

fn sub_errors(schema: &Value, data: &Value, path: &str) -> Vec<FieldError> {
    let mut e = Vec::new();
    node(schema, data, path, &mut e);
    e
}

fn composite(msg: String) -> FieldError {
    FieldError::invalid("<nil>", Value::String(String::new()), msg)
}

/// `allOf`, `anyOf`, `oneOf`, `not`, with kube-openapi's composite messages.
fn composition(s: Schema<'_>, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let quoted = go_quote(path);
    let any_of = s.list("anyOf");
    if !any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = any_of.iter().map(|sub| sub_errors(sub, data, path)).collect();
        if !results.iter().any(Vec::is_empty) {
            errs.push(composite(format!("{quoted} must validate at least one schema (anyOf)")));
            errs.extend(best_failure(results));
        }
    }
    let one_of = s.list("oneOf");
    if !one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = one_of.iter().map(|sub| sub_errors(sub, data, path)).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let extra =
                if valid == 0 { "Found none valid".to_string() } else { format!("Found {valid} valid alternatives") };
            errs.push(composite(format!("{quoted} must validate one and only one schema (oneOf). {extra}")));
            if valid == 0 {
                errs.extend(best_failure(results));
            }
        }
    }
    let all_of = s.list("allOf");
    if !all_of.is_empty() {
        let mut valid = 0;
        for sub in all_of {
            let r = sub_errors(sub, data, path);
            if r.is_empty() {
                valid += 1;
            }
            errs.extend(r);
        }
        if valid != all_of.len() {
            let extra = if valid == 0 { ". None validated" } else { "" };
            errs.push(composite(format!("{quoted} must validate all the schemas (allOf){extra}")));
        }
    }
    if let Some(not) = s.get("not").filter(|n| n.is_object())
        && sub_errors(not, data, path).is_empty()
    {
        errs.push(composite(format!("{quoted} must not validate the schema (not)")));
    }
}

/// The failing alternative that came closest (fewest errors; the first on ties).
fn best_failure(results: Vec<Vec<FieldError>>) -> Vec<FieldError> {
    results.into_iter().min_by_key(Vec::len).unwrap_or_default()
}

fn string(s: Schema<'_>, text: &str, path: &str, errs: &mut Vec<FieldError>) {
    let len = text.chars().count();
    if let Some(max) = s.usize("maxLength").filter(|m| len > *m) {
        let unit = if max == 1 { "byte" } else { "bytes" };
        errs.push(FieldError::new(
            ErrorType::TooLong,
            field(path),
            Value::String("<value omitted>".into()),
            format!("may not be more than {max} {unit}"),
        ));
    }
    if let Some(min) = s.usize("minLength").filter(|m| len < *m) {
        errs.push(FieldError::invalid(
            field(path),
            Value::String(text.to_string()),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = s.str("pattern")
        && format::pattern_matches(pattern, text) == Some(false)
    {
        errs.push(FieldError::invalid(
            field(path),
            Value::String(text.to_string()),
            format!("{path} in body should match '{pattern}'"),
        ));
    }
}

fn number(s: Schema<'_>, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(x) = data.as_f64() else { return };
    let invalid = |detail: String| FieldError::invalid(field(path), data.clone(), detail);
    if let Some(factor) = s.f64("multipleOf") {
        if factor <= 0.0 {
            errs.push(invalid(format!(
                "factor MultipleOf declared for {path} must be positive: {}",
                format_float(factor)
            )));
        } else if !is_multiple(data, x, factor) {
            errs.push(invalid(format!("{path} in body should be a multiple of {}", format_float(factor))));
        }
    }
    if let Some(max) = s.f64("maximum") {
        if s.flag("exclusiveMaximum") && x >= max {
            errs.push(invalid(format!("{path} in body should be less than {}", format_float(max))));
        } else if x > max {
            errs.push(invalid(format!("{path} in body should be less than or equal to {}", format_float(max))));
        }
    }
    if let Some(min) = s.f64("minimum") {
        if s.flag("exclusiveMinimum") && x <= min {
            errs.push(invalid(format!("{path} in body should be greater than {}", format_float(min))));
        } else if x < min {
            errs.push(invalid(format!("{path} in body should be greater than or equal to {}", format_float(min))));
        }
    }
}

fn is_multiple(data: &Value, x: f64, factor: f64) -> bool {
    if let (Some(i), true) = (data.as_i64(), factor.fract() == 0.0 && factor.abs() < 9.0e15) {
        // Exact integer arithmetic; `factor` is a positive whole number below 2^53.
        #[allow(clippy::cast_possible_truncation)]
        return i % (factor as i64) == 0;
    }
    let q = x / factor;
    q.is_finite() && (q - q.round()).abs() < 1e-9
}

fn array(s: Schema<'_>, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(item_schema) = s.items() {
        for (i, v) in items.iter().enumerate() {
            node(item_schema.0, v, &format!("{path}[{i}]"), errs);
        }
    }
    if let Some(min) = s.usize("minItems").filter(|m| items.len() < *m) {
        errs.push(FieldError::invalid(
            field(path),
            Value::from(items.len()),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = s.usize("maxItems").filter(|m| items.len() > *m) {
        let unit = if max == 1 { "item" } else { "items" };
        errs.push(FieldError::new(
            ErrorType::TooMany,
            field(path),
            Value::from(items.len()),
            format!("must have at most {max} {unit}"),
        ));
    }
    if s.flag("uniqueItems") && has_duplicates(items) {
        errs.push(FieldError::invalid(
            field(path),
            Value::String(String::new()),
            format!("{path} in body shouldn't contain duplicates"),
        ));
    }
    listtype::check(s, items, path, errs);
}

fn has_duplicates(items: &[Value]) -> bool {
    items.iter().enumerate().any(|(i, a)| items[..i].contains(a))
}

fn check_enum(s: Schema<'_>, data: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let allowed = s.list("enum");
    if allowed.is_empty() || allowed.iter().any(|e| enum_eq(e, data)) {
        return;
    }
    let names: Vec<String> = allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
    errs.push(FieldError::not_supported(field(path), data.clone(), &names));
}

fn enum_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn object(s: Schema<'_>, map: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    let n = map.len();
    if let Some(min) = s.usize("minProperties").filter(|m| n < *m) {
        errs.push(FieldError::invalid(
            field(path),
            Value::from(n),
            format!("{path} in body should have at least {min} properties"),
        ));
        return;
    }
    if let Some(max) = s.usize("maxProperties").filter(|m| n > *m) {
        let unit = if max == 1 { "item" } else { "items" };
        errs.push(FieldError::new(
            ErrorType::TooMany,
            field(path),
            Value::from(n),
            format!("must have at most {max} {unit}"),
        ));
        return;
    }
    let patterns = s.get("patternProperties").and_then(Value::as_object);
    for (k, v) in map {
        let regular = s.property(k).is_some();
        let mut matched = false;
        for (pattern, sub) in patterns.into_iter().flatten() {
            if format::pattern_matches(pattern, k) == Some(true) {
                matched = true;
                node(sub, v, &child(path, k), errs);
            }
        }
        if regular || matched {
            continue;
        }
        if s.forbids_additional() {
            if !(s.embedded() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) {
                errs.push(FieldError::invalid(
                    field(path),
                    Value::String(k.clone()),
                    format!("{path}.{k} in body is a forbidden property"),
                ));
            }
        } else if let Some(additional) = s.additional() {
            node(additional.0, v, &child(path, k), errs);
        }
    }
    for (name, sub) in s.properties().into_iter().flatten() {
        if let Some(v) = map.get(name) {
            node(sub, v, &child(path, name), errs);
        }
    }
    for req in s.list("required").iter().filter_map(Value::as_str) {
        if !map.contains_key(req) {
            errs.push(FieldError::required(child(path, req), ""));
        }
    }
}
