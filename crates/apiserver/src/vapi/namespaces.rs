//! `/api/vcenter/namespaces/instances[/{namespace}[/access/{domain}/{subject}]]`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::VapiError;
use super::convert::{apply_to_spec, info, summary};
use crate::Api;
use crate::auth::User;
use crate::meta;
use crate::objects::{DeleteOptions, ListParams};
use crate::registry::Resource;

type VResult<T> = Result<T, VapiError>;

const GROUP: &str = "tenancy.canopy.io";

fn resource(api: &Api) -> VResult<Arc<Resource>> {
    api.registry.get(GROUP, "v1alpha1", "namespaceconfigs").ok_or_else(|| {
        VapiError::unavailable(
            "The namespace service is not running yet (its controller has not registered NamespaceConfig).",
        )
    })
}

fn authorize(api: &Api, user: &User, verb: &str, name: &str) -> VResult<()> {
    super::authorize(api, user, verb, "namespaceconfigs", name)
}

fn check_name(ns: &str) -> VResult<()> {
    let errs = meta::validate_name(ns, true);
    if errs.is_empty() { Ok(()) } else { Err(VapiError::invalid(errs.join("; "))) }
}

async fn load(api: &Api, res: &Resource, ns: &str) -> VResult<Value> {
    api.objects.get(res, None, ns).await.map_err(|e| match e {
        crate::ApiError::NotFound(_) => VapiError::not_found(format!("Namespace {ns} not found.")),
        other => other.into(),
    })
}

async fn summaries(api: &Api, user: &User) -> VResult<Vec<Value>> {
    authorize(api, user, "list", "")?;
    let res = resource(api)?;
    let items = api.objects.list(&res, None, &ListParams::default(), &|_| true).await?.items;
    Ok(items.iter().map(summary).collect())
}

async fn namespace_info(api: &Api, user: &User, ns: &str) -> VResult<Value> {
    authorize(api, user, "get", ns)?;
    let res = resource(api)?;
    Ok(info(&load(api, &res, ns).await?))
}

pub async fn list(State(api): State<Api>, Extension(user): Extension<User>) -> VResult<Response> {
    Ok(axum::Json(summaries(&api, &user).await?).into_response())
}

pub async fn get(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(ns): Path<String>,
) -> VResult<Response> {
    Ok(axum::Json(namespace_info(&api, &user, &ns).await?).into_response())
}

/// `GET /instances/v2`: the summaries keyed by `supervisor`.
pub async fn list_v2(State(api): State<Api>, Extension(user): Extension<User>) -> VResult<Response> {
    Ok(axum::Json(summaries(&api, &user).await?.into_iter().map(v2).collect::<Vec<_>>()).into_response())
}

pub async fn get_v2(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(ns): Path<String>,
) -> VResult<Response> {
    Ok(axum::Json(v2(namespace_info(&api, &user, &ns).await?)).into_response())
}

/// `GET /user/instances`: the namespaces the session's user may work in, for any user.
pub async fn user_list(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    headers: http::HeaderMap,
) -> VResult<Response> {
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let names = crate::iam::accessible_namespaces(&api.objects, &api.rbac, &user).await?;
    Ok(axum::Json(names.into_iter().map(|n| json!({"namespace": n, "master_host": host})).collect::<Vec<_>>())
        .into_response())
}

/// The v2 shapes name the Supervisor `supervisor` where v1 says `cluster`.
fn v2(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut()
        && let Some(c) = o.remove("cluster")
    {
        o.insert("supervisor".into(), c);
    }
    v
}

