//! The API server's own control loops: CRD serving, namespace termination and the
//! ownerReference garbage collector.
//!
//! They run in the server process but go through `Objects` (the same code path as requests),
//! never around it. Level-triggered: every pass looks at the whole state, so a missed event or
//! a restart loses nothing; store events only wake the loop sooner.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::crds;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::objects::{DeleteOptions, FINALIZER_FOREGROUND, FINALIZER_ORPHAN, ListParams, Objects, Propagation};
use crate::projection::Projection;
use crate::registry::Resource;

/// A full pass runs at least this often, even without events.
const RESYNC: Duration = Duration::from_secs(30);
/// Events within this window are handled by one pass.
const DEBOUNCE: Duration = Duration::from_millis(50);

pub fn spawn(
    objects: Objects,
    rbac: Arc<crate::auth::Rbac>,
    quota_locks: Arc<crate::quota::QuotaLocks>,
    directory: Arc<crate::iam::Directory>,
) {
    let wake = Arc::new(Notify::new());
    tokio::spawn(watch_store(objects.clone(), wake.clone(), rbac, directory));
    tokio::spawn(async move {
        loop {
            if let Err(e) = pass(&objects, &quota_locks).await {
                tracing::warn!(error = %e, "control loop pass failed; retrying");
            }
            let _ = tokio::time::timeout(RESYNC, wake.notified()).await;
            tokio::time::sleep(DEBOUNCE).await;
        }
    });
}

/// Wakes the loop on changes that can need work: CRDs, deletions and deletion marks.
async fn watch_store(
    objects: Objects,
    wake: Arc<Notify>,
    rbac: Arc<crate::auth::Rbac>,
    directory: Arc<crate::iam::Directory>,
) {
    loop {
        let from = objects.store.current_revision();
        let mut stream = match objects.store.watch("/registry/", from).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "controller watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Whatever happened before the watch started is seen by the next pass.
        wake.notify_one();
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { break };
            // Policy changes by anyone (requests, GC, namespace deletion) reach the authorizer.
            if ev.kv.key.starts_with("/registry/rbac.authorization.k8s.io/")
                && let Err(e) = rbac.refresh(&objects).await
            {
                tracing::warn!(error = %e, "refreshing the RBAC policy failed");
            }
            if ev.kv.key.starts_with("/registry/iam.canopy.io/")
                && let Err(e) = directory.refresh(&objects).await
            {
                tracing::warn!(error = %e, "refreshing the directory failed");
            }
            let interesting = crds::is_crd_key(&ev.kv.key)
                || (ev.kv.key.starts_with("/registry/core/resourcequotas/") && ev.prev.is_none())
                || ev.kind == canopy_store::EventKind::Delete
                || ev.kv.value.windows(b"deletionTimestamp".len()).any(|w| w == b"deletionTimestamp");
            if interesting {
                if crds::is_crd_key(&ev.kv.key)
                    && let Err(e) = crds::sync_all(&objects).await
                {
                    tracing::warn!(error = %e, "syncing CRDs failed");
                }
                wake.notify_one();
            }
        }
    }
}

async fn pass(objects: &Objects, quota_locks: &crate::quota::QuotaLocks) -> ApiResult<()> {
    crds::sync_all(objects).await?;
    terminate_namespaces(objects).await?;
    collect_garbage(objects).await?;
    crate::quota::reconcile_all(objects, quota_locks).await
}

async fn all_items(objects: &Objects, res: &Resource) -> ApiResult<Vec<Value>> {
    Ok(objects.list(res, None, &ListParams::default(), &|_| true).await?.items)
}

