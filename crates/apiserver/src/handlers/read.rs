//! get and list.

use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::negotiate::{self, Output};
use crate::objects::{ListParams, parse_rv};
use crate::table;

pub async fn get(ctx: Ctx) -> ApiResult<Response> {
    if ctx.path.subresource.as_deref() == Some("status") && !ctx.res.status {
        return Err(ApiError::NoRoute);
    }
    let out = negotiate::output(&ctx.headers)?;
    let obj = ctx.api.objects.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    let body = match out {
        Output::Table => table::to_table(
            &ctx.res,
            std::slice::from_ref(&obj),
            json!({}),
            ctx.query.get("includeObject").unwrap_or("Metadata"),
        ),
        Output::Metadata => negotiate::partial_metadata(&obj),
        _ => obj,
    };
    Ok(negotiate::respond(StatusCode::OK, out, &body, &[]))
}

/// Reads `limit`, `continue`, `resourceVersion` and `resourceVersionMatch` as upstream does.
pub fn list_params(ctx: &Ctx) -> ApiResult<ListParams> {
    let limit = ctx.query.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let rv = ctx.query.get("resourceVersion");
    let mut params =
        ListParams { limit, continue_token: ctx.query.get("continue").map(str::to_string), ..Default::default() };
    match (ctx.query.get("resourceVersionMatch"), rv) {
        (Some("Exact"), Some(rv)) => params.exact_revision = Some(parse_rv(rv)?),
        (Some("Exact"), None) => {
            return Err(ApiError::BadRequest(
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ));
        }
        (Some("NotOlderThan") | None, Some(rv)) if rv != "0" => params.min_revision = Some(parse_rv(rv)?),
        (Some("NotOlderThan") | None, _) => {}
        (Some(other), _) => {
            return Err(ApiError::BadRequest(format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
    }
    if params.continue_token.is_some() && rv.is_some_and(|r| r != "0") {
        return Err(ApiError::BadRequest("specifying resource version is not allowed when using continue".into()));
    }
    Ok(params)
}

pub async fn list(ctx: Ctx) -> ApiResult<Response> {
    let out = negotiate::output(&ctx.headers)?;
    let filter = Filter::parse(&ctx.res, ctx.query.get("labelSelector"), ctx.query.get("fieldSelector"))?;
    let params = list_params(&ctx)?;
    let page = ctx.api.objects.list_matching(&ctx.res, ctx.ns(), &params, &filter).await?;
    let mut list_meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(c) = &page.continue_token {
        list_meta["continue"] = json!(c);
    }
    let body = match out {
        Output::Table => {
            table::to_table(&ctx.res, &page.items, list_meta, ctx.query.get("includeObject").unwrap_or("Metadata"))
        }
        Output::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta,
            "items": page.items.iter().map(negotiate::partial_metadata).collect::<Vec<_>>(),
        }),
        _ => json!({
            "kind": ctx.res.list_kind,
            "apiVersion": ctx.res.api_version(),
            "metadata": list_meta,
            "items": page.items,
        }),
    };
    Ok(negotiate::respond(StatusCode::OK, out, &body, &[]))
}
