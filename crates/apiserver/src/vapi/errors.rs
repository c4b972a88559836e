//! vAPI errors: `{"error_type": "NOT_FOUND", "messages": [{"id", "default_message", "args"}]}`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::error::ApiError;

#[derive(Debug)]
pub struct VapiError {
    status: StatusCode,
    error_type: &'static str,
    id: &'static str,
    message: String,
}

impl VapiError {
    pub fn new(status: StatusCode, error_type: &'static str, id: &'static str, message: impl Into<String>) -> Self {
        Self { status, error_type, id, message: message.into() }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "vapi.method.authentication.required",
            "Authentication required.",
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "vcenter.wcp.namespace.invalid", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "vcenter.wcp.service.unavailable", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "vcenter.wcp.namespace.notfound", message)
    }
}

impl From<ApiError> for VapiError {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::NotFound(_) | ApiError::NoRoute => Self::not_found(message),
            ApiError::AlreadyExists(_) => {
                Self::new(StatusCode::BAD_REQUEST, "ALREADY_EXISTS", "vcenter.wcp.namespace.exists", message)
            }
            ApiError::Conflict(..) => {
                Self::new(StatusCode::BAD_REQUEST, "CONCURRENT_CHANGE", "vapi.concurrent.change", message)
            }
            ApiError::Invalid { .. } | ApiError::BadRequest(_) => Self::invalid(message),
            ApiError::Forbidden(_) => {
                Self::new(StatusCode::FORBIDDEN, "UNAUTHORIZED", "vapi.method.authz.denied", message)
            }
            ApiError::Unauthorized => Self::unauthenticated(),
            ApiError::TooManyRequests | ApiError::TooManyRequestsAfter(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "UNAVAILABLE", "vapi.service.unavailable", message)
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "ERROR", "vapi.error", message),
        }
    }
}

impl IntoResponse for VapiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error_type": self.error_type,
            "messages": [{"id": self.id, "default_message": self.message, "args": []}],
        });
        (self.status, axum::Json(body)).into_response()
    }
}
