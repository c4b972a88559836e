//! The Deployment controller, with upstream kube-controller-manager semantics, so `kubectl
//! rollout status|history|undo|pause|resume` and `kubectl scale` behave as on Kubernetes.
//!
//! - Each pod template gets a ReplicaSet `<deployment>-<pod-template-hash>` ([`hash`]), owned by
//!   the Deployment, its template and selector labelled with the hash; revisions are counted in
//!   the `deployment.kubernetes.io/revision` annotation (also mirrored on the Deployment), and
//!   `kubectl rollout undo` (a client-side template patch) makes an old ReplicaSet new again.
//! - `RollingUpdate` within `maxSurge`/`maxUnavailable` ([`fenceposts`]: ints or percentages,
//!   25% by default, surge rounded up, unavailability down); `Recreate`; proportional scaling of
//!   a resized Deployment mid-rollout; `paused`; old ReplicaSets beyond
//!   `revisionHistoryLimit` deleted; `progressDeadlineSeconds`.
//! - Status: counts over the ReplicaSets, `collisionCount`, and the `Available` and
//!   `Progressing` conditions with upstream's reasons and messages ([`status`]).
//!
//! Does not own: the pods (the [ReplicaSet controller](crate::replicaset) does), nor the `scale`
//! subresource (the API server serves it).

mod cleanup;
mod controller;
mod error;
pub mod family;
pub mod fenceposts;
pub mod hash;
mod new_rs;
mod reconcile;
mod recreate;
mod rolling;
pub mod scale;
pub mod status;
pub mod util;

pub use error::SyncError;

use crate::running::{Running, stopped};

/// The field manager of every write this controller makes.
pub const FIELD_MANAGER: &str = "canopy-deployment-controller";

/// Runs the controller until `shutdown` resolves.
pub async fn run_until(client: kube::Client, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    controller::run_until(client, shutdown).await;
}

/// Runs the controller on a background task until [`Running::shutdown`].
pub fn start(client: kube::Client) -> Running {
    Running::spawn(move |stop| controller::run_until(client, stopped(stop)))
}
