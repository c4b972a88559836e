//! Upstream's `rolloutRolling`: grow the new ReplicaSet as far as `maxSurge` allows, shrink the
//! old ones as far as `maxUnavailable` allows (unhealthy pods first), one step per sync; each
//! step waits for the ReplicaSets' status to show its effect.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::controller::Action;

use super::cleanup::cleanup;
use super::error::SyncError;
use super::family::Family;
use super::fenceposts::{max_unavailable, replicas};
use super::new_rs::sync_revision;
use super::reconcile::Context;
use super::scale::scale_and_record;
use super::status::{is_complete, sync_rollout_status};
use super::util::{self, available, by_creation, spec_replicas, sum};

pub async fn rollout(ctx: &Context, d: &mut Deployment, rss: Vec<ReplicaSet>) -> Result<Action, SyncError> {
    let mut family = sync_revision(ctx, d, rss, true).await?;
    if reconcile_new(ctx, d, &mut family).await? {
        return sync_rollout_status(ctx, d, &family).await;
    }
    if reconcile_old(ctx, d, &mut family).await? {
        return sync_rollout_status(ctx, d, &family).await;
    }
    if d.status.as_ref().is_some_and(|s| is_complete(d, s)) {
        cleanup(ctx, d, &family).await?;
    }
    sync_rollout_status(ctx, d, &family).await
}

/// Upstream's `reconcileNewReplicaSet`; true when it scaled.
async fn reconcile_new(ctx: &Context, d: &Deployment, family: &mut Family) -> Result<bool, SyncError> {
    let Some(i) = family.new else { return Ok(false) };
    let new = &family.rss[i];
    let want = replicas(d);
    if spec_replicas(new) == want {
        return Ok(false);
    }
    if spec_replicas(new) > want {
        return scale_and_record(ctx, d, family, i, want).await;
    }
    let size = util::new_rs_new_replicas(d, &family.all(), new);
    scale_and_record(ctx, d, family, i, size).await
}

/// Upstream's `reconcileOldReplicaSets`; true when it scaled.
async fn reconcile_old(ctx: &Context, d: &Deployment, family: &mut Family) -> Result<bool, SyncError> {
    let old_count = sum(&family.old(), spec_replicas);
    if old_count == 0 {
        return Ok(false);
    }
    let all_count = sum(&family.all(), spec_replicas);
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = family.new_rs().map_or(0, |rs| spec_replicas(rs) - kept_available(rs));
    let max_scaled_down = all_count - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let cleaned = cleanup_unhealthy(ctx, d, family, max_scaled_down).await?;
    let scaled = scale_down_old(ctx, d, family).await?;
    Ok(cleaned + scaled > 0)
}

/// Old members, oldest first.
fn old_by_creation(family: &Family) -> Vec<usize> {
    let mut old = family.old_indices();
    old.sort_by(|a, b| by_creation(&family.rss[*a], &family.rss[*b]));
    old
}

/// Upstream's `cleanupUnhealthyReplicas`: old pods that are not available go first, up to
/// `max_cleanup` of them.
async fn cleanup_unhealthy(
    ctx: &Context,
    d: &Deployment,
    family: &mut Family,
    max_cleanup: i32,
) -> Result<i32, SyncError> {
    let mut total = 0;
    for i in old_by_creation(family) {
        if total >= max_cleanup {
            break;
        }
        let rs = &family.rss[i];
        let (size, healthy) = (spec_replicas(rs), kept_available(rs));
        if size == 0 || size == healthy {
            continue;
        }
        let down = (max_cleanup - total).min(size - healthy);
        scale_and_record(ctx, d, family, i, size - down).await?;
        total += down;
    }
    Ok(total)
}

/// The available pods a ReplicaSet keeps: its status may still count pods its controller is about
/// to delete after a scale-down, and counting those would scale down too far (or, in the cleanup
/// above, scale an old ReplicaSet up).
fn kept_available(rs: &ReplicaSet) -> i32 {
    available(rs).min(spec_replicas(rs))
}

/// Upstream's `scaleDownOldReplicaSetsForRollingUpdate`: available pods above the minimum go,
/// oldest ReplicaSets first.
async fn scale_down_old(ctx: &Context, d: &Deployment, family: &mut Family) -> Result<i32, SyncError> {
    let min_available = replicas(d) - max_unavailable(d);
    let available_now = sum(&family.all(), kept_available);
    if available_now <= min_available {
        return Ok(0);
    }
    let budget = available_now - min_available;
    let mut total = 0;
    for i in old_by_creation(family) {
        if total >= budget {
            break;
        }
        let size = spec_replicas(&family.rss[i]);
        if size == 0 {
            continue;
        }
        let down = size.min(budget - total);
        scale_and_record(ctx, d, family, i, size - down).await?;
        total += down;
    }
    Ok(total)
}
