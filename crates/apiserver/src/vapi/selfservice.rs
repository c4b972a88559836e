//! `/api/vcenter/namespace-self-service[/{cluster}]` and
//! `/api/vcenter/namespace-templates/clusters/{cluster}[/templates/{template}]`, over the
//! `NamespaceTemplate` objects kubectl sees. As in vSphere there is one template per Supervisor;
//! activating self-service switches its `spec.active`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::convert::{apply_to_spec, info};
use super::{VapiError, authorize, check_cluster};
use crate::Api;
use crate::auth::User;
use crate::meta;
use crate::objects::ListParams;
use crate::registry::Resource;

type VResult<T> = Result<T, VapiError>;

const GROUP: &str = "tenancy.canopy.io";
const PLURAL: &str = "namespacetemplates";

fn resource(api: &Api) -> VResult<Arc<Resource>> {
    api.registry
        .get(GROUP, "v1alpha1", PLURAL)
        .ok_or_else(|| VapiError::unavailable("The namespace template kind is not registered yet."))
}

async fn templates(api: &Api) -> VResult<Vec<Value>> {
    let res = resource(api)?;
    Ok(api.objects.list(&res, None, &ListParams::default(), &|_| true).await?.items)
}

fn permissions_to_spec(list: &[Value]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "subjectType": p["subject_type"].as_str().unwrap_or("USER"),
                    "subject": p["subject"],
                    "domain": p["domain"].as_str().unwrap_or(canopy_identity::DEFAULT_SSO_DOMAIN),
                })
            })
            .collect(),
    )
}

/// The template spec fields a vAPI body sets, checked before anything is written: its
/// permissions must be a list of entries naming a subject.
struct TemplateBody<'a> {
    body: &'a Value,
    permissions: Option<Value>,
}

impl<'a> TemplateBody<'a> {
    fn parse(body: &'a Value) -> VResult<Self> {
        let permissions = match body.get("permissions") {
            None => None,
            Some(list) => {
                let list = list.as_array().ok_or_else(|| VapiError::invalid("permissions must be a list"))?;
                if list.iter().any(|p| !p["subject"].is_string()) {
                    return Err(VapiError::invalid("every permission needs a subject"));
                }
                Some(permissions_to_spec(list))
            }
        };
        Ok(Self { body, permissions })
    }

    /// Applies the body (create, update or ActivateTemplateSpec) onto a template's spec.
    fn apply(&self, spec: &mut Value) {
        apply_to_spec(self.body, spec);
        if let Some(p) = &self.permissions {
            spec["permissions"] = p.clone();
        }
    }
}

/// The vAPI `Info` of a template.
fn template_info(template: &Value) -> Value {
    // The namespace shape carries the same resource, storage and VM service fields.
    let as_namespace = info(template);
    let permissions: Vec<Value> = template
        .pointer("/spec/permissions")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|p| json!({"subject_type": p["subjectType"], "subject": p["subject"], "domain": p["domain"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "cluster": super::CLUSTER,
        "template": template["metadata"]["name"],
        "description": as_namespace["description"],
        "resource_spec": as_namespace["resource_spec"],
        "storage_specs": as_namespace["storage_specs"],
        "vm_service_spec": as_namespace["vm_service_spec"],
        "permissions": permissions,
        "networks": [],
    })
}

fn template_name(body: &Value) -> VResult<String> {
    let name = body["template"].as_str().ok_or_else(|| VapiError::invalid("template is required"))?;
    let errs = meta::validate_name(name, false);
    if errs.is_empty() { Ok(name.to_string()) } else { Err(VapiError::invalid(errs.join("; "))) }
}

fn exists(message: String) -> VapiError {
    VapiError::new(StatusCode::BAD_REQUEST, "ALREADY_EXISTS", "vcenter.wcp.namespace.template.exists", message)
}

/// Creates the Supervisor's one template, or replaces it when `replace` (activateWithTemplate).
async fn put_template(api: &Api, body: &Value, replace: bool, active: Option<bool>) -> VResult<()> {
    let res = resource(api)?;
    let name = template_name(body)?;
    let existing = templates(api).await?;
    if let Some(other) = existing.iter().find(|t| meta::name(t) != name) {
        if !replace {
            return Err(exists(format!("This Supervisor already has the namespace template {}.", meta::name(other))));
        }
        api.objects.delete(&res, None, meta::name(other), &Default::default()).await?;
    }
    let mut spec = json!({});
    TemplateBody::parse(body)?.apply(&mut spec);
    if let Some(a) = active {
        spec["active"] = json!(a);
    }
    let mut obj = json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "NamespaceTemplate", "metadata": {"name": name}, "spec": spec});
    crate::admit::validate(&res, &mut obj, crate::admit::FieldValidation::Strict)?;
    if existing.iter().any(|t| meta::name(t) == name) {
        if !replace {
            return Err(exists(format!("The namespace template {name} already exists.")));
        }
        api.objects
            .update(&res, None, &name, false, |mut current| {
                current["spec"] = obj["spec"].clone();
                meta::meta_mut(&mut current).remove("resourceVersion");
                Ok(current)
            })
            .await?;
    } else {
        api.objects.create(&res, None, obj, false).await?;
    }
    Ok(())
}

