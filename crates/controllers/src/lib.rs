//! Canopy's platform controllers: level-triggered, idempotent reconcilers built on
//! `kube::runtime::Controller`, each an API client over HTTPS like any other.
//!
//! Owns:
//! - [`namespace_config`]: the vSphere Namespace settings (quota, container defaults,
//!   permissions) realised as Kubernetes objects;
//! - [`replicaset`] and [`deployment`]: the workload controllers, with upstream
//!   kube-controller-manager semantics (what `kubectl rollout` and `kubectl scale` rely on);
//! - [`node_lifecycle`]: HA for hosts, watching the node Leases the host agents renew; a lost
//!   host's node is marked `Unknown` and tainted, its pods `Failed`, so their ReplicaSets replace
//!   them elsewhere.
//!
//! Does not own: anything the API server does by itself (admission, quota accounting, garbage
//! collection, namespace termination), scheduling, or running pods (the host agent); this crate
//! never links the server or its store.

pub mod deployment;
mod events;
pub mod namespace_config;
pub mod node_lifecycle;
mod owners;
pub mod pods;
pub mod quantity;
pub mod replicaset;
mod running;

use std::time::Duration;

use anyhow::Context as _;

pub use running::Running;

/// Settings of [`run_with`].
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a node's Lease may go unrenewed before the node is considered lost.
    pub node_grace: Duration,
    /// How often node health is checked.
    pub node_monitor_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { node_grace: Duration::from_secs(10), node_monitor_period: Duration::from_secs(1) }
    }
}

/// Runs every controller with the default [`Config`] until the process ends (installs their CRDs
/// first).
pub async fn run(client: kube::Client) -> anyhow::Result<()> {
    run_with(client, Config::default()).await
}

/// Runs every controller until the process ends (or until the first one fails to start).
pub async fn run_with(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let forever = std::future::pending::<()>;
    let nodes = node_lifecycle::Config {
        grace: config.node_grace,
        monitor_period: config.node_monitor_period,
        ..Default::default()
    };
    // The workload and node controllers run until the process ends; the NamespaceConfig one
    // returns only when it cannot start (its CRD), which ends them all.
    tokio::select! {
        r = namespace_config::run(client.clone()) => r.context("the NamespaceConfig controller"),
        ((), (), ()) = async {
            tokio::join!(
                replicaset::run_until(client.clone(), replicaset::Config::default(), forever()),
                deployment::run_until(client.clone(), forever()),
                node_lifecycle::run_until(client.clone(), nodes, forever()),
            )
        } => Ok(()),
    }
}

/// An error and its causes on one line (`applying ResourceQuota a/b: ApiError: ...`), for
/// status messages and logs.
/// An API error ends the chain with the server's own message and reason (`... is forbidden: ...
/// (Forbidden)`), not the whole `Status`.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>() {
            text.push_str(&format!("{} ({})", status.message, status.reason));
            break;
        }
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("applying ResourceQuota a/b")]
    struct Outer(#[source] kube::Error);

    #[test]
    fn describe_ends_with_the_server_message() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "message": "quota is forbidden", "reason": "Forbidden", "code": 403,
        }))
        .expect("status");
        let e = Outer(kube::Error::Api(Box::new(status)));
        assert_eq!(super::describe(&e), "applying ResourceQuota a/b: quota is forbidden (Forbidden)");
    }
}
