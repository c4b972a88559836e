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
mod selfservice;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;

use crate::Api;
use crate::auth::User;
pub use errors::VapiError;

/// The one Supervisor ("cluster" in the v1 API, "supervisor" in v2) a Canopy server is.
pub const CLUSTER: &str = "canopy";

fn check_cluster(cluster: &str) -> Result<(), VapiError> {
    if cluster == CLUSTER {
        Ok(())
    } else {
        Err(VapiError::not_found(format!("Supervisor {cluster} not found; this one is {CLUSTER}.")))
    }
}

/// The session's user must hold `verb` on `plural` of `tenancy.canopy.io` (admins do), as for
/// kubectl.
fn authorize(api: &Api, user: &User, verb: &str, plural: &str, name: &str) -> Result<(), VapiError> {
    let attrs = canopy_rbac::Attributes::Resource(
        canopy_rbac::ResourceAttributes::new(verb, "tenancy.canopy.io", plural).named(name),
    );
    if api.rbac.authorize(user, &attrs).allowed {
        Ok(())
    } else {
        Err(VapiError::new(
            StatusCode::FORBIDDEN,
            "UNAUTHORIZED",
            "vapi.method.authz.denied",
            canopy_rbac::forbidden_message(user, &attrs),
        ))
    }
}

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/session", post(create_session).delete(delete_session))
        .route("/api/vcenter/namespaces/instances", get(namespaces::list).post(namespaces::create))
        .route(
            "/api/vcenter/namespaces/instances/{namespace}",
            get(namespaces::get).patch(namespaces::update).put(namespaces::set).delete(namespaces::delete),
        )
        .route("/api/vcenter/namespaces/instances/v2", get(namespaces::list_v2).post(namespaces::create))
        .route("/api/vcenter/namespaces/instances/v2/{namespace}", get(namespaces::get_v2))
        .route("/api/vcenter/namespaces/user/instances", get(namespaces::user_list))
        .route("/api/vcenter/namespace-self-service", get(selfservice::service_list))
        .route(
            "/api/vcenter/namespace-self-service/{cluster}",
            get(selfservice::service_get).post(selfservice::service_action),
        )
        .route("/api/vcenter/namespace-templates/clusters/{cluster}", get(selfservice::list).post(selfservice::create))
        .route(
            "/api/vcenter/namespace-templates/clusters/{cluster}/templates/{template}",
            get(selfservice::get).patch(selfservice::update),
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
