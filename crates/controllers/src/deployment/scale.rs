//! Resizing a Deployment's ReplicaSets: one ReplicaSet (with the replicas annotations and the
//! `ScalingReplicaSet` event), and upstream's `scale`, which resizes a Deployment whose size
//! changed, proportionally across its ReplicaSets when a rollout is under way.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};

use super::FIELD_MANAGER;
use super::error::SyncError;
use super::family::Family;
use super::fenceposts::{is_rolling, max_surge, replicas};
use super::reconcile::Context;
use super::util::{self, spec_replicas};
use crate::events::EventType;

/// Sets member `i` to `size` replicas (and its replicas annotations); true when the size changed.
pub async fn scale_replica_set(
    ctx: &Context,
    d: &Deployment,
    family: &mut Family,
    i: usize,
    size: i32,
) -> Result<bool, SyncError> {
    let rs = &family.rss[i];
    let before = spec_replicas(rs);
    let mut copy = rs.clone();
    let annotations_changed = util::set_replicas_annotations(&mut copy, replicas(d), replicas(d) + max_surge(d));
    if before == size && !annotations_changed {
        return Ok(false);
    }
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": rs.metadata.resource_version, "annotations": copy.metadata.annotations},
        "spec": {"replicas": size},
    });
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    let updated = api
        .patch(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(SyncError::api("scaling ReplicaSet", format!("{ns}/{name}")))?;
    family.rss[i] = updated;
    if before != size {
        let direction = if size > before { "up" } else { "down" };
        let message = format!("Scaled {direction} replica set {name} from {before} to {size}");
        ctx.recorder.record(d, EventType::Normal, "ScalingReplicaSet", message);
    }
    Ok(before != size)
}

/// Upstream's `scaleReplicaSetAndRecordEvent`: nothing when the size is right already.
pub async fn scale_and_record(
    ctx: &Context,
    d: &Deployment,
    family: &mut Family,
    i: usize,
    size: i32,
) -> Result<bool, SyncError> {
    if spec_replicas(&family.rss[i]) == size {
        return Ok(false);
    }
    scale_replica_set(ctx, d, family, i, size).await
}

/// Upstream's `isScalingEvent`: an active ReplicaSet was sized for another Deployment size.
pub fn is_scaling_event(d: &Deployment, family: &Family) -> bool {
    util::active(&family.all()).iter().any(|rs| util::desired_annotation(rs).is_some_and(|n| n != replicas(d)))
}

/// The sizes proportional scaling gives the active members (indices into the family).
pub fn proportional_sizes(d: &Deployment, family: &Family) -> Vec<(usize, i32)> {
    let mut members: Vec<usize> = (0..family.rss.len()).filter(|i| spec_replicas(&family.rss[*i]) > 0).collect();
    let all: Vec<&ReplicaSet> = members.iter().map(|i| &family.rss[*i]).collect();
    let current = util::sum(&all, spec_replicas);
    let allowed = if replicas(d) > 0 { replicas(d) + max_surge(d) } else { 0 };
    let to_add = allowed - current;
    match to_add.cmp(&0) {
        std::cmp::Ordering::Greater => members.sort_by(|a, b| util::by_size_newer(&family.rss[*a], &family.rss[*b])),
        std::cmp::Ordering::Less => members.sort_by(|a, b| util::by_size_older(&family.rss[*a], &family.rss[*b])),
        std::cmp::Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = members
        .iter()
        .map(|i| {
            let rs = &family.rss[*i];
            let share = if to_add != 0 { util::proportion(d, rs, to_add, added) } else { 0 };
            added += share;
            (*i, spec_replicas(rs) + share)
        })
        .collect();
    // What rounding left over goes to the largest.
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

/// Upstream's `scale`: brings the ReplicaSets to the Deployment's size.
pub async fn scale(ctx: &Context, d: &Deployment, family: &mut Family) -> Result<(), SyncError> {
    let target = util::active_or_latest(family.new_rs(), &family.old()).and_then(|rs| family.index_of(rs));
    if let Some(i) = target {
        if spec_replicas(&family.rss[i]) != replicas(d) {
            scale_and_record(ctx, d, family, i, replicas(d)).await?;
        }
        return Ok(());
    }
    if util::is_saturated(d, family.new_rs()) {
        for i in family.old_indices() {
            if spec_replicas(&family.rss[i]) > 0 {
                scale_and_record(ctx, d, family, i, 0).await?;
            }
        }
        return Ok(());
    }
    if is_rolling(d) {
        for (i, size) in proportional_sizes(d, family) {
            scale_replica_set(ctx, d, family, i, size).await?;
        }
    }
    Ok(())
}
