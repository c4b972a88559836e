//! The node lifecycle controller: HA for hosts. Host agents register a Node and renew a Lease of
//! the same name in `kube-node-lease`; when a Lease goes unrenewed for [`Config::grace`]
//! (measured on this controller's clock from when it last saw `renewTime` change, like
//! upstream, so host clock skew does not matter), the node is lost:
//!
//! - its `Ready` condition (and the other kubelet conditions) become `Unknown`
//!   (`NodeStatusUnknown`, "Kubelet stopped posting node status.");
//! - it is tainted `node.kubernetes.io/unreachable` with `NoSchedule` and `NoExecute`;
//! - every pod bound to it (`spec.nodeName`) is marked `Failed` (reason `NodeLost`, `Ready`
//!   False) through the status subresource, so its ReplicaSet replaces it on a healthy host;
//! - Events `NodeNotReady` are recorded on the node and on each pod.
//!
//! When the Lease is renewed again the taints are lifted (the agent reports `Ready` itself).
//! Leases and Nodes are watched, never polled per node: a check costs O(nodes) in memory.
//!
//! Does not own: node registration and heartbeats (the host agent), scheduling, deleting pods.

pub mod actions;
pub mod health;
mod monitor;

use std::time::Duration;

pub use monitor::LEASE_NAMESPACE;

use crate::running::{Running, stopped};

/// The field manager of every write this controller makes.
pub const FIELD_MANAGER: &str = "canopy-node-lifecycle-controller";

/// Settings of the node lifecycle controller.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a Lease may go unrenewed before its node is lost (default 10 s).
    pub grace: Duration,
    /// How often health is checked (default 1 s).
    pub monitor_period: Duration,
    /// How often the pods of a node that stays lost are looked at again (default 30 s).
    pub resweep: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            monitor_period: Duration::from_secs(1),
            resweep: Duration::from_secs(30),
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_until(
    client: kube::Client,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    monitor::run_until(client, config, shutdown).await;
}

/// Runs the controller on a background task until [`Running::shutdown`].
pub fn start(client: kube::Client, config: Config) -> Running {
    Running::spawn(move |stop| monitor::run_until(client, config, stopped(stop)))
}
