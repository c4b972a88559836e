//! Canopy's Kubernetes-compatible API server.
//!
//! Owns: HTTPS serving, authentication, discovery, OpenAPI, the generic REST verbs over every
//! registered kind (built-in and CRD), watch, patches, Table output, and the server's own
//! control loops (CRDs, namespace termination, garbage collection).
//! Does not own: persistence (the `Store` trait in `canopy-store`) or pure machinery such as
//! selectors and patch algorithms (`canopy-machinery`). It is the only component that touches
//! the store; everything else is an API client.

mod admit;
mod agents;
mod apply;
mod auth;
mod controllers;
mod crds;
mod defaults;
mod discovery;
mod error;
mod fieldset;
mod fieldtree;
mod filter;
mod handlers;
mod iam;
#[cfg(test)]
mod json_strategy;
mod limits;
mod meta;
mod negotiate;
mod objects;
mod openapi;
mod patch;
mod pki;
mod projection;
mod quantity;
mod quota;
mod registry;
mod request;
mod selfservice;
mod serve;
mod table;
mod vapi;
mod wire;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub use error::ApiError;
pub use serve::{Local, RunningServer, ServerConfig, start};

use crate::objects::Objects;
use crate::registry::Registry;

/// Shared state of every request: one pointer, cloned into every request and middleware
/// (cloning the members themselves was a dozen atomic counts up and down per request).
#[derive(Clone)]
pub struct Api(Arc<ApiState>);

impl std::ops::Deref for Api {
    type Target = ApiState;

    fn deref(&self) -> &ApiState {
        &self.0
    }
}

pub struct ApiState {
    objects: Objects,
    registry: Registry,
    authn: Arc<auth::Authenticator>,
    rbac: Arc<auth::Rbac>,
    directory: Arc<iam::Directory>,
    ca_pem: Arc<str>,
    openapi: Arc<openapi::Cache>,
    /// Requests in flight, watches excluded (upstream's `--max-requests-inflight`).
    inflight: Arc<tokio::sync::Semaphore>,
    /// Serialises quota charges per namespace.
    quota_locks: Arc<quota::QuotaLocks>,
    /// Watch events encoded once for all watchers.
    encoded: Arc<handlers::EncodedEvents>,
    /// Credentials for the proxied host endpoints (logs, exec).
    agents: Arc<agents::Agents>,
}

/// The most non-watch requests served at once; more get 429 with `Retry-After`.
pub const MAX_REQUESTS_INFLIGHT: usize = 800;

