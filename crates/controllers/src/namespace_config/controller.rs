//! Wiring the reconciler into a `kube::runtime::Controller`: what it watches, the error policy,
//! and how it is run (forever, or until a test shuts it down).
//!
//! Watches: every `NamespaceConfig`; the managed ResourceQuotas, LimitRanges and RoleBindings
//! (by label, mapped to their controlling config), so drift and quota usage are seen at once;
//! and Namespaces, mapped by name (a config is named after its namespace), so a namespace that
//! finishes terminating or appears is picked up.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller, Error as ControllerError};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::desired::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use super::error::ReconcileError;
use super::reconcile::{Context, reconcile};
use super::types::{API_VERSION, KIND, NamespaceConfig};
use crate::describe;

/// How soon a failed reconcile is retried.
const RETRY: Duration = Duration::from_secs(5);

fn error_policy(config: Arc<NamespaceConfig>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        controller = "namespace-config",
        namespace_config = %config.name_any(),
        error = %describe(error),
        "reconcile failed; retrying"
    );
    Action::requeue(RETRY)
}

/// The config that controls `obj`, from its controller owner reference.
fn controlling_config<K: Resource>(obj: K) -> Option<ObjectRef<NamespaceConfig>> {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.kind == KIND && r.api_version == API_VERSION)
        .map(|r| ObjectRef::new(&r.name))
}

fn controller(client: &kube::Client) -> Controller<NamespaceConfig> {
    // Children are watched as full objects mapped through their owner reference, not with
    // `Controller::owns`: that uses a metadata-only watch (`as=PartialObjectMetadataList`),
    // which Canopy's API server does not serve yet.
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    Controller::new(Api::<NamespaceConfig>::all(client.clone()), watcher::Config::default())
        .watches(Api::<ResourceQuota>::all(client.clone()), managed.clone(), controlling_config)
        .watches(Api::<LimitRange>::all(client.clone()), managed.clone(), controlling_config)
        .watches(Api::<RoleBinding>::all(client.clone()), managed, controlling_config)
        .watches(Api::<Namespace>::all(client.clone()), watcher::Config::default(), |ns| {
            ns.metadata.name.as_deref().map(ObjectRef::<NamespaceConfig>::new)
        })
}

/// Runs the controller until `shutdown` resolves (then lets reconciles in flight finish).
/// Expects the CRD to be installed.
pub async fn run_until(client: kube::Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let ctx = Arc::new(Context { client: client.clone() });
    controller(&client)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((config, _)) => tracing::trace!(namespace_config = %config.name, "reconciled"),
                // Reconcile failures are logged once, by the error policy.
                Err(ControllerError::ReconcilerFailed(..)) => {}
                // A namespace without a config of its name: nothing to do.
                Err(ControllerError::ObjectNotFound(obj)) => tracing::trace!(%obj, "no such config"),
                Err(e) => tracing::warn!(controller = "namespace-config", error = %describe(&e), "controller error"),
            }
        })
        .await;
}