/// `POST /namespace-templates/clusters/{cluster}`.
pub async fn create(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(cluster): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "create", PLURAL, "")?;
    put_template(&api, &body, false, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /namespace-templates/clusters/{cluster}`: `[{cluster, template}]`.
pub async fn list(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(cluster): Path<String>,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "list", PLURAL, "")?;
    let out: Vec<Value> = templates(&api)
        .await?
        .iter()
        .map(|t| json!({"cluster": super::CLUSTER, "template": t["metadata"]["name"]}))
        .collect();
    Ok(axum::Json(out).into_response())
}

fn not_found(template: &str) -> VapiError {
    VapiError::not_found(format!("Namespace template {template} not found."))
}

/// `GET /namespace-templates/clusters/{cluster}/templates/{template}`.
pub async fn get(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path((cluster, template)): Path<(String, String)>,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "get", PLURAL, &template)?;
    let res = resource(&api)?;
    let obj = api.objects.get(&res, None, &template).await.map_err(|_| not_found(&template))?;
    Ok(axum::Json(template_info(&obj)).into_response())
}

/// `PATCH /namespace-templates/clusters/{cluster}/templates/{template}`: updates what is given.
pub async fn update(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path((cluster, template)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "update", PLURAL, &template)?;
    let res = resource(&api)?;
    api.objects.get(&res, None, &template).await.map_err(|_| not_found(&template))?;
    let changes = TemplateBody::parse(&body)?;
    api.objects
        .update(&res, None, &template, false, |mut current| {
            changes.apply(&mut current["spec"]);
            meta::meta_mut(&mut current).remove("resourceVersion");
            crate::admit::validate(&res, &mut current, crate::admit::FieldValidation::Strict)?;
            Ok(current)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{cluster, capability, status}`: RUNNING while an active template exists.
async fn service_info(api: &Api) -> VResult<Value> {
    let all = templates(api).await?;
    let active = all.iter().any(crate::selfservice::is_active);
    Ok(json!({
        "cluster": super::CLUSTER,
        "capability": "SUPPORTED",
        "status": if active { "RUNNING" } else { "DEACTIVATED" },
    }))
}

/// `GET /namespace-self-service`.
pub async fn service_list(State(api): State<Api>, Extension(user): Extension<User>) -> VResult<Response> {
    authorize(&api, &user, "list", PLURAL, "")?;
    Ok(axum::Json(vec![service_info(&api).await?]).into_response())
}

/// `GET /namespace-self-service/{cluster}`.
pub async fn service_get(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(cluster): Path<String>,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "list", PLURAL, "")?;
    Ok(axum::Json(service_info(&api).await?).into_response())
}

async fn set_active(api: &Api, active: bool) -> VResult<()> {
    let res = resource(api)?;
    let all = templates(api).await?;
    if all.is_empty() && active {
        return Err(VapiError::new(
            StatusCode::BAD_REQUEST,
            "NOT_ALLOWED_IN_CURRENT_STATE",
            "vcenter.wcp.namespace.selfservice.notemplate",
            "There is no namespace template to activate; use action=activateWithTemplate.",
        ));
    }
    for t in all {
        api.objects
            .update(&res, None, meta::name(&t), false, |mut current| {
                current["spec"]["active"] = json!(active);
                meta::meta_mut(&mut current).remove("resourceVersion");
                Ok(current)
            })
            .await?;
    }
    Ok(())
}

/// `POST /namespace-self-service/{cluster}?action=activate|deactivate|activateWithTemplate`.
pub async fn service_action(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(cluster): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> VResult<Response> {
    check_cluster(&cluster)?;
    authorize(&api, &user, "update", PLURAL, "")?;
    match q.get("action").map(String::as_str) {
        Some("activate") => set_active(&api, true).await?,
        Some("deactivate") => set_active(&api, false).await?,
        Some("activateWithTemplate") => {
            let spec: Value =
                serde_json::from_slice(&body).map_err(|e| VapiError::invalid(format!("the body is not JSON: {e}")))?;
            authorize(&api, &user, "create", PLURAL, "")?;
            put_template(&api, &spec, true, Some(true)).await?;
        }
        _ => return Err(VapiError::invalid("action must be activate, deactivate or activateWithTemplate")),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