/// Deletes the content of terminating namespaces, then removes the `kubernetes` finalizer.
async fn terminate_namespaces(objects: &Objects) -> ApiResult<()> {
    let ns_res = objects.registry.get("", "v1", "namespaces").expect("namespaces are built in");
    for ns in all_items(objects, &ns_res).await? {
        if !meta::is_deleting(&ns) {
            continue;
        }
        let name = meta::name(&ns).to_string();
        let mut remaining = 0;
        for res in objects.registry.storage_resources() {
            if !res.namespaced {
                continue;
            }
            let items = objects.list(&res, Some(&name), &ListParams::default(), &|_| true).await?.items;
            for obj in &items {
                if !meta::is_deleting(obj) {
                    match objects.delete(&res, Some(&name), meta::name(obj), &DeleteOptions::default()).await {
                        Ok(_) | Err(ApiError::NotFound(_)) => {}
                        Err(e) => tracing::warn!(namespace = %name, error = %e, "deleting namespace content"),
                    }
                }
            }
            remaining += objects
                .list(&res, Some(&name), &ListParams { limit: Some(1), ..Default::default() }, &|_| true)
                .await?
                .items
                .len();
        }
        if remaining == 0 {
            let result = objects
                .update(&ns_res, None, &name, false, |mut n| {
                    let fins: Vec<Value> = n
                        .pointer("/spec/finalizers")
                        .and_then(Value::as_array)
                        .map(|f| f.iter().filter(|x| *x != "kubernetes").cloned().collect())
                        .unwrap_or_default();
                    n["spec"]["finalizers"] = json!(fins);
                    meta::meta_mut(&mut n).remove("resourceVersion");
                    Ok(n)
                })
                .await;
            match result {
                Ok(_) | Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

struct Node {
    res: Arc<Resource>,
    namespace: Option<String>,
    name: String,
    obj: Value,
}

/// What the collector reads of each object: identity, owners and deletion state.
fn gc_fields() -> Projection {
    let mut p = Projection::default();
    for field in ["name", "namespace", "uid", "ownerReferences", "deletionTimestamp", "finalizers"] {
        p.add(&format!("metadata.{field}"));
    }
    p
}

/// The ownerReference garbage collector (Background, Foreground and Orphan propagation).
async fn collect_garbage(objects: &Objects) -> ApiResult<()> {
    let fields = gc_fields();
    let mut nodes: Vec<Node> = Vec::new();
    for res in objects.registry.storage_resources() {
        for obj in objects.list_projected(&res, &fields).await? {
            nodes.push(Node {
                res: res.clone(),
                namespace: meta::meta_str(&obj, "namespace").map(str::to_string),
                name: meta::name(&obj).to_string(),
                obj,
            });
        }
    }
    let live: HashSet<String> = nodes.iter().map(|n| meta::uid(&n.obj).to_string()).collect();
    let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for owner in meta::owner_uids(&n.obj) {
            dependents.entry(owner).or_default().push(i);
        }
    }
    for n in &nodes {
        let owners = meta::owner_uids(&n.obj);
        if owners.is_empty() || meta::is_deleting(&n.obj) {
            continue;
        }
        let dangling: Vec<&String> = owners.iter().filter(|o| !live.contains(*o)).collect();
        if dangling.len() == owners.len() {
            tracing::debug!(name = %n.name, resource = %n.res.plural, "deleting object whose owners are gone");
            ignore_gone(
                objects
                    .delete(
                        &n.res,
                        n.namespace.as_deref(),
                        &n.name,
                        &DeleteOptions { propagation: Some(Propagation::Background), ..Default::default() },
                    )
                    .await,
            )?;
        } else if !dangling.is_empty() {
            let gone: HashSet<String> = dangling.into_iter().cloned().collect();
            ignore_gone(remove_owner_refs(objects, n, &gone).await)?;
        }
    }
    for n in &nodes {
        if !meta::is_deleting(&n.obj) {
            continue;
        }
        let fins = meta::finalizers(&n.obj);
        let uid = meta::uid(&n.obj).to_string();
        let deps = dependents.get(&uid).cloned().unwrap_or_default();
        if fins.iter().any(|f| f == FINALIZER_ORPHAN) {
            let me: HashSet<String> = [uid.clone()].into();
            for &d in &deps {
                ignore_gone(remove_owner_refs(objects, &nodes[d], &me).await)?;
            }
            ignore_gone(drop_finalizer(objects, n, FINALIZER_ORPHAN).await)?;
        } else if fins.iter().any(|f| f == FINALIZER_FOREGROUND) {
            if deps.is_empty() {
                ignore_gone(drop_finalizer(objects, n, FINALIZER_FOREGROUND).await)?;
            } else {
                for &d in &deps {
                    let dep = &nodes[d];
                    if !meta::is_deleting(&dep.obj) {
                        let opts = DeleteOptions { propagation: Some(Propagation::Foreground), ..Default::default() };
                        ignore_gone(objects.delete(&dep.res, dep.namespace.as_deref(), &dep.name, &opts).await)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn ignore_gone<T>(r: ApiResult<T>) -> ApiResult<()> {
    match r {
        Ok(_) | Err(ApiError::NotFound(_)) | Err(ApiError::Conflict(..)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn remove_owner_refs(objects: &Objects, n: &Node, gone: &HashSet<String>) -> ApiResult<Value> {
    objects
        .update(&n.res, n.namespace.as_deref(), &n.name, false, |mut o| {
            let refs: Vec<Value> = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(|r| !r["uid"].as_str().is_some_and(|u| gone.contains(u))).cloned().collect())
                .unwrap_or_default();
            let m = meta::meta_mut(&mut o);
            if refs.is_empty() {
                m.remove("ownerReferences");
            } else {
                m.insert("ownerReferences".into(), json!(refs));
            }
            m.remove("resourceVersion");
            Ok(o)
        })
        .await
}

async fn drop_finalizer(objects: &Objects, n: &Node, finalizer: &str) -> ApiResult<Value> {
    objects
        .update(&n.res, n.namespace.as_deref(), &n.name, false, |mut o| {
            let fins: Vec<String> = meta::finalizers(&o).into_iter().filter(|f| f != finalizer).collect();
            meta::set_finalizers(&mut o, &fins);
            meta::meta_mut(&mut o).remove("resourceVersion");
            Ok(o)
        })
        .await
}
