//! Upstream's `cleanupDeployment`: old ReplicaSets beyond `revisionHistoryLimit` are deleted,
//! lowest revision first, and only when they are scaled to zero and settled (what `kubectl
//! rollout undo` can still go back to is kept).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};

use super::error::SyncError;
use super::family::Family;
use super::reconcile::Context;
use super::util::{by_creation, revision, spec_replicas, status_replicas};

pub async fn cleanup(ctx: &Context, d: &Deployment, family: &Family) -> Result<(), SyncError> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
    let mut cleanable: Vec<&ReplicaSet> =
        family.old().into_iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    let excess = cleanable.len().saturating_sub(usize::try_from(limit).unwrap_or(0));
    if excess == 0 {
        return Ok(());
    }
    cleanable.sort_by(|a, b| revision(a).cmp(&revision(b)).then_with(|| by_creation(a, b)));
    for rs in cleanable.into_iter().take(excess) {
        let settled = rs.status.as_ref().and_then(|s| s.observed_generation) >= rs.metadata.generation;
        if spec_replicas(rs) != 0 || status_replicas(rs) != 0 || !settled {
            continue;
        }
        let (ns, name) = (rs.namespace().unwrap_or_default(), rs.name_any());
        tracing::debug!(replicaset = %name, "deleting an old ReplicaSet beyond the revision history limit");
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(SyncError::api("deleting ReplicaSet", format!("{ns}/{name}"))(e)),
        }
    }
    Ok(())
}
