//! A Deployment's status and conditions, as upstream's `calculateStatus`, `syncRolloutStatus`
//! and `checkPausedConditions`, with upstream's reasons and messages (what `kubectl rollout
//! status` reads).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;

use super::FIELD_MANAGER;
use super::error::SyncError;
use super::family::Family;
use super::fenceposts::{max_unavailable, replicas};
use super::reconcile::Context;
use super::util::{available, ready, spec_replicas, status_replicas, sum};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const RS_CREATE_ERROR: &str = "ReplicaSetCreateError";

/// A condition as of `now`.
pub fn condition(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Time(Timestamp::now());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

pub fn get_condition<'a>(status: Option<&'a DeploymentStatus>, type_: &str) -> Option<&'a DeploymentCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Upstream's `SetDeploymentCondition`: nothing when status and reason are unchanged; the
/// transition time is kept when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(current) = conditions.iter().find(|c| c.type_ == cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != cond.type_);
    conditions.push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
    }
}

/// A deadline is set (and not the "never" value).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).is_some_and(|s| s != i32::MAX)
}

/// Upstream's `calculateStatus`.
pub fn calculate(d: &Deployment, family: &Family) -> DeploymentStatus {
    let all = family.all();
    let available_replicas = sum(&all, available);
    let unavailable = (sum(&all, spec_replicas) - available_replicas).max(0);
    let previous = d.status.as_ref();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(&all, status_replicas)),
        updated_replicas: Some(family.new_rs().map_or(0, status_replicas)),
        ready_replicas: Some(sum(&all, ready)),
        available_replicas: Some(available_replicas),
        unavailable_replicas: Some(unavailable),
        collision_count: previous.and_then(|s| s.collision_count),
        conditions: previous.and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    };
    if available_replicas >= replicas(d) - max_unavailable(d) {
        let msg = "Deployment has minimum availability.".to_string();
        set_condition(&mut status, condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, msg));
    } else {
        let msg = "Deployment does not have minimum availability.".to_string();
        set_condition(&mut status, condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE, msg));
    }
    status
}

/// Upstream's `DeploymentComplete`.
pub fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation >= d.metadata.generation
}

/// Upstream's `DeploymentProgressing`: more updated, ready or available pods, or fewer old ones.
fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// When the progress deadline of the current Progressing condition passes.
fn deadline(d: &Deployment, status: &DeploymentStatus) -> Option<Timestamp> {
    let cond = get_condition(Some(status), PROGRESSING)?;
    let seconds = d.spec.as_ref()?.progress_deadline_seconds?;
    Some(cond.last_update_time.as_ref()?.0 + SignedDuration::from_secs(i64::from(seconds)))
}

/// Upstream's `DeploymentTimedOut`.
fn is_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    match get_condition(Some(status), PROGRESSING).and_then(|c| c.reason.as_deref()) {
        None | Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        Some(_) => deadline(d, status).is_some_and(|at| at < now),
    }
}

/// Upstream's `syncRolloutStatus`: the status with the Progressing condition moved on, written
/// when it changed; asks to be looked at again when the deadline of a stuck rollout passes.
pub async fn sync_rollout_status(ctx: &Context, d: &mut Deployment, family: &Family) -> Result<Action, SyncError> {
    let mut next = calculate(d, family);
    let now = Timestamp::now();
    if !has_progress_deadline(d) {
        remove_condition(&mut next, PROGRESSING);
    }
    let current = get_condition(Some(&next), PROGRESSING).cloned();
    let complete_already = next.replicas == next.updated_replicas
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if has_progress_deadline(d) && !complete_already {
        let subject = match family.new_rs() {
            Some(rs) => format!("ReplicaSet \"{}\"", rs.name_any()),
            None => format!("Deployment \"{}\"", d.name_any()),
        };
        if is_complete(d, &next) {
            let msg = format!("{subject} has successfully progressed.");
            set_condition(&mut next, condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg));
        } else if is_progressing(d, &next) {
            let mut cond = condition(PROGRESSING, "True", RS_UPDATED, format!("{subject} is progressing."));
            if let Some(c) = &current {
                if c.status == "True" {
                    cond.last_transition_time = c.last_transition_time.clone();
                }
                remove_condition(&mut next, PROGRESSING);
            }
            set_condition(&mut next, cond);
        } else if is_timed_out(d, &next, now) {
            let msg = format!("{subject} has timed out progressing.");
            set_condition(&mut next, condition(PROGRESSING, "False", TIMED_OUT, msg));
        }
    }
    // Failures creating pods show on the Deployment as the ReplicaSets' ReplicaFailure.
    let failure = family.all().into_iter().find_map(|rs| {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE && c.status == "True")
            .cloned()
    });
    match failure {
        Some(f) => set_condition(
            &mut next,
            DeploymentCondition {
                type_: REPLICA_FAILURE.into(),
                status: f.status,
                reason: f.reason,
                message: f.message,
                last_update_time: f.last_transition_time.clone(),
                last_transition_time: f.last_transition_time,
            },
        ),
        None => remove_condition(&mut next, REPLICA_FAILURE),
    }
    if d.status.as_ref() != Some(&next) {
        write(ctx, d, next).await?;
    }
    Ok(requeue_stuck(d, now))
}

/// Upstream's `requeueStuckDeployment`: look again when the progress deadline passes.
fn requeue_stuck(d: &Deployment, now: Timestamp) -> Action {
    let Some(status) = d.status.as_ref() else { return Action::await_change() };
    let reason = get_condition(Some(status), PROGRESSING).and_then(|c| c.reason.as_deref());
    if !has_progress_deadline(d)
        || matches!(reason, None | Some(NEW_RS_AVAILABLE | TIMED_OUT))
        || is_complete(d, status)
    {
        return Action::await_change();
    }
    match deadline(d, status) {
        Some(at) => {
            let left = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
            Action::requeue(left + Duration::from_secs(1))
        }
        None => Action::await_change(),
    }
}

/// Upstream's `syncDeploymentStatus` (used while paused or scaling): counts, no progress check.
pub async fn sync_status(ctx: &Context, d: &mut Deployment, family: &Family) -> Result<(), SyncError> {
    let next = calculate(d, family);
    if d.status.as_ref() != Some(&next) {
        write(ctx, d, next).await?;
    }
    Ok(())
}

/// Upstream's `checkPausedConditions`: Progressing is Unknown while paused, then resumed.
pub async fn check_paused(ctx: &Context, d: &mut Deployment) -> Result<(), SyncError> {
    if !has_progress_deadline(d) {
        return Ok(());
    }
    let reason = get_condition(d.status.as_ref(), PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(TIMED_OUT) {
        return Ok(());
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let was_paused = reason.as_deref() == Some(PAUSED);
    let cond = match (paused, was_paused) {
        (true, false) => condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into()),
        (false, true) => condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into()),
        _ => return Ok(()),
    };
    let mut next = d.status.clone().unwrap_or_default();
    set_condition(&mut next, cond);
    write(ctx, d, next).await
}

/// Writes `next` as the status (merge patch of the status subresource) and keeps the answer.
pub async fn write(ctx: &Context, d: &mut Deployment, next: DeploymentStatus) -> Result<(), SyncError> {
    let ns = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    let patch = serde_json::json!({ "status": next });
    let updated = api
        .patch_status(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(SyncError::api("updating the status of Deployment", format!("{ns}/{name}")))?;
    *d = updated;
    Ok(())
}
