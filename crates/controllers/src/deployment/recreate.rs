//! Upstream's `rolloutRecreate`: scale every old ReplicaSet to zero, wait until none of their
//! pods runs, then create (or grow) the new one at full size.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;

use super::cleanup::cleanup;
use super::error::SyncError;
use super::family::Family;
use super::fenceposts::replicas;
use super::new_rs::sync_revision;
use super::reconcile::Context;
use super::scale::scale_and_record;
use super::status::{is_complete, sync_rollout_status};
use super::util::{spec_replicas, status_replicas, sum};
use crate::owners::controller_ref;
use crate::pods;

/// How soon a Recreate rollout looks again while old pods are still going away (pod events are
/// not watched by this controller).
const OLD_PODS_POLL: Duration = Duration::from_secs(1);

pub async fn rollout(
    ctx: &Context,
    d: &mut Deployment,
    rss: Vec<ReplicaSet>,
    selector: &str,
) -> Result<Action, SyncError> {
    let mut family = sync_revision(ctx, d, rss, false).await?;
    let mut scaled = false;
    for i in family.old_indices() {
        if spec_replicas(&family.rss[i]) > 0 {
            scaled |= scale_and_record(ctx, d, &mut family, i, 0).await?;
        }
    }
    if scaled {
        return sync_rollout_status(ctx, d, &family).await;
    }
    if old_pods_running(ctx, d, &family, selector).await? {
        sync_rollout_status(ctx, d, &family).await?;
        return Ok(Action::requeue(OLD_PODS_POLL));
    }
    if family.new.is_none() {
        family = sync_revision(ctx, d, std::mem::take(&mut family.rss), true).await?;
    }
    if let Some(i) = family.new {
        scale_and_record(ctx, d, &mut family, i, replicas(d)).await?;
    }
    if d.status.as_ref().is_some_and(|s| is_complete(d, s)) {
        cleanup(ctx, d, &family).await?;
    }
    sync_rollout_status(ctx, d, &family).await
}

/// Upstream's `oldPodsRunning`: an old ReplicaSet still counts pods, or one of its pods is not
/// terminal yet (including pods being deleted).
async fn old_pods_running(ctx: &Context, d: &Deployment, family: &Family, selector: &str) -> Result<bool, SyncError> {
    if sum(&family.old(), status_replicas) > 0 {
        return Ok(true);
    }
    let ns = d.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(SyncError::api("listing the pods of Deployment", format!("{ns}/{}", d.name_any())))?;
    let old_uids: Vec<&str> = family.old().iter().filter_map(|rs| rs.metadata.uid.as_deref()).collect();
    Ok(list.items.iter().any(|p| {
        controller_ref(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid.as_str())) && !pods::is_terminal(p)
    }))
}
