//! The pod subresources the scheduler and `kubectl drain` use: `pods/binding` assigns a pending
//! pod to a host, once; `pods/eviction` (policy/v1 Eviction) deletes it gracefully.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;
use crate::negotiate::{self, Output};
use crate::objects::{DeleteOptions, Deleted};

fn success(code: StatusCode) -> Response {
    let body =
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code.as_u16()});
    negotiate::respond(code, Output::Json, &body, &[])
}

fn body_or_empty(ctx: &Ctx, body: &Bytes) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    negotiate::decode_body(&ctx.headers, body)
}

/// `POST pods/{name}/binding`: sets `spec.nodeName` and the PodScheduled condition. A pod is bound
/// at most once (409 as upstream), which is what keeps two schedulers from both placing it.
pub async fn bind(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let binding = body_or_empty(&ctx, &body)?;
    let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let invalid = |msg: &str| ApiError::invalid("Binding", "", ctx.name(), vec![msg.to_string()]);
    if node.is_empty() {
        return Err(invalid("target.name: Required value"));
    }
    if let Some(kind) = binding.pointer("/target/kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != "Node"
    {
        return Err(invalid(&format!("target.kind: Unsupported value: {kind:?}: supported values: \"Node\"")));
    }
    if let Some(name) = binding.pointer("/metadata/name").and_then(Value::as_str)
        && name != ctx.name()
    {
        return Err(ApiError::BadRequest(format!(
            "the name of the binding ({name}) does not match the pod ({})",
            ctx.name()
        )));
    }
    let now = meta::now_rfc3339();
    let pod = ctx.name().to_string();
    ctx.api
        .objects
        .update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run()?, |mut current| {
            if meta::is_deleting(&current) {
                return Err(ApiError::Conflict(
                    Target::new("", "pods", &pod),
                    format!("pod {pod} is being deleted, cannot be assigned to a host"),
                ));
            }
            if let Some(bound) = current.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                return Err(ApiError::Conflict(
                    Target::new("", "pods", &pod),
                    format!("pod {pod} is already assigned to node \"{bound}\""),
                ));
            }
            current["spec"]["nodeName"] = json!(node);
            set_condition(&mut current, json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now}));
            meta::meta_mut(&mut current).remove("resourceVersion");
            Ok(current)
        })
        .await?;
    Ok(success(StatusCode::CREATED))
}

fn set_condition(pod: &mut Value, condition: Value) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut kept: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != condition["type"]).collect();
    kept.push(condition);
    pod["status"]["conditions"] = Value::Array(kept);
}

/// `POST pods/{name}/eviction`: a graceful delete with the Eviction's delete options. Canopy has
/// no PodDisruptionBudgets yet, so an eviction is never refused for budget reasons.
pub async fn evict(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let eviction = body_or_empty(&ctx, &body)?;
    if let Some(name) = eviction.pointer("/metadata/name").and_then(Value::as_str)
        && name != ctx.name()
    {
        return Err(ApiError::BadRequest(format!(
            "name in URL does not match name in Eviction object ({name} != {})",
            ctx.name()
        )));
    }
    let o = &eviction["deleteOptions"];
    let opts = DeleteOptions {
        propagation: None,
        uid: o.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        resource_version: o.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string),
        grace_period_seconds: o["gracePeriodSeconds"].as_i64(),
        dry_run: ctx.dry_run()? || o["dryRun"].as_array().is_some_and(|d| d.iter().any(|x| x == "All")),
    };
    match ctx.api.objects.delete(&ctx.res, ctx.ns(), ctx.name(), &opts).await? {
        Deleted::Now(_) | Deleted::Pending(_) => Ok(success(StatusCode::CREATED)),
    }
}
