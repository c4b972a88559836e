//! Review kinds that are computed, never stored: SelfSubjectReview (`kubectl auth whoami`),
//! SelfSubjectAccessReview (`kubectl auth can-i`) and SelfSubjectRulesReview (`can-i --list`).

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::admit::{self, FieldValidation};
use crate::auth::user_json;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Output};
use canopy_rbac::{Attributes, ResourceAttributes};

pub async fn create(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let user = &ctx.user;
    let mut obj = negotiate::decode_body(&ctx.headers, &body)?;
    admit::check_type(&ctx.res, &mut obj)?;
    // Reviews have no name; validation of the typed shape still applies.
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("name");
    }
    let typed_ok = match &ctx.res.validation {
        crate::registry::Validation::Builtin { normalize, .. } => normalize(&obj).map(|v| {
            if let Some(v) = v {
                obj = v;
            }
        }),
        crate::registry::Validation::Custom { .. } => Ok(()),
    };
    typed_ok.map_err(|e| ApiError::BadRequest(format!("{} in body: {e}", ctx.res.kind)))?;
    let _ = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let status = match ctx.res.plural.as_str() {
        "selfsubjectreviews" => json!({"userInfo": user_json(user)}),
        "selfsubjectaccessreviews" => {
            let attrs = access_attributes(&obj)?;
            let d = ctx.api.rbac.authorize(user, &attrs);
            let mut s = json!({"allowed": d.allowed});
            // Upstream's RBAC gives a denial no reason unless roles failed to resolve.
            let reason = match d.reason.split_once(": RBAC: ") {
                _ if d.allowed => d.reason.clone(),
                Some((_, errors)) => format!("RBAC: {errors}"),
                None => String::new(),
            };
            if !reason.is_empty() {
                s["reason"] = json!(reason);
            }
            s
        }
        "selfsubjectrulesreviews" => {
            let ns = obj.pointer("/spec/namespace").and_then(Value::as_str).unwrap_or_default();
            ctx.api.rbac.policy().rules_review_status(user, ns)
        }
        other => return Err(ApiError::MethodNotAllowed(format!("{other} cannot be created"))),
    };
    obj["status"] = status;
    obj["metadata"] = json!({"creationTimestamp": null});
    Ok(negotiate::respond(StatusCode::CREATED, Output::Json, &obj, &[]))
}

fn access_attributes(obj: &Value) -> ApiResult<Attributes> {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(path) = obj.pointer("/spec/nonResourceAttributes/path").and_then(Value::as_str) {
        return Ok(Attributes::non_resource(s("/spec/nonResourceAttributes/verb"), path));
    }
    if obj.pointer("/spec/resourceAttributes").is_none() {
        return Err(ApiError::invalid(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "",
            vec!["spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into()],
        ));
    }
    let r = |f: &str| s(&format!("/spec/resourceAttributes/{f}"));
    let attrs = ResourceAttributes::new(r("verb"), r("group"), r("resource"))
        .in_namespace(r("namespace"))
        .named(r("name"))
        .subresource(r("subresource"));
    Ok(Attributes::Resource(attrs))
}
