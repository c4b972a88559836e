//! One sync of a ReplicaSet (upstream's `syncReplicaSet`), level-triggered and idempotent:
//! claim the matching pods, resize when no earlier creation or deletion is still unobserved,
//! then report the status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use tracing::Instrument;

use super::FIELD_MANAGER;
use super::error::SyncError;
use super::expectations::{Expectations, Key, TTL};
use super::informer::pods_in;
use super::status::{self, Failure};
use super::{claim, manage};
use crate::events::Recorder;
use crate::pods;

/// What every sync shares.
pub struct Context {
    pub client: kube::Client,
    pub pods: Store<Pod>,
    pub expectations: Arc<Expectations>,
    pub recorder: Recorder,
}

/// Syncs one ReplicaSet (the `kube::runtime::Controller` callback).
pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, SyncError> {
    let span = tracing::debug_span!(
        "reconcile",
        controller = "replicaset",
        namespace = %rs.namespace().unwrap_or_default(),
        replicaset = %rs.name_any(),
    );
    sync(&rs, &ctx).instrument(span).await
}

async fn sync(rs: &ReplicaSet, ctx: &Context) -> Result<Action, SyncError> {
    // Never decide on a partial view: before the first list completes, every pod looks missing.
    if ctx.pods.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let key: Key = (rs.namespace().ok_or(SyncError::MissingIdentity)?, rs.name_any());
    let owner = crate::owners::controller_owner_ref(rs).ok_or(SyncError::MissingIdentity)?;
    let selector = rs.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
    let selector = Selector::try_from(selector).map_err(SyncError::Selector)?;
    if selector.selects_all() {
        // Upstream's validation forbids it; a ReplicaSet that would take every pod does nothing.
        tracing::warn!("empty selector; ignoring the ReplicaSet");
        return Ok(Action::await_change());
    }
    // Satisfied is read before the cache: a pod the cache shows is then at least as new as the
    // observations the decision relies on.
    let satisfied = ctx.expectations.satisfied(&key);
    let claimed = claim::claim(&ctx.client, rs, &owner, &selector, pods_in(&ctx.pods, &key.0)).await?;
    let active: Vec<Arc<Pod>> = claimed.into_iter().filter(|p| pods::is_active(p)).collect();

    let mut result = Ok(());
    if satisfied && rs.metadata.deletion_timestamp.is_none() {
        result = manage::manage(ctx, &key, rs, &owner, active.clone()).await;
    }
    let failure = result.as_ref().err().map(|e| Failure {
        reason: if active.len() < desired(rs) { "FailedCreate" } else { "FailedDelete" },
        message: crate::describe(e),
    });
    let now = Timestamp::now();
    let next = status::calculate(rs, &active, failure.as_ref(), now);
    if !status::same(rs.status.as_ref(), &next) {
        write_status(&ctx.client, &key, &next).await?;
    }
    result?;
    // Pods that are ready but not yet available become so without an event: look again then.
    let min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    if min_ready > 0 && next.ready_replicas != next.available_replicas {
        return Ok(Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1))));
    }
    if !satisfied {
        // The informer's events requeue it; this only covers expectations that expire.
        return Ok(Action::requeue(TTL));
    }
    Ok(Action::await_change())
}

fn desired(rs: &ReplicaSet) -> usize {
    usize::try_from(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)).unwrap_or(0)
}

async fn write_status(
    client: &kube::Client,
    key: &Key,
    next: &k8s_openapi::api::apps::v1::ReplicaSetStatus,
) -> Result<(), SyncError> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &key.0);
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    // `null` conditions remove a cleared ReplicaFailure.
    let patch = serde_json::json!({ "status": {
        "replicas": next.replicas,
        "fullyLabeledReplicas": next.fully_labeled_replicas,
        "readyReplicas": next.ready_replicas,
        "availableReplicas": next.available_replicas,
        "observedGeneration": next.observed_generation,
        "conditions": next.conditions,
    }});
    match api.patch_status(&key.1, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(SyncError::api("updating the status of ReplicaSet", format!("{}/{}", key.0, key.1))(e)),
    }
}
