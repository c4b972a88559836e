//! create, update (PUT), patch, delete and deletecollection.

use axum::response::Response;
use bytes::Bytes;
use http::{StatusCode, header};
use serde_json::{Value, json};

use super::Ctx;
use crate::admit::{self, FieldValidation};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::negotiate::{self, MAX_OBJECT, Output};
use crate::objects::{DeleteOptions, Deleted, ListParams, Propagation, Written};
use crate::{apply, meta, patch};

fn output(ctx: &Ctx) -> Output {
    match negotiate::output(&ctx.headers) {
        Ok(Output::Yaml) => Output::Yaml,
        _ => Output::Json,
    }
}

fn respond(ctx: &Ctx, code: StatusCode, written: &Written, warnings: &[String]) -> Response {
    negotiate::respond_written(code, output(ctx), &ctx.res.api_version(), written, warnings)
}

fn check_size(obj: &Value) -> ApiResult<()> {
    let size = serde_json::to_vec(obj).map(|v| v.len()).unwrap_or(0);
    if size > MAX_OBJECT {
        return Err(ApiError::TooLarge(format!("the object is {size} bytes; the limit is {MAX_OBJECT} bytes")));
    }
    Ok(())
}

/// The namespace a namespaced object goes into must exist and not be terminating.
async fn check_target_namespace(ctx: &Ctx) -> ApiResult<()> {
    let Some(ns) = ctx.ns().filter(|_| ctx.res.namespaced) else { return Ok(()) };
    let ns_res = ctx.api.registry.get("", "v1", "namespaces").expect("namespaces are built in");
    let mut deletion = crate::projection::Projection::default();
    deletion.add("metadata.deletionTimestamp");
    let obj = ctx.api.objects.get_projected(&ns_res, None, ns, &deletion).await?;
    if meta::is_deleting(&obj) {
        return Err(ApiError::Forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )));
    }
    Ok(())
}

