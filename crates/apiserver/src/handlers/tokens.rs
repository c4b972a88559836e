//! `serviceaccounts/{name}/token` (TokenRequest, `kubectl create token`): a bearer token for a
//! ServiceAccount, the credential of in-platform clients (controllers, host agents).

use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::negotiate::{self, Output};

/// Upstream's bounds: at least 10 minutes, one hour by default, at most 48 hours here.
const MIN_SECONDS: i64 = 600;
const DEFAULT_SECONDS: i64 = 3600;
const MAX_SECONDS: i64 = 48 * 3600;

pub async fn create(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let request =
        if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { negotiate::decode_body(&ctx.headers, &body)? };
    let seconds = request.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(DEFAULT_SECONDS);
    if seconds < MIN_SECONDS {
        return Err(ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            ctx.name(),
            vec![format!(
                "spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
            )],
        ));
    }
    let seconds = seconds.min(MAX_SECONDS);
    let sa = ctx.api.objects.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    let ns = ctx.ns().unwrap_or_default();
    let issued = ctx.api.directory.issue_service_account_token(
        ns,
        ctx.name(),
        meta::uid(&sa),
        Duration::from_secs(seconds as u64),
    );
    let mut spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["expirationSeconds"] = json!(seconds);
    if spec.get("audiences").is_none() {
        spec["audiences"] = json!([]);
    }
    let answer = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": ctx.name(), "namespace": ns, "creationTimestamp": meta::now_rfc3339()},
        "spec": spec,
        "status": {"token": issued.token, "expirationTimestamp": meta::format_rfc3339(issued.expires_at as i64)},
    });
    Ok(negotiate::respond(StatusCode::CREATED, Output::Json, &answer, &[]))
}
