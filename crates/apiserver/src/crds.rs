//! CustomResourceDefinition lifecycle: serving a CRD's kinds as soon as it is stored,
//! reporting `Established`, and deleting its objects before the CRD itself goes.

use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::meta;
use crate::objects::{DeleteOptions, ListParams, Objects};
use crate::registry::{Resource, resources_from_crd};

pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn crd_resource(objects: &Objects) -> std::sync::Arc<Resource> {
    objects.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions").expect("CRDs are built in")
}

/// Makes the registry serve exactly the CRDs in the store; called at start and on every change.
pub async fn sync_all(objects: &Objects) -> ApiResult<()> {
    let crd_res = crd_resource(objects);
    let crds = objects.list(&crd_res, None, &ListParams::default(), &|_| true).await?.items;
    let names: Vec<String> = crds.iter().map(|c| meta::name(c).to_string()).collect();
    for r in objects.registry.all() {
        if let Some(crd) = &r.crd
            && !names.contains(crd)
        {
            objects.registry.remove_crd(crd);
        }
    }
    for crd in crds {
        sync_one(objects, &crd_res, crd).await?;
    }
    Ok(())
}

async fn sync_one(objects: &Objects, crd_res: &Resource, crd: Value) -> ApiResult<()> {
    let name = meta::name(&crd).to_string();
    // Re-register every time: versions, schemas and columns may have changed.
    objects.registry.replace_crd(&name, resources_from_crd(&crd));
    if meta::is_deleting(&crd) {
        return cleanup(objects, crd_res, &crd).await;
    }
    if !is_established(&crd) {
        objects
            .update(crd_res, None, &name, false, |mut c| {
                c["status"]["acceptedNames"] = c["spec"]["names"].clone();
                c["status"]["storedVersions"] = json!(stored_versions(&c));
                let now = meta::now_rfc3339();
                c["status"]["conditions"] = json!([
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                ]);
                meta::meta_mut(&mut c).remove("resourceVersion");
                Ok(c)
            })
            .await?;
    }
    Ok(())
}

fn stored_versions(crd: &Value) -> Vec<String> {
    let mut v: Vec<String> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if let Some(s) = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|x| x["storage"] == true))
        .and_then(|x| x["name"].as_str())
        && !v.iter().any(|x| x == s)
    {
        v.push(s.to_string());
    }
    v
}

fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

/// Deletes every object of a deleting CRD, then releases the CRD.
async fn cleanup(objects: &Objects, crd_res: &Resource, crd: &Value) -> ApiResult<()> {
    let name = meta::name(crd).to_string();
    let stored =
        objects.registry.all().into_iter().find(|r| r.crd.as_deref() == Some(&name) && r.version == r.storage_version);
    if let Some(res) = stored {
        let items = objects.list(&res, None, &ListParams::default(), &|_| true).await?.items;
        for obj in items {
            let ns = meta::meta_str(&obj, "namespace").map(str::to_string);
            // Objects with finalizers of their own are left to them, as upstream does.
            let _ = objects.delete(&res, ns.as_deref(), meta::name(&obj), &DeleteOptions::default()).await;
        }
        let left = objects.list(&res, None, &ListParams { limit: Some(1), ..Default::default() }, &|_| true).await?;
        if !left.items.is_empty() {
            return Ok(());
        }
    }
    objects.registry.remove_crd(&name);
    objects
        .update(crd_res, None, &name, false, |mut c| {
            let fins: Vec<String> = meta::finalizers(&c).into_iter().filter(|f| f != CLEANUP_FINALIZER).collect();
            meta::set_finalizers(&mut c, &fins);
            meta::meta_mut(&mut c).remove("resourceVersion");
            Ok(c)
        })
        .await
        .map(|_| ())
        .or_else(|e| if matches!(e, crate::error::ApiError::NotFound(_)) { Ok(()) } else { Err(e) })
}

pub fn is_crd_key(key: &str) -> bool {
    key.starts_with("/registry/apiextensions.k8s.io/customresourcedefinitions/")
}
