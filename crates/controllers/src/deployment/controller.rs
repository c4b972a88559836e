//! Wiring the Deployment sync into a `kube::runtime::Controller`: Deployments, and ReplicaSets
//! mapped to their controlling Deployment (or, for an orphan, to the Deployments in its
//! namespace whose selector matches it, which may adopt it).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller, Error as ControllerError};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use super::error::SyncError;
use super::reconcile::{Context, reconcile};
use crate::describe;
use crate::events::Recorder;
use crate::owners::controller_ref;

/// How soon a failed sync is retried.
const RETRY: Duration = Duration::from_secs(2);

fn error_policy(d: Arc<Deployment>, error: &SyncError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        controller = "deployment",
        namespace = %d.namespace().unwrap_or_default(),
        deployment = %d.name_any(),
        error = %describe(error),
        "sync failed; retrying"
    );
    Action::requeue(RETRY)
}

/// The Deployments a ReplicaSet event concerns.
fn deployments_of(rs: ReplicaSet, deployments: &Store<Deployment>) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.namespace().unwrap_or_default();
    if let Some(owner) = controller_ref(&rs.metadata) {
        return if owner.kind == "Deployment" { vec![ObjectRef::new(&owner.name).within(&ns)] } else { Vec::new() };
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()))
        .filter(|d| {
            let selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
            Selector::try_from(selector).is_ok_and(|s| !s.selects_all() && s.matches(rs.labels()))
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// Runs the controller until `shutdown` resolves (then lets syncs in flight finish).
pub async fn run_until(client: kube::Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let controller = Controller::new(Api::<Deployment>::all(client.clone()), watcher::Config::default());
    let deployments = controller.store();
    let ctx =
        Arc::new(Context { client: client.clone(), recorder: Recorder::new(client.clone(), "deployment-controller") });
    controller
        .watches(Api::<ReplicaSet>::all(client), watcher::Config::default(), move |rs| deployments_of(rs, &deployments))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((d, _)) => tracing::trace!(deployment = %d, "synced"),
                Err(ControllerError::ReconcilerFailed(..) | ControllerError::ObjectNotFound(..)) => {}
                Err(e) => tracing::warn!(controller = "deployment", error = %describe(&e), "controller error"),
            }
        })
        .await;
}
