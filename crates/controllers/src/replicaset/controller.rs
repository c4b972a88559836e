//! Wiring the ReplicaSet sync into a `kube::runtime::Controller`: ReplicaSets are watched by the
//! controller itself, pods by the [informer](super::informer) whose events are fed in with
//! `reconcile_on`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller, Error as ControllerError};
use kube::runtime::watcher;

use super::Config;
use super::error::SyncError;
use super::expectations::Expectations;
use super::informer;
use super::reconcile::{Context, reconcile};
use crate::describe;
use crate::events::Recorder;

/// How soon a failed sync is retried.
const RETRY: Duration = Duration::from_secs(2);

fn error_policy(rs: Arc<ReplicaSet>, error: &SyncError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        controller = "replicaset",
        namespace = %rs.namespace().unwrap_or_default(),
        replicaset = %rs.name_any(),
        error = %describe(error),
        "sync failed; retrying"
    );
    Action::requeue(RETRY)
}

/// Runs the controller until `shutdown` resolves (then lets syncs in flight finish).
pub async fn run_until(
    client: kube::Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = Controller::new(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default());
    let expectations = Arc::new(Expectations::default());
    let (pods, triggers) = informer::pods(client.clone(), expectations.clone(), controller.store(), config.watch_lag);
    let ctx = Arc::new(Context {
        client: client.clone(),
        pods,
        expectations: expectations.clone(),
        recorder: Recorder::new(client, "replicaset-controller"),
    });
    controller
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            let expectations = expectations.clone();
            async move {
                match result {
                    Ok((rs, _)) => tracing::trace!(replicaset = %rs, "synced"),
                    Err(ControllerError::ReconcilerFailed(..)) => {}
                    // Deleted: what it expected will never matter.
                    Err(ControllerError::ObjectNotFound(rs)) => {
                        expectations.forget(&(rs.namespace.clone().unwrap_or_default(), rs.name.clone()));
                    }
                    Err(e) => tracing::warn!(controller = "replicaset", error = %describe(&e), "controller error"),
                }
            }
        })
        .await;
}
