//! The `scale` subresource (`autoscaling/v1` Scale) over a kind's replica paths.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Output};
use crate::registry::ScalePaths;
use crate::table::jsonpath;

fn paths(ctx: &Ctx) -> ApiResult<ScalePaths> {
    ctx.res.scale.clone().ok_or(ApiError::NoRoute)
}

fn to_scale(obj: &Value, p: &ScalePaths) -> Value {
    let m = &obj["metadata"];
    let mut status = json!({"replicas": jsonpath(obj, &p.status_replicas).as_i64().unwrap_or(0)});
    if let Some(sel) = &p.label_selector
        && let Some(s) = jsonpath(obj, sel).as_str()
    {
        status["selector"] = json!(s);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": jsonpath(obj, &p.spec_replicas).as_i64().unwrap_or(0)},
        "status": status,
    })
}

/// Writes `value` at a simple `.a.b` path.
fn set_path(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = obj;
    for part in &parts[..parts.len() - 1] {
        if !cur.get(*part).is_some_and(Value::is_object) {
            cur[*part] = json!({});
        }
        cur = &mut cur[*part];
    }
    cur[parts[parts.len() - 1]] = value;
}

pub async fn get(ctx: Ctx) -> ApiResult<Response> {
    let p = paths(&ctx)?;
    let obj = ctx.api.objects.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    Ok(negotiate::respond(StatusCode::OK, Output::Json, &to_scale(&obj, &p), &[]))
}

pub async fn update(ctx: Ctx, body: Bytes, is_patch: bool) -> ApiResult<Response> {
    let p = paths(&ctx)?;
    let doc = negotiate::decode_body(&ctx.headers, &body)?;
    let updated = ctx
        .api
        .objects
        .update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run()?, |mut current| {
            let scale = to_scale(&current, &p);
            let desired = if is_patch {
                let mut s = scale.clone();
                canopy_machinery::merge::apply_merge_patch(&mut s, &doc);
                s
            } else {
                doc.clone()
            };
            let replicas =
                desired.pointer("/spec/replicas").and_then(Value::as_i64).filter(|r| *r >= 0).ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        ctx.name(),
                        vec!["spec.replicas: Invalid value: must be greater than or equal to 0".into()],
                    )
                })?;
            set_path(&mut current, &p.spec_replicas, json!(replicas));
            if let Some(rv) = desired
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty() && !is_patch)
            {
                current["metadata"]["resourceVersion"] = json!(rv);
            } else if let Some(m) = current["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            Ok(current)
        })
        .await?;
    Ok(negotiate::respond(StatusCode::OK, Output::Json, &to_scale(&updated, &p), &[]))
}
