//! The admin REST API shaped like the vSphere Automation API (`/api/session`,
//! `/api/vcenter/namespaces/instances[/...]`), over the same objects kubectl sees: a vSphere
//! Namespace is a `NamespaceConfig` (`tenancy.canopy.io/v1alpha1`), realised by the namespace
//! controller. Requests run as the session's user and pass the same RBAC.
//!
//! Deviations from vSphere, because Canopy measures in Kubernetes units: `cpu_limit` and the
//! `cpu_*_default` fields are MHz with 1 core = 1000 MHz; memory and storage are MiB as in
//! vSphere. `cluster` is always `canopy`.

mod convert;
mod errors;
mod namespaces;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;

use crate::Api;
pub use errors::VapiError;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/session", post(create_session).delete(delete_session))
        .route("/api/vcenter/namespaces/instances", get(namespaces::list).post(namespaces::create))
        .route(
            "/api/vcenter/namespaces/instances/{namespace}",
            get(namespaces::get).patch(namespaces::update).put(namespaces::set).delete(namespaces::delete),
        )
        .route(
            "/api/vcenter/namespaces/instances/{namespace}/access/{domain}/{subject}",
            get(namespaces::access_get)
                .post(namespaces::access_create)
                .put(namespaces::access_set)
                .delete(namespaces::access_delete),
        )
}

/// `POST /api/session` with Basic auth: the session id (a JSON string), used afterwards as the
/// `vmware-api-session-id` header.
async fn create_session(State(api): State<Api>, req: Request) -> Response {
    let client = req.extensions().get::<crate::ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0.ip());
    let auth = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    match api.directory.login(auth.as_deref(), client) {
        Ok((_, token)) => (StatusCode::CREATED, axum::Json(token.token)).into_response(),
        Err(e) => VapiError::from(e).into_response(),
    }
}

/// `DELETE /api/session` ends the session.
async fn delete_session(State(api): State<Api>, req: Request) -> Response {
    match crate::session_token(req.headers()).map(|t| api.directory.revoke(&t)) {
        Some(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Some(Err(e)) => VapiError::from(e).into_response(),
        None => VapiError::unauthenticated().into_response(),
    }
}
