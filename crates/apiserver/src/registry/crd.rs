//! Turning a CustomResourceDefinition into served resources, one per served version.

use serde_json::Value;

use super::{PrinterColumn, Resource, ScalePaths, Validation};

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The resources a CRD serves (empty when it serves none). The CRD must already be validated.
pub fn resources_from_crd(crd: &Value) -> Vec<Resource> {
    let name = str_at(crd, "/metadata/name").to_string();
    let spec = &crd["spec"];
    let group = str_at(spec, "/group").to_string();
    let kind = str_at(spec, "/names/kind").to_string();
    let plural = str_at(spec, "/names/plural").to_string();
    let singular = match str_at(spec, "/names/singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let list_kind = match str_at(spec, "/names/listKind") {
        "" => format!("{kind}List"),
        s => s.to_string(),
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .map(|v| str_at(v, "/name").to_string())
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool() == Some(true))
        .map(|v| {
            let version = str_at(v, "/name").to_string();
            let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
                spec_replicas: str_at(s, "/specReplicasPath").to_string(),
                status_replicas: str_at(s, "/statusReplicasPath").to_string(),
                label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
            });
            let columns = v["additionalPrinterColumns"]
                .as_array()
                .map(|cols| cols.iter().map(printer_column).collect())
                .unwrap_or_default();
            Resource {
                group: group.clone(),
                version,
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings_at(spec, "/names/shortNames"),
                categories: strings_at(spec, "/names/categories"),
                namespaced: str_at(spec, "/scope") != "Cluster",
                status: v.pointer("/subresources/status").is_some(),
                scale,
                strategic_merge: false,
                storage_version: storage_version.clone(),
                validation: Validation::Custom { schema: v.pointer("/schema/openAPIV3Schema").cloned() },
                columns,
                crd: Some(name.clone()),
                review: false,
            }
        })
        .collect()
}

fn printer_column(c: &Value) -> PrinterColumn {
    PrinterColumn {
        name: str_at(c, "/name").to_string(),
        type_: str_at(c, "/type").to_string(),
        format: str_at(c, "/format").to_string(),
        description: str_at(c, "/description").to_string(),
        priority: c["priority"].as_i64().unwrap_or(0),
        json_path: str_at(c, "/jsonPath").to_string(),
    }
}

/// Upstream's version priority: GA > beta > alpha, higher numbers first, then non-Kube-like names.
pub fn version_priority(v: &str) -> (u8, i64, i64) {
    let rest = match v.strip_prefix('v') {
        Some(r) => r,
        None => return (0, 0, 0),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<i64>() else { return (0, 0, 0) };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (stage, n) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    match n.parse::<i64>() {
        Ok(minor) => (stage, major, minor),
        Err(_) => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_orders_like_upstream() {
        let mut vs = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo", "v1beta1"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
