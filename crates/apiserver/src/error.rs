//! `ApiError`: every failure a request can meet, mapped once into a Kubernetes `Status`.
//!
//! Handlers return `Result<_, ApiError>`; the `IntoResponse` impl is the only place that turns
//! an error into HTTP, so kubectl prints what it prints against upstream.

use axum::response::{IntoResponse, Response};
use canopy_store::StoreError;
use http::StatusCode;
use serde_json::{Value, json};

/// The resource an error is about: `(group, resource-plural, name)`, rendered like upstream
/// (`configmaps "demo" not found`, `deployments.apps "web" already exists`).
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub group: String,
    pub resource: String,
    pub name: String,
}

impl Target {
    pub fn new(group: &str, resource: &str, name: &str) -> Self {
        Self { group: group.to_string(), resource: resource.to_string(), name: name.to_string() }
    }

    fn qualified(&self) -> String {
        if self.group.is_empty() { self.resource.clone() } else { format!("{}.{}", self.resource, self.group) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} \"{}\" not found", .0.qualified(), .0.name)]
    NotFound(Target),
    #[error("{} \"{}\" already exists", .0.qualified(), .0.name)]
    AlreadyExists(Target),
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", .0.qualified(), .0.name, .1)]
    Conflict(Target, String),
    /// `kind "name" is invalid: causes`.
    #[error("{kind} \"{name}\" is invalid: {}", causes.join(", "))]
    Invalid { kind: String, group: String, name: String, causes: Vec<String> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the server could not find the requested resource")]
    NoRoute,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the server does not support the media type {0}")]
    UnsupportedMediaType(String),
    #[error("only the following media types are accepted: application/json, application/yaml")]
    NotAcceptable,
    #[error("{0}")]
    Gone(String),
    #[error("the request is too large: {0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("too many requests, please try again later")]
    TooManyRequests,
    #[error("too many failed attempts, try again in {0} seconds")]
    TooManyRequestsAfter(u64),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::NotFound(Target::new(group, resource, name))
    }

    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<String>) -> Self {
        Self::Invalid { kind: kind.to_string(), group: group.to_string(), name: name.to_string(), causes }
    }

    /// Maps a store failure for the object `target` to the error a client expects.
    pub fn from_store(err: StoreError, target: Target) -> Self {
        match err {
            StoreError::NotFound { .. } => Self::NotFound(target),
            StoreError::AlreadyExists { .. } => Self::AlreadyExists(target),
            StoreError::Conflict { .. } => Self::Conflict(
                target,
                "the object has been modified; please apply your changes to the latest version and try again".into(),
            ),
            StoreError::Compacted { requested, .. } => Self::Gone(format!("too old resource version: {requested}")),
            StoreError::FutureRevision { requested, current } => {
                Self::Timeout(format!("Too large resource version: {requested}, current: {current}"))
            }
            StoreError::TooLarge { .. } => Self::TooLarge(err.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::AlreadyExists(_) | Self::Conflict(..) => StatusCode::CONFLICT,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::Gone(_) => StatusCode::GONE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::TooManyRequests | Self::TooManyRequestsAfter(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::NoRoute => "NotFound",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::Conflict(..) => "Conflict",
            Self::Invalid { .. } => "Invalid",
            Self::BadRequest(_) => "BadRequest",
            Self::Forbidden(_) => "Forbidden",
            Self::Unauthorized => "Unauthorized",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::NotAcceptable => "NotAcceptable",
            Self::Gone(_) => "Expired",
            Self::TooLarge(_) => "RequestEntityTooLarge",
            Self::Timeout(_) => "Timeout",
            Self::TooManyRequests | Self::TooManyRequestsAfter(_) => "TooManyRequests",
            Self::Internal(_) => "InternalError",
        }
    }

    /// The `metav1.Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        match self {
            Self::NotFound(t) | Self::AlreadyExists(t) | Self::Conflict(t, _) => {
                details.insert("name".into(), json!(t.name));
                if !t.group.is_empty() {
                    details.insert("group".into(), json!(t.group));
                }
                details.insert("kind".into(), json!(t.resource));
            }
            Self::Invalid { kind, group, name, causes } => {
                details.insert("name".into(), json!(name));
                if !group.is_empty() {
                    details.insert("group".into(), json!(group));
                }
                details.insert("kind".into(), json!(kind));
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| {
                        let field = c.split(": ").next().unwrap_or_default();
                        json!({"reason": "FieldValueInvalid", "message": c, "field": field})
                    })
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
            _ => {}
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.status_code().as_u16(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let code = self.status_code();
        let retry_after = match &self {
            Self::TooManyRequestsAfter(s) => Some((*s).max(1)),
            Self::TooManyRequests => Some(1),
            _ => None,
        };
        let unauthorized = matches!(self, Self::Unauthorized);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if let Some(secs) = retry_after {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        if unauthorized {
            // Clients that can log in with a password (kubectl vsphere login) look for this.
            headers.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Basic realm=\"canopy\""));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
