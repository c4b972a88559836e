//! HTTP entry points: routing of every `/api` and `/apis` request to the verb handlers.

mod pod_streams;
mod pods;
mod read;
mod reviews;
mod scale;
mod tokens;
mod watch;
mod write;

pub use watch::EncodedEvents;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;

use crate::auth::User;
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, MAX_BODY};
use crate::request::{Query, ResourcePath, parse_resource_path};
use crate::{Api, openapi};
use canopy_rbac::{Attributes, ResourceAttributes};

/// Everything a verb handler needs about one request.
pub struct Ctx {
    pub api: Api,
    pub user: User,
    pub res: Arc<crate::registry::Resource>,
    pub path: ResourcePath,
    pub query: Query,
    pub headers: HeaderMap,
}

impl Ctx {
    pub fn ns(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or_default()
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.query.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => {
                Err(ApiError::BadRequest(format!("unsupported dry run value {other:?}; only \"All\" is supported")))
            }
        }
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    negotiate::respond(code, negotiate::Output::Json, body, &[])
}

/// The fallback handler: everything that is not a fixed route.
pub async fn dispatch(State(api): State<Api>, req: Request) -> Response {
    match route(api, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn route(api: Api, req: Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    // Public paths (`/version/`) reach here without a user; resources never do.
    let user = parts.extensions.get::<User>().cloned();
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let query = Query::parse(parts.uri.query());
    let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let get = parts.method == Method::GET;
    let is_resource = matches!(segs.as_slice(), ["api", _, _, ..] | ["apis", _, _, _, ..]);
    if !is_resource && let Some(u) = &user {
        authorize_path(&api, u, parts.uri.path())?;
    }
    match segs.as_slice() {
        ["version"] if get => Ok(json_response(StatusCode::OK, &discovery::version())),
        ["api"] if get => Ok(discovery_response(&api, true, &accept)),
        ["apis"] if get => Ok(discovery_response(&api, false, &accept)),
        ["api", "v1"] if get => discovery::resource_list(&api.registry, "", "v1")
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or(ApiError::NoRoute),
        ["apis", group] if get => discovery::api_group(&api.registry, group)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or(ApiError::NoRoute),
        ["apis", group, version] if get => discovery::resource_list(&api.registry, group, version)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or(ApiError::NoRoute),
        ["openapi", "v3"] if get => Ok(json_response(StatusCode::OK, &api.openapi.get(&api.registry).root)),
        ["openapi", "v3", rest @ ..] if get => api
            .openapi
            .get(&api.registry)
            .group_versions
            .get(&rest.join("/"))
            .map(|v| json_response(StatusCode::OK, v))
            .ok_or(ApiError::NoRoute),
        ["openapi", "v2"] if get => openapi_v2(&api, &accept),
        ["api", version, rest @ ..] => {
            let p = parse_resource_path("", version, rest)?;
            let user = user.ok_or(ApiError::Unauthorized)?;
            resource(api, p, query, parts, body, user).await
        }
        ["apis", group, version, rest @ ..] => {
            let p = parse_resource_path(group, version, rest)?;
            let user = user.ok_or(ApiError::Unauthorized)?;
            resource(api, p, query, parts, body, user).await
        }
        _ => Err(ApiError::NoRoute),
    }
}

fn openapi_v2(api: &Api, accept: &str) -> ApiResult<Response> {
    // kubectl asks for protobuf first; answer JSON only to clients that accept it.
    if !accept.is_empty() && !accept.contains("application/json") && !accept.contains("*/*") {
        return Err(ApiError::NotAcceptable);
    }
    Ok(json_response(StatusCode::OK, &openapi::v2(&api.registry)))
}

fn discovery_response(api: &Api, core: bool, accept: &str) -> Response {
    match discovery::wants_aggregated(accept) {
        Some(v) => {
            let body = discovery::aggregated(&api.registry, core, v);
            let ctype = if v == "v2" { discovery::AGGREGATED_V2 } else { discovery::AGGREGATED_V2BETA1 };
            let mut resp = json_response(StatusCode::OK, &body);
            resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ctype));
            resp.headers_mut().insert("vary", http::HeaderValue::from_static("Accept"));
            resp
        }
        None if core => json_response(StatusCode::OK, &discovery::api_versions()),
        None => json_response(StatusCode::OK, &discovery::api_group_list(&api.registry)),
    }
}

