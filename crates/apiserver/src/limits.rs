//! LimitRange admission for pods (upstream's LimitRanger): containers without requests or limits
//! get the namespace's defaults, and `min`/`max` per container are enforced.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::objects::{ListParams, Objects};
use crate::quantity::Milli;

/// Applies the Container limit ranges of `ns` to a pod about to be created.
pub async fn admit_pod(objects: &Objects, ns: &str, pod: &mut Value) -> ApiResult<()> {
    let res = objects.registry.get("", "v1", "limitranges").expect("limitranges are built in");
    let ranges = objects.list(&res, Some(ns), &ListParams::default(), &|_| true).await?.items;
    for range in &ranges {
        for item in range.pointer("/spec/limits").and_then(Value::as_array).into_iter().flatten() {
            if item["type"].as_str() != Some("Container") {
                continue;
            }
            for list in ["initContainers", "containers"] {
                for c in pod.pointer_mut(&format!("/spec/{list}")).and_then(Value::as_array_mut).into_iter().flatten() {
                    apply_defaults(item, c);
                    check_bounds(item, c)?;
                }
            }
        }
    }
    Ok(())
}

fn apply_defaults(item: &Value, c: &mut Value) {
    let empty = Map::new();
    let default = item.get("default").and_then(Value::as_object).unwrap_or(&empty);
    let default_request = item.get("defaultRequest").and_then(Value::as_object).unwrap_or(&empty);
    // Pod defaulting first: a container's own limit is its request when it sets none.
    let own_limits = c.pointer("/resources/limits").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut requests = c.pointer("/resources/requests").and_then(Value::as_object).cloned().unwrap_or_default();
    for (r, v) in &own_limits {
        requests.entry(r.clone()).or_insert_with(|| v.clone());
    }
    // Then the range: missing limits from `default`, missing requests from `defaultRequest`
    // (which upstream defaults to `default`).
    let mut limits = own_limits;
    for (r, v) in default {
        limits.entry(r.clone()).or_insert_with(|| v.clone());
    }
    for r in default_request.keys().chain(default.keys()) {
        let v = default_request.get(r).or_else(|| default.get(r)).cloned().unwrap_or(Value::Null);
        requests.entry(r.clone()).or_insert(v);
    }
    if limits.is_empty() && requests.is_empty() {
        return;
    }
    if !c.get("resources").is_some_and(Value::is_object) {
        c["resources"] = json!({});
    }
    if !limits.is_empty() {
        c["resources"]["limits"] = Value::Object(limits);
    }
    if !requests.is_empty() {
        c["resources"]["requests"] = Value::Object(requests);
    }
}

fn quantity(v: Option<&Value>) -> Option<Milli> {
    v.and_then(Value::as_str).and_then(|q| Milli::parse(q).ok())
}

fn check_bounds(item: &Value, c: &Value) -> ApiResult<()> {
    for (resource, max) in item.get("max").and_then(Value::as_object).into_iter().flatten() {
        let Some(max) = quantity(Some(max)) else { continue };
        match quantity(c.pointer(&format!("/resources/limits/{resource}"))) {
            None => {
                return Err(ApiError::Forbidden(format!(
                    "maximum {resource} usage per Container is {}.  No limit is specified",
                    max.format()
                )));
            }
            Some(l) if l > max => {
                return Err(ApiError::Forbidden(format!(
                    "maximum {resource} usage per Container is {}, but limit is {}",
                    max.format(),
                    l.format()
                )));
            }
            _ => {}
        }
    }
    for (resource, min) in item.get("min").and_then(Value::as_object).into_iter().flatten() {
        let Some(min) = quantity(Some(min)) else { continue };
        match quantity(c.pointer(&format!("/resources/requests/{resource}"))) {
            None => {
                return Err(ApiError::Forbidden(format!(
                    "minimum {resource} usage per Container is {}.  No request is specified",
                    min.format()
                )));
            }
            Some(r) if r < min => {
                return Err(ApiError::Forbidden(format!(
                    "minimum {resource} usage per Container is {}, but request is {}",
                    min.format(),
                    r.format()
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let item = json!({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"}});
        let mut c = json!({"name": "c", "resources": {"limits": {"memory": "1Gi"}}});
        apply_defaults(&item, &mut c);
        assert_eq!(c["resources"]["limits"], json!({"memory": "1Gi", "cpu": "500m"}));
        assert_eq!(c["resources"]["requests"], json!({"memory": "1Gi", "cpu": "100m"}));
        let mut bare = json!({"name": "c"});
        apply_defaults(&item, &mut bare);
        assert_eq!(bare["resources"]["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
        assert_eq!(bare["resources"]["requests"], json!({"cpu": "100m", "memory": "256Mi"}));
    }

    #[test]
    fn bounds() {
        let item = json!({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}});
        let ok = json!({"resources": {"limits": {"cpu": "1"}, "requests": {"memory": "128Mi"}}});
        assert!(check_bounds(&item, &ok).is_ok());
        let big = json!({"resources": {"limits": {"cpu": "4"}, "requests": {"memory": "128Mi"}}});
        assert!(
            check_bounds(&item, &big)
                .is_err_and(|e| e.to_string().contains("maximum cpu usage per Container is 2, but limit is 4"))
        );
    }
}