/// `POST /instances` (CreateSpec with `cluster`) and `POST /instances/v2` (`supervisor`).
pub async fn create(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    for key in ["cluster", "supervisor"] {
        if let Some(c) = body[key].as_str() {
            super::check_cluster(c)?;
        }
    }
    let ns = body["namespace"].as_str().ok_or_else(|| VapiError::invalid("namespace is required"))?.to_string();
    check_name(&ns)?;
    authorize(&api, &user, "create", &ns)?;
    let res = resource(&api)?;
    let mut spec = json!({});
    apply_to_spec(&body, &mut spec);
    let mut obj = json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "NamespaceConfig", "metadata": {"name": ns}, "spec": spec});
    crate::admit::validate(&res, &mut obj, crate::admit::FieldValidation::Strict)?;
    api.objects.create(&res, None, obj, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn write(api: &Api, user: &User, ns: &str, replace: bool, body: &Value) -> VResult<Response> {
    authorize(api, user, "update", ns)?;
    let res = resource(api)?;
    load(api, &res, ns).await?;
    api.objects
        .update(&res, None, ns, false, |mut current| {
            let mut spec = if replace { json!({}) } else { current["spec"].clone() };
            apply_to_spec(body, &mut spec);
            current["spec"] = spec;
            meta::meta_mut(&mut current).remove("resourceVersion");
            crate::admit::validate(&res, &mut current, crate::admit::FieldValidation::Strict)?;
            Ok(current)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// PATCH: update what is given.
pub async fn update(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(ns): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    write(&api, &user, &ns, false, &body).await
}

/// PUT: set the whole spec.
pub async fn set(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(ns): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    write(&api, &user, &ns, true, &body).await
}

pub async fn delete(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(ns): Path<String>,
) -> VResult<Response> {
    authorize(&api, &user, "delete", &ns)?;
    let res = resource(&api)?;
    load(&api, &res, &ns).await?;
    api.objects.delete(&res, None, &ns, &DeleteOptions::default()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn subject_type(q: &HashMap<String, String>) -> VResult<String> {
    match q.get("type").map(String::as_str) {
        Some(t @ ("USER" | "GROUP")) => Ok(t.to_string()),
        _ => Err(VapiError::invalid("query parameter type must be USER or GROUP")),
    }
}

fn find(spec: &Value, kind: &str, domain: &str, subject: &str) -> Option<usize> {
    spec["accessList"]
        .as_array()?
        .iter()
        .position(|a| a["subjectType"] == kind && a["domain"] == domain && a["subject"] == subject)
}

pub async fn access_get(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path((ns, domain, subject)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> VResult<Response> {
    authorize(&api, &user, "get", &ns)?;
    let kind = subject_type(&q)?;
    let res = resource(&api)?;
    let obj = load(&api, &res, &ns).await?;
    let i = find(&obj["spec"], &kind, &domain, &subject)
        .ok_or_else(|| VapiError::not_found(format!("{subject}@{domain} has no access to namespace {ns}.")))?;
    let role = obj["spec"]["accessList"][i]["role"].clone();
    Ok(axum::Json(json!({"role": role, "inherited": false})).into_response())
}

/// Who gets access to which namespace.
struct Grant<'a> {
    ns: &'a str,
    domain: &'a str,
    subject: &'a str,
    kind: &'a str,
}

async fn access_write(
    api: &Api,
    user: &User,
    g: Grant<'_>,
    role: Option<&str>,
    must_be_new: bool,
) -> VResult<Response> {
    let Grant { ns, domain, subject, kind } = g;
    authorize(api, user, "update", ns)?;
    let res = resource(api)?;
    load(api, &res, ns).await?;
    if let Some(r) = role
        && !matches!(r, "OWNER" | "EDIT" | "VIEW")
    {
        return Err(VapiError::invalid("role must be OWNER, EDIT or VIEW"));
    }
    let mut missing = false;
    let mut exists = false;
    api.objects
        .update(&res, None, ns, false, |mut current| {
            let mut list = current["spec"]["accessList"].as_array().cloned().unwrap_or_default();
            let at = find(&current["spec"], kind, domain, subject);
            exists = at.is_some();
            match (at, role) {
                (Some(_), Some(_)) if must_be_new => return Ok(current),
                (Some(i), Some(r)) => list[i]["role"] = json!(r),
                (None, Some(r)) => {
                    list.push(json!({"subjectType": kind, "subject": subject, "domain": domain, "role": r}))
                }
                (Some(i), None) => {
                    list.remove(i);
                }
                (None, None) => {
                    missing = true;
                    return Ok(current);
                }
            }
            current["spec"]["accessList"] = Value::Array(list);
            meta::meta_mut(&mut current).remove("resourceVersion");
            Ok(current)
        })
        .await?;
    if must_be_new && exists {
        return Err(VapiError::new(
            StatusCode::BAD_REQUEST,
            "ALREADY_EXISTS",
            "vcenter.wcp.namespace.access.exists",
            format!("{subject}@{domain} already has access to namespace {ns}."),
        ));
    }
    if missing {
        return Err(VapiError::not_found(format!("{subject}@{domain} has no access to namespace {ns}.")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn role_of(body: &Value) -> VResult<String> {
    body["role"].as_str().map(str::to_string).ok_or_else(|| VapiError::invalid("role is required"))
}

/// The path of an access entry: namespace, domain, subject.
type AccessPath = Path<(String, String, String)>;

async fn access_put(
    api: &Api,
    user: &User,
    (ns, domain, subject): (String, String, String),
    q: &HashMap<String, String>,
    body: &Value,
    must_be_new: bool,
) -> VResult<Response> {
    let role = role_of(body)?;
    let kind = subject_type(q)?;
    let grant = Grant { ns: &ns, domain: &domain, subject: &subject, kind: &kind };
    access_write(api, user, grant, Some(&role), must_be_new).await
}

/// POST: a new entry (ALREADY_EXISTS if the subject has one).
pub async fn access_create(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(path): AccessPath,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    access_put(&api, &user, path, &q, &body, true).await
}

/// PUT: sets the subject's role.
pub async fn access_set(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path(path): AccessPath,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> VResult<Response> {
    access_put(&api, &user, path, &q, &body, false).await
}

pub async fn access_delete(
    State(api): State<Api>,
    Extension(user): Extension<User>,
    Path((ns, domain, subject)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> VResult<Response> {
    access_write(
        &api,
        &user,
        Grant { ns: &ns, domain: &domain, subject: &subject, kind: &subject_type(&q)? },
        None,
        false,
    )
    .await
}