async fn read_body(body: Body) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(format!("the request body exceeds {MAX_BODY} bytes")))
}

async fn resource(
    api: Api,
    path: ResourcePath,
    query: Query,
    parts: http::request::Parts,
    body: Body,
    user: User,
) -> ApiResult<Response> {
    let http::request::Parts { method, headers, mut extensions, .. } = parts;
    // A WebSocket exec switches protocols on this connection.
    let upgrade = extensions.remove::<hyper::upgrade::OnUpgrade>();
    let res = api.registry.get(&path.group, &path.version, &path.resource).ok_or(ApiError::NoRoute)?;
    if path.namespace.is_some() && !res.namespaced {
        return Err(ApiError::NoRoute);
    }
    // Namespaced objects are addressed inside a namespace; only list and watch span them all.
    if res.namespaced && path.namespace.is_none() && (path.name.is_some() || method != Method::GET) {
        return Err(ApiError::NoRoute);
    }
    let ctx = Ctx { api, user, res, path, query, headers };
    if let Err(denied) = authorize(&ctx, &method, &ctx.user) {
        // A user granted by the namespace template may create a namespace of its own.
        let creating_namespace = method == Method::POST && ctx.res.group.is_empty() && ctx.res.plural == "namespaces";
        if creating_namespace
            && let Some(template) = crate::selfservice::template_for(&ctx.api.objects, &ctx.user).await?
        {
            return write::create_self_service_namespace(ctx, template, read_body(body).await?).await;
        }
        // ... and the OWNER of such a namespace may delete it.
        let deleting_namespace = method == Method::DELETE
            && ctx.res.group.is_empty()
            && ctx.res.plural == "namespaces"
            && ctx.path.subresource.is_none()
            && !ctx.name().is_empty();
        if deleting_namespace {
            return write::delete_self_service_namespace(ctx, read_body(body).await?, denied).await;
        }
        return Err(denied);
    }
    if ctx.res.review {
        return match (method, ctx.path.name.is_some(), ctx.path.subresource.is_some()) {
            (Method::POST, false, false) => reviews::create(ctx, read_body(body).await?).await,
            (m, ..) => Err(ApiError::MethodNotAllowed(format!("{m} is not supported on {}", ctx.res.plural))),
        };
    }
    let sub = ctx.path.subresource.clone();
    let has_name = ctx.path.name.is_some();
    match (method.clone(), has_name, sub.as_deref()) {
        (Method::GET, false, None) if ctx.query.flag("watch") => watch::watch(ctx).await,
        (Method::GET, false, None) => read::list(ctx).await,
        (Method::GET, true, None | Some("status")) => read::get(ctx).await,
        (Method::POST, false, None) => write::create(ctx, read_body(body).await?).await,
        (Method::PUT, true, None | Some("status") | Some("finalize")) => {
            write::update(ctx, read_body(body).await?).await
        }
        (Method::PATCH, true, None | Some("status")) => write::patch(ctx, read_body(body).await?).await,
        (Method::DELETE, true, None) => write::delete(ctx, read_body(body).await?).await,
        (Method::DELETE, false, None) => write::delete_collection(ctx, read_body(body).await?).await,
        (Method::GET, true, Some("scale")) => scale::get(ctx).await,
        (Method::POST, true, Some("binding")) if valid_subresource(&ctx, "binding") => {
            pods::bind(ctx, read_body(body).await?).await
        }
        (Method::POST, true, Some("eviction")) if valid_subresource(&ctx, "eviction") => {
            pods::evict(ctx, read_body(body).await?).await
        }
        (Method::GET, true, Some("log")) if valid_subresource(&ctx, "log") => pod_streams::logs(ctx).await,
        (Method::GET | Method::POST, true, Some("exec")) if valid_subresource(&ctx, "exec") => {
            pod_streams::exec(ctx, &method, upgrade).await
        }
        (Method::POST, true, Some("token")) if valid_subresource(&ctx, "token") => {
            tokens::create(ctx, read_body(body).await?).await
        }
        (Method::PUT | Method::PATCH, true, Some("scale")) => {
            let patch = ctx.headers.get(header::CONTENT_TYPE).is_some_and(|c| {
                c.as_bytes().starts_with(b"application/merge-patch")
                    || c.as_bytes().starts_with(b"application/json-patch")
                    || c.as_bytes().starts_with(b"application/strategic")
            });
            scale::update(ctx, read_body(body).await?, patch).await
        }
        (m, _, Some(s)) if valid_subresource(&ctx, s) => {
            Err(ApiError::MethodNotAllowed(format!("{m} is not supported on {s}")))
        }
        (_, _, Some(_)) => Err(ApiError::NoRoute),
        (m, _, None) => Err(ApiError::MethodNotAllowed(format!("{m} is not supported here"))),
    }
}