/// Kind-specific defaults applied on create.
fn defaults_on_create(ctx: &Ctx, obj: &mut Value) {
    match (ctx.res.group.as_str(), ctx.res.plural.as_str()) {
        ("", "namespaces") => {
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "pods") if obj.pointer("/status/phase").is_none() => {
            obj["status"]["phase"] = json!("Pending");
            obj["status"]["qosClass"] = json!(crate::defaults::qos_class(obj));
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let mut fins = meta::finalizers(obj);
            if !fins.iter().any(|f| f == crate::crds::CLEANUP_FINALIZER) {
                fins.push(crate::crds::CLEANUP_FINALIZER.into());
            }
            meta::set_finalizers(obj, &fins);
        }
        _ if ctx.res.crd.is_some() && ctx.res.status => {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        _ => {}
    }
}

/// The checks every write's final object passes: validation, size, RBAC escalation.
fn admit_final(ctx: &Ctx, obj: &mut Value, old: Option<&Value>, fv: FieldValidation) -> ApiResult<Vec<String>> {
    let warnings = admit::validate_written(&ctx.res, obj, fv)?;
    check_size(obj)?;
    check_escalation(ctx, obj, old)?;
    Ok(warnings)
}

/// Roles and bindings may only grant what the writer holds (upstream's escalation checks).
fn check_escalation(ctx: &Ctx, new: &Value, old: Option<&Value>) -> ApiResult<()> {
    if !crate::auth::is_rbac(&ctx.res.group) {
        return Ok(());
    }
    ctx.api.rbac.check_escalation(&ctx.user, &ctx.res.plural, ctx.ns().unwrap_or_default(), new, old)
}

/// A write to a role, binding, user or group is in force for the next request.
async fn refresh_policy(ctx: &Ctx) -> ApiResult<()> {
    if ctx.dry_run()? {
        return Ok(());
    }
    if crate::auth::is_rbac(&ctx.res.group) {
        ctx.api.rbac.refresh(&ctx.api.objects).await?;
    }
    if crate::iam::is_iam(&ctx.res.group) {
        ctx.api.directory.refresh(&ctx.api.objects).await?;
    }
    Ok(())
}

pub async fn create_object(
    ctx: &Ctx,
    mut obj: Value,
    fv: FieldValidation,
    applied: bool,
) -> ApiResult<(Written, Vec<String>)> {
    admit::check_type(&ctx.res, &mut obj)?;
    admit::check_namespace(&ctx.res, ctx.ns(), &mut obj)?;
    if meta::name(&obj).is_empty()
        && let Some(prefix) = meta::meta_str(&obj, "generateName").map(str::to_string)
    {
        meta::meta_mut(&mut obj).insert("name".into(), json!(meta::generate_name(&prefix)));
    }
    check_target_namespace(ctx).await?;
    if ctx.res.group.is_empty()
        && ctx.res.plural == "pods"
        && let Some(ns) = ctx.ns()
    {
        crate::limits::admit_pod(&ctx.api.objects, ns, &mut obj).await?;
    }
    defaults_on_create(ctx, &mut obj);
    let manager = ctx.query.get("fieldManager").unwrap_or("unknown").to_string();
    if !applied {
        apply::record_update(&ctx.res, None, &mut obj, &manager, "Update");
    }
    let warnings = admit_final(ctx, &mut obj, None, fv)?;
    let dry_run = ctx.dry_run()?;
    let ns = ctx.ns().filter(|_| ctx.res.namespaced && !dry_run);
    let charge = match ns {
        Some(ns) => crate::quota::charge(&ctx.api.objects, &ctx.api.quota_locks, &ctx.res, ns, &obj, None).await?,
        None => None,
    };
    let created = match ctx.api.objects.create_written(&ctx.res, ctx.ns(), obj, dry_run).await {
        Ok(c) => c,
        Err(e) => {
            if let (Some(c), Some(ns)) = (charge, ns) {
                c.refund(&ctx.api.objects, ns).await;
            }
            return Err(e);
        }
    };
    drop(charge);
    refresh_policy(ctx).await?;
    Ok((created, warnings))
}

/// `kubectl create namespace` by a user the namespace template grants: the namespace, then its
/// configuration with the creator as OWNER (the namespace controller adds the RoleBindings).
pub async fn create_self_service_namespace(ctx: Ctx, template: Value, body: Bytes) -> ApiResult<Response> {
    let obj = negotiate::decode_body(&ctx.headers, &body)?;
    let fv = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let (created, warnings) = create_object(&ctx, obj, fv, false).await?;
    let name = meta::name(&created.obj).to_string();
    if ctx.dry_run()? {
        return Ok(respond(&ctx, StatusCode::CREATED, &created, &warnings));
    }
    if let Err(e) = crate::selfservice::configure(&ctx.api.objects, &template, &name, &ctx.user).await {
        // Without its configuration the namespace would be an orphan nobody may use.
        let _ = ctx.api.objects.delete(&ctx.res, None, &name, &DeleteOptions::default()).await;
        return Err(e);
    }
    tracing::info!(namespace = %name, user = %ctx.user.name, "self-service namespace created");
    Ok(respond(&ctx, StatusCode::CREATED, &created, &warnings))
}

pub async fn create(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let obj = negotiate::decode_body(&ctx.headers, &body)?;
    let fv = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let (created, warnings) = create_object(&ctx, obj, fv, false).await?;
    Ok(respond(&ctx, StatusCode::CREATED, &created, &warnings))
}

/// Merges a desired object into the current one according to the subresource written.
fn merge_for_subresource(ctx: &Ctx, current: &Value, mut desired: Value) -> Value {
    let rv = desired.pointer("/metadata/resourceVersion").cloned();
    let mut next = match ctx.path.subresource.as_deref() {
        Some("status") => {
            let mut next = current.clone();
            next["status"] = desired.get("status").cloned().unwrap_or(Value::Null);
            next
        }
        Some("finalize") => {
            let mut next = current.clone();
            next["spec"]["finalizers"] = desired.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            next
        }
        _ => {
            if ctx.res.status {
                match current.get("status") {
                    Some(s) => desired["status"] = s.clone(),
                    None => {
                        if let Some(o) = desired.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            if ctx.res.group.is_empty() && ctx.res.plural == "namespaces" {
                desired["spec"]["finalizers"] = current.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            }
            desired
        }
    };
    let m = meta::meta_mut(&mut next);
    match rv {
        Some(rv) if !rv.is_null() && rv != json!("") => m.insert("resourceVersion".into(), rv),
        _ => m.remove("resourceVersion"),
    };
    next
}

/// Runs an update whose result `change` derives from the current object. Where a quota of the
/// namespace counts this resource, what the update grows is charged first, against the very
/// version `change` saw: if the object moved meanwhile, the charge is given back and redone.
async fn update_charged<F>(ctx: &Ctx, mut change: F) -> ApiResult<Written>
where
    F: FnMut(&Value) -> ApiResult<Value> + Send,
{
    let dry_run = ctx.dry_run()?;
    let objects = &ctx.api.objects;
    let ns = match ctx.ns().filter(|_| ctx.res.namespaced && !dry_run) {
        Some(ns) if crate::quota::tracks(objects, &ctx.res, ns).await? => ns,
        _ => return objects.update_written(&ctx.res, ctx.ns(), ctx.name(), dry_run, change).await,
    };
    const ATTEMPTS: usize = 16;
    for _ in 0..ATTEMPTS {
        let current = objects.get(&ctx.res, ctx.ns(), ctx.name()).await?;
        let seen = meta::meta_str(&current, "resourceVersion").map(str::to_string);
        let next = change(&current)?;
        let charge = crate::quota::charge(objects, &ctx.api.quota_locks, &ctx.res, ns, &next, Some(&current)).await?;
        let mut moved = false;
        let result = objects
            .update_written(&ctx.res, ctx.ns(), ctx.name(), false, |cur| {
                if meta::meta_str(cur, "resourceVersion").map(str::to_string) != seen {
                    moved = true;
                    return Err(ApiError::Internal("the object changed while its quota was charged".into()));
                }
                change(cur)
            })
            .await;
        if result.is_err()
            && let Some(c) = charge
        {
            c.refund(objects, ns).await;
        }
        if !moved {
            return result;
        }
    }
    Err(ApiError::Conflict(
        crate::error::Target::new(&ctx.res.group, &ctx.res.plural, ctx.name()),
        "the object kept changing while its quota was charged; try again".into(),
    ))
}

pub async fn update(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let mut obj = negotiate::decode_body(&ctx.headers, &body)?;
    let fv = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    admit::check_type(&ctx.res, &mut obj)?;
    admit::check_namespace(&ctx.res, ctx.ns(), &mut obj)?;
    let body_name = meta::name(&obj).to_string();
    if body_name != ctx.name() {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    let manager = ctx.query.get("fieldManager").unwrap_or("unknown").to_string();
    let mut warnings = Vec::new();
    let updated = update_charged(&ctx, |current| {
        let mut next = merge_for_subresource(&ctx, current, obj.clone());
        apply::record_update(&ctx.res, Some(current), &mut next, &manager, "Update");
        warnings = admit_final(&ctx, &mut next, Some(current), fv)?;
        Ok(next)
    })
    .await?;
    refresh_policy(&ctx).await?;
    Ok(respond(&ctx, StatusCode::OK, &updated, &warnings))
}

pub async fn patch(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let ctype = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_string())
        .unwrap_or_default();
    let kind = patch::PatchKind::from_content_type(&ctype, ctx.res.strategic_merge)?;
    let patch_body = negotiate::decode_body(&ctx.headers, &body)?;
    let fv = FieldValidation::parse(ctx.query.get("fieldValidation"))?;
    let force = ctx.query.flag("force");
    let manager = ctx.query.get("fieldManager").map(str::to_string);
    if kind == patch::PatchKind::Apply && manager.is_none() {
        return Err(ApiError::BadRequest("PATCH with apply requires the fieldManager parameter".into()));
    }
    let manager = manager.unwrap_or_else(|| "unknown".into());
    if kind == patch::PatchKind::Apply && ctx.path.subresource.is_none() {
        match ctx.api.objects.get(&ctx.res, ctx.ns(), ctx.name()).await {
            Err(ApiError::NotFound(_)) => {
                let mut obj = patch_body.clone();
                admit::check_type(&ctx.res, &mut obj)?;
                if meta::name(&obj) != ctx.name() {
                    return Err(ApiError::BadRequest(format!(
                        "the name of the object ({}) does not match the name on the URL ({})",
                        meta::name(&obj),
                        ctx.name()
                    )));
                }
                let obj = apply::apply(&ctx.res, None, &obj, &manager, force)?;
                let (created, warnings) = create_object(&ctx, obj, fv, true).await?;
                return Ok(respond(&ctx, StatusCode::CREATED, &created, &warnings));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    let mut warnings = Vec::new();
    let updated = update_charged(&ctx, |current| {
        let patched = match kind {
            patch::PatchKind::Apply => apply::apply(&ctx.res, Some(current), &patch_body, &manager, force)?,
            other => {
                let mut p = patch::apply_patch(&ctx.res, other, current, &patch_body)?;
                apply::record_update(&ctx.res, Some(current), &mut p, &manager, "Update");
                p
            }
        };
        // A patch that does not set a resourceVersion is not pinned to the one it was applied
        // to: a concurrent write makes it retry on the new object (as upstream), not 409.
        let mut patched = patched;
        if patched.pointer("/metadata/resourceVersion") == current.pointer("/metadata/resourceVersion")
            && let Some(m) = patched.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("resourceVersion");
        }
        let mut next = merge_for_subresource(&ctx, current, patched);
        admit::check_type(&ctx.res, &mut next)?;
        if meta::name(&next) != ctx.name() {
            return Err(ApiError::BadRequest("metadata.name cannot be changed by a patch".into()));
        }
        warnings = admit_final(&ctx, &mut next, Some(current), fv)?;
        Ok(next)
    })
    .await?;
    refresh_policy(&ctx).await?;
    Ok(respond(&ctx, StatusCode::OK, &updated, &warnings))
}

fn delete_options(ctx: &Ctx, body: &Bytes) -> ApiResult<DeleteOptions> {
    let doc = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        negotiate::decode_body(&ctx.headers, body)?
    };
    let propagation = doc["propagationPolicy"].as_str().or(ctx.query.get("propagationPolicy"));
    let propagation = match propagation {
        None => None,
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    };
    let orphan_dependents =
        doc["orphanDependents"].as_bool().or(ctx.query.get("orphanDependents").map(|v| v == "true"));
    let propagation = propagation.or(match orphan_dependents {
        Some(true) => Some(Propagation::Orphan),
        Some(false) => Some(Propagation::Background),
        None => None,
    });
    let dry_run = ctx.dry_run()? || doc["dryRun"].as_array().is_some_and(|d| d.iter().any(|x| x == "All"));
    Ok(DeleteOptions {
        propagation,
        uid: doc.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        resource_version: doc.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string),
        grace_period_seconds: doc["gracePeriodSeconds"].as_i64().or(ctx.query.int("gracePeriodSeconds")?),
        dry_run,
    })
}

pub async fn delete(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let opts = delete_options(&ctx, &body)?;
    let obj = match ctx.api.objects.delete(&ctx.res, ctx.ns(), ctx.name(), &opts).await? {
        Deleted::Now(obj) | Deleted::Pending(obj) => obj,
    };
    refresh_policy(&ctx).await?;
    let code = StatusCode::OK;
    Ok(negotiate::respond(code, output(&ctx), &obj, &[]))
}

/// `kubectl delete namespace` refused by RBAC: allowed after all for the OWNER of a
/// self-service namespace, else the refusal stands.
pub async fn delete_self_service_namespace(ctx: Ctx, body: Bytes, denied: ApiError) -> ApiResult<Response> {
    let opts = delete_options(&ctx, &body)?;
    match crate::selfservice::delete_as_owner(&ctx.api.objects, ctx.name(), &ctx.user, &opts).await? {
        Some(obj) => Ok(negotiate::respond(StatusCode::OK, output(&ctx), &obj, &[])),
        None => Err(denied),
    }
}

pub async fn delete_collection(ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let opts = delete_options(&ctx, &body)?;
    let filter = Filter::parse(&ctx.res, ctx.query.get("labelSelector"), ctx.query.get("fieldSelector"))?;
    let page = ctx.api.objects.list_matching(&ctx.res, ctx.ns(), &ListParams::default(), &filter).await?;
    let mut deleted = Vec::new();
    for obj in page.items {
        let ns = meta::meta_str(&obj, "namespace").map(str::to_string);
        match ctx.api.objects.delete(&ctx.res, ns.as_deref(), meta::name(&obj), &opts).await {
            Ok(Deleted::Now(o) | Deleted::Pending(o)) => deleted.push(o),
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": ctx.res.list_kind,
        "apiVersion": ctx.res.api_version(),
        "metadata": {"resourceVersion": page.resource_version.to_string()},
        "items": deleted,
    });
    Ok(negotiate::respond(StatusCode::OK, output(&ctx), &body, &[]))
}
