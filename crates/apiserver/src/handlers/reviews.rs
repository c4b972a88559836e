//! Review kinds that are computed, never stored: SelfSubjectReview (`kubectl auth whoami`),
//! SelfSubjectAccessReview (`kubectl auth can-i`) and SelfSubjectRulesReview (`can-i --list`).

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::admit::{self, FieldValidation};
use crate::auth::{Attributes, User};
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Output};

pub async fn create(ctx: Ctx, user: User, body: Bytes) -> ApiResult<Response> {
    let mut obj = negotiate::decode_body(&ctx.headers, &body)?;
    admit::check_type(&ctx.res, &mut obj)?;
    // Reviews have no name; validation of the typed shape still applies.
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("name");
    }
    let typed_ok = match &ctx.res.validation {
        crate::registry::Validation::Builtin { normalize, .. } => normalize(obj.clone()).map(|v| obj = v),
        crate::registry::Validation::Custom { .. } => Ok(()),
    };
    typed_ok.map_err(|e| ApiError::BadRequest(format!("{} in body: {e}", ctx.res.kind)))?;
    let _ = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let status = match ctx.res.plural.as_str() {
        "selfsubjectreviews" => json!({"userInfo": user.to_json()}),
        "selfsubjectaccessreviews" => {
            let attrs = access_attributes(&obj)?;
            let d = ctx.api.authorizer.authorize(&user, &attrs);
            let mut s = json!({"allowed": d.allowed});
            if d.allowed {
                s["reason"] = json!(d.reason);
            } else {
                s["denied"] = json!(false);
                s["reason"] = json!(d.reason);
            }
            s
        }
        "selfsubjectrulesreviews" => {
            // Until RBAC is enforced, the only authorized users are system:masters.
            if allowed_everything(&ctx, &user) {
                json!({
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    "incomplete": false,
                })
            } else {
                json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false})
            }
        }
        other => return Err(ApiError::MethodNotAllowed(format!("{other} cannot be created"))),
    };
    obj["status"] = status;
    obj["metadata"] = json!({"creationTimestamp": null});
    Ok(negotiate::respond(StatusCode::CREATED, Output::Json, &obj, &[]))
}

fn allowed_everything(ctx: &Ctx, user: &User) -> bool {
    let probe = Attributes {
        verb: "*".into(),
        api_group: "*".into(),
        resource: "*".into(),
        subresource: String::new(),
        name: String::new(),
        namespace: String::new(),
    };
    ctx.api.authorizer.authorize(user, &probe).allowed
}

fn access_attributes(obj: &Value) -> ApiResult<Attributes> {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(path) = obj.pointer("/spec/nonResourceAttributes/path").and_then(Value::as_str) {
        return Ok(Attributes {
            verb: s("/spec/nonResourceAttributes/verb"),
            api_group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: path.to_string(),
            namespace: String::new(),
        });
    }
    if obj.pointer("/spec/resourceAttributes").is_none() {
        return Err(ApiError::invalid(
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "",
            vec!["spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into()],
        ));
    }
    Ok(Attributes {
        verb: s("/spec/resourceAttributes/verb"),
        api_group: s("/spec/resourceAttributes/group"),
        resource: s("/spec/resourceAttributes/resource"),
        subresource: s("/spec/resourceAttributes/subresource"),
        name: s("/spec/resourceAttributes/name"),
        namespace: s("/spec/resourceAttributes/namespace"),
    })
}
