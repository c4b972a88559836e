//! Upstream's `manageReplicas`: create the missing pods in slow-start batches (1, 2, 4, ...,
//! stopping at the first batch with a failure, so a quota or admission error costs one request,
//! not hundreds) or delete the surplus, best victims first. At most [`BURST`] per sync.

use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::error::SyncError;
use super::expectations::Key;
use super::rank;
use super::reconcile::Context;
use crate::events::EventType;

/// Most pods created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST: usize = 500;
/// `generateName` prefixes longer than this are cut, leaving room for the server's suffix.
const MAX_PREFIX: usize = 58;

/// Resizes `rs` toward `spec.replicas` given its `active` pods.
pub async fn manage(
    ctx: &Context,
    key: &Key,
    rs: &ReplicaSet,
    owner: &OwnerReference,
    active: Vec<Arc<Pod>>,
) -> Result<(), SyncError> {
    let want = usize::try_from(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)).unwrap_or(0);
    if active.len() < want {
        create(ctx, key, rs, owner, (want - active.len()).min(BURST)).await
    } else if active.len() > want {
        let surplus = (active.len() - want).min(BURST);
        delete(ctx, key, rs, rank::victims(active, surplus)).await
    } else {
        Ok(())
    }
}

/// A pod from the ReplicaSet's template, controlled by it.
pub fn pod_from_template(rs: &ReplicaSet, owner: &OwnerReference) -> Pod {
    let template = rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut prefix = format!("{}-", rs.name_any());
    if prefix.len() > MAX_PREFIX {
        prefix.truncate(MAX_PREFIX);
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

async fn create(
    ctx: &Context,
    key: &Key,
    rs: &ReplicaSet,
    owner: &OwnerReference,
    count: usize,
) -> Result<(), SyncError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.0);
    let pod = pod_from_template(rs, owner);
    let params = PostParams::default();
    let (mut remaining, mut batch) = (count, 1usize);
    while remaining > 0 {
        let size = batch.min(remaining);
        let results = join_all((0..size).map(|_| api.create(&params, &pod))).await;
        let mut failure = None;
        for result in results {
            match result {
                Ok(created) => {
                    let name = created.name_any();
                    let cached = ObjectRef::new(&name).within(&key.0);
                    ctx.expectations.expect_creation(key, &name, || ctx.pods.get(&cached).is_some());
                    ctx.recorder.record(rs, EventType::Normal, "SuccessfulCreate", format!("Created pod: {name}"));
                }
                Err(e) => {
                    let message = format!("Error creating: {}", crate::describe(&e));
                    ctx.recorder.record(rs, EventType::Warning, "FailedCreate", message);
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(SyncError::api("creating a pod for", format!("{}/{}", key.0, key.1))(e));
        }
        remaining -= size;
        batch *= 2;
    }
    Ok(())
}

async fn delete(ctx: &Context, key: &Key, rs: &ReplicaSet, victims: Vec<Arc<Pod>>) -> Result<(), SyncError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.0);
    for pod in &victims {
        ctx.expectations.expect_deletion(key, &pod.name_any());
    }
    let results = join_all(victims.iter().map(|pod| {
        let api = api.clone();
        async move { (pod.name_any(), api.delete(&pod.name_any(), &DeleteParams::default()).await) }
    }))
    .await;
    let mut failure = None;
    for (name, result) in results {
        match result {
            Ok(_) => ctx.recorder.record(rs, EventType::Normal, "SuccessfulDelete", format!("Deleted pod: {name}")),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                ctx.expectations.deletion_observed(key, &name);
            }
            Err(e) => {
                // Nothing will be observed for a pod that was not deleted.
                ctx.expectations.deletion_observed(key, &name);
                let message = format!("Error deleting: {}", crate::describe(&e));
                ctx.recorder.record(rs, EventType::Warning, "FailedDelete", message);
                failure.get_or_insert((name, e));
            }
        }
    }
    match failure {
        Some((name, e)) => Err(SyncError::api("deleting pod", format!("{}/{name}", key.0))(e)),
        None => Ok(()),
    }
}