/// The RBAC verb of a resource request, as upstream derives it.
fn verb(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) if watch => "watch",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

/// Every resource request passes RBAC; a denial is upstream's 403 wording.
fn authorize(ctx: &Ctx, method: &Method, user: &User) -> ApiResult<()> {
    // Running a command is a create whatever the method (a WebSocket upgrade is a GET), as
    // upstream does with AuthorizePodWebsocketUpgradeCreatePermission.
    let streaming = ctx.path.subresource.as_deref() == Some("exec");
    let verb = if streaming { "create" } else { verb(method, ctx.path.name.is_some(), ctx.query.flag("watch")) };
    let mut attrs = ResourceAttributes::new(verb, ctx.res.group.as_str(), ctx.res.plural.as_str())
        .in_namespace(ctx.ns().unwrap_or_default())
        .named(ctx.name());
    if let Some(sub) = &ctx.path.subresource {
        attrs = attrs.subresource(sub.as_str());
    }
    let attrs = Attributes::Resource(attrs);
    if ctx.api.rbac.authorize(user, &attrs).allowed {
        return Ok(());
    }
    let subject = if ctx.name().is_empty() {
        ctx.res.group_resource()
    } else {
        format!("{} \"{}\"", ctx.res.group_resource(), ctx.name())
    };
    Err(ApiError::Forbidden(format!("{subject} is forbidden: {}", canopy_rbac::forbidden_message(user, &attrs))))
}

/// Discovery, OpenAPI and the other non-resource paths pass RBAC too (`system:discovery`).
fn authorize_path(api: &Api, user: &User, path: &str) -> ApiResult<()> {
    let attrs = Attributes::non_resource("get", path);
    if api.rbac.authorize(user, &attrs).allowed {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!("forbidden: {}", canopy_rbac::forbidden_message(user, &attrs))))
}

fn valid_subresource(ctx: &Ctx, sub: &str) -> bool {
    match sub {
        "status" => ctx.res.status,
        "scale" => ctx.res.scale.is_some(),
        "finalize" => ctx.res.plural == "namespaces" && ctx.res.group.is_empty(),
        "token" => ctx.res.plural == "serviceaccounts" && ctx.res.group.is_empty(),
        "binding" | "eviction" | "log" | "exec" => ctx.res.plural == "pods" && ctx.res.group.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_upstream() {
        assert_eq!(verb(&Method::GET, true, false), "get");
        assert_eq!(verb(&Method::GET, false, false), "list");
        assert_eq!(verb(&Method::GET, false, true), "watch");
        assert_eq!(verb(&Method::POST, false, false), "create");
        assert_eq!(verb(&Method::PUT, true, false), "update");
        assert_eq!(verb(&Method::PATCH, true, false), "patch");
        assert_eq!(verb(&Method::DELETE, true, false), "delete");
        assert_eq!(verb(&Method::DELETE, false, false), "deletecollection");
    }
}