/// Paths anyone may read, as upstream's `system:public-info-viewer`.
fn is_public(path: &str) -> bool {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    matches!(path, "/wcp/login" | "/wcp/loginbanner" | "/api/session")
        || matches!(path, "/version" | "/healthz" | "/livez" | "/readyz")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

async fn authenticate(State(api): State<Api>, mut req: Request, next: Next) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    let token = session_token(req.headers());
    let token = token.as_deref();
    let user = match token {
        Some(t) => match api.authn.authenticate(t) {
            Some(admin) => Some(admin),
            None => match api.directory.verify(t) {
                Some(iam::Verified::User(u)) => Some(u),
                Some(iam::Verified::ServiceAccount { namespace, name, uid }) => {
                    service_account(&api, &namespace, &name, &uid).await
                }
                None => None,
            },
        },
        None => None,
    };
    let Some(user) = user else {
        return ApiError::Unauthorized.into_response();
    };
    match auth::impersonate(&api.rbac, user, req.headers()) {
        Ok(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Sheds load instead of queueing without bound. Watches are long-lived and not counted.
async fn limit_inflight(State(api): State<Api>, req: Request, next: Next) -> Response {
    let watch = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    if watch {
        return next.run(req).await;
    }
    match api.inflight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::TooManyRequests.into_response(),
    }
}

/// A panic in a handler becomes a 500 `Status`, never a dropped connection.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::Internal(format!("the server panicked while handling the request: {detail}")).into_response()
}

/// The user of a ServiceAccount token, if the account still exists with the token's uid.
async fn service_account(api: &Api, namespace: &str, name: &str, uid: &str) -> Option<canopy_rbac::UserInfo> {
    let res = api.registry.get("", "v1", "serviceaccounts")?;
    let sa = api.objects.get(&res, Some(namespace), name).await.ok()?;
    (meta::uid(&sa) == uid).then(|| canopy_rbac::UserInfo::service_account(namespace, name))
}

/// The bearer token of a request: `Authorization: Bearer` (Kubernetes clients) or
/// `vmware-api-session-id` (vSphere Automation clients).
pub(crate) fn session_token(headers: &http::HeaderMap) -> Option<String> {
    let bearer =
        headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let session = headers.get("vmware-api-session-id").and_then(|v| v.to_str().ok());
    bearer.or(session).map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// The client's address, attached to every request of a connection.
#[derive(Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// `POST /wcp/login` with Basic auth, as `kubectl vsphere login` sends it: a session token, the
/// namespaces the user may use, and the CA that signs this server's certificate.
async fn login(State(api): State<Api>, req: Request) -> Response {
    let client = req.extensions().get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0.ip());
    let auth = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (name, token) = match api.directory.login(auth.as_deref(), client) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let Some(user) = api.directory.authenticate(&token.token) else {
        return ApiError::Unauthorized.into_response();
    };
    let namespaces = match iam::accessible_namespaces(&api.objects, &api.rbac, &user).await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    Json(serde_json::json!({
        "session_id": token.token,
        "user": name,
        "expires_at": token.expires_at,
        "namespaces": namespaces,
        "server_ca": &*api.ca_pem,
    }))
    .into_response()
}

/// `POST /wcp/logout` with the session's bearer token revokes it.
async fn logout(State(api): State<Api>, req: Request) -> Response {
    match session_token(req.headers()).map(|t| api.directory.revoke(&t)) {
        Some(Ok(())) => Json(serde_json::json!({"status": "logged out"})).into_response(),
        Some(Err(e)) => e.into_response(),
        None => ApiError::Unauthorized.into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(healthz))
        .route("/wcp/login", axum::routing::post(login))
        .route("/wcp/logout", axum::routing::post(logout))
        .route("/wcp/loginbanner", get(|| async { "Canopy" }))
        .merge(vapi::routes())
        .fallback(handlers::dispatch)
        .with_state(api)
}

/// The router behind what every request passes first: panics caught, the client
/// authenticated, requests in flight limited. Wrapped around the router rather than layered
/// into it, where it would be copied into every request's route service.
pub(crate) fn service(
    api: Api,
    router: Router,
    peer: std::net::SocketAddr,
) -> impl tower::Service<
    Request,
    Response = http::Response<
        impl hyper::body::Body<Data = bytes::Bytes, Error = impl Into<tower::BoxError>> + Send + 'static,
    >,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    tower::ServiceBuilder::new()
        .layer(axum::Extension(ClientAddr(peer)))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(api.clone(), authenticate))
        .layer(axum::middleware::from_fn_with_state(api, limit_inflight))
        .service(router)
}

/// Entry points for the fuzz targets in `fuzz/` and the property tests: everything a request
/// body or URL goes through before it reaches the store. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    /// Decodes a body as the server would for `content_type`, then admits it as `kind`
    /// (a built-in kind's plural, e.g. `pods`). Returns whether it was accepted.
    pub fn decode_and_admit(content_type: &str, body: &[u8], plural: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(content_type) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        let Ok(mut obj) = crate::negotiate::decode_body(&headers, body) else { return false };
        let registry = crate::registry::Registry::with_builtins();
        let Some(res) = registry.get("", "v1", plural).or_else(|| registry.get("apps", "v1", plural)) else {
            return false;
        };
        crate::admit::check_type(&res, &mut obj).is_ok()
            && crate::admit::check_namespace(&res, Some("default"), &mut obj).is_ok()
            && crate::admit::validate(&res, &mut obj, crate::admit::FieldValidation::Strict).is_ok()
    }

    /// Parses a URL path and query as the router does.
    pub fn parse_url(path: &str, query: &str) -> bool {
        let q = crate::request::Query::parse(Some(query));
        let _ = q.int("limit");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        crate::request::parse_resource_path("", "v1", &segs).is_ok()
    }

    /// Applies a patch of the given content type to `current` as a `kind` would be patched.
    pub fn patch(content_type: &str, current: &Value, patch: &Value) -> bool {
        let registry = crate::registry::Registry::with_builtins();
        let res = registry.get("", "v1", "pods").expect("pods are built in");
        match crate::patch::PatchKind::from_content_type(content_type, true) {
            Ok(crate::patch::PatchKind::Apply) => {
                crate::apply::apply(&res, Some(current), patch, "fuzz", false).is_ok()
            }
            Ok(kind) => crate::patch::apply_patch(&res, kind, current, patch).is_ok(),
            Err(_) => false,
        }
    }
}
