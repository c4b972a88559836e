//! The ReplicaSet controller, with upstream kube-controller-manager semantics: a ReplicaSet
//! controls the pods its selector matches (ownerReferences with `controller` and
//! `blockOwnerDeletion`), creates them from its template (`generateName: <name>-`) and deletes
//! the surplus to keep `spec.replicas` active pods (active: not `Succeeded`/`Failed`, not being
//! deleted). A pod marked `Failed` (e.g. by the [node lifecycle
//! controller](crate::node_lifecycle) when its host is lost) is replaced, which is how HA restart
//! works.
//!
//! - [`expectations`]: creations and deletions in flight are counted until the pod watch shows
//!   them, so a lagging watch never causes a double create.
//! - Creations go in slow-start batches (1, 2, 4, ...); deletions take victims in upstream's order
//!   ([`rank`]).
//! - Orphans the selector matches are adopted; controlled pods that stop matching are released.
//! - Status: `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` (ready
//!   for `minReadySeconds`), `observedGeneration`, `ReplicaFailure`, via the status subresource.
//!
//! Does not own: scheduling, running pods (the host agent), or garbage collection of pods whose
//! ReplicaSet is deleted (the API server's collector does it through the ownerReferences).

mod claim;
mod controller;
mod error;
pub mod expectations;
mod informer;
pub mod manage;
pub mod rank;
mod reconcile;
pub mod status;

use std::time::Duration;

pub use error::SyncError;

use crate::running::{Running, stopped};

/// The field manager of every write this controller makes.
pub const FIELD_MANAGER: &str = "canopy-replicaset-controller";

/// Settings of the ReplicaSet controller.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Fault injection for tests: every pod watch event reaches the controller this late (a
    /// slow watch). Zero in production.
    pub watch_lag: Duration,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_until(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    controller::run_until(client, config, shutdown).await;
}

/// Runs the controller on a background task until [`Running::shutdown`].
pub fn start(client: kube::Client, config: Config) -> Running {
    Running::spawn(move |stop| controller::run_until(client, config, stopped(stop)))
}
