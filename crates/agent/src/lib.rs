//! The host agent: Canopy's Spherelet ("a kubelet ported to the hypervisor").
//!
//! Owns: registering a host as a Node (capacity, zone, the runtime's per-pod overhead),
//! heartbeating its Lease, running the pods bound to it through a [`runtime::Runtime`]
//! (sandbox, init containers, restart policy with back-off) and reporting their status and
//! Events like a kubelet. [`sim`] runs many simulated hosts in one process for scale tests.
//! Does not own: placement (canopy-scheduler), replacing pods of lost hosts (the node
//! lifecycle and ReplicaSet controllers), or the API server; it is an API client over HTTPS.

mod events;
pub mod host;
pub mod node;
pub mod runtime;
pub mod server;
pub mod sim;
mod status;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

pub use host::{Host, HostConfig};
pub use node::HostIdentity;

/// Runs one host until the process ends: registers it, serves logs and exec to the API server
/// when `serve` is given, then runs the pods the scheduler binds to it.
pub async fn run(
    client: kube::Client,
    runtime: Arc<dyn runtime::Runtime>,
    mut config: HostConfig,
    serve: Option<server::ServeConfig>,
) -> anyhow::Result<()> {
    let name = config.identity.name.clone();
    let server = match serve {
        Some(s) => Some(server::Server::bind(&s).await?),
        None => None,
    };
    config.endpoint = server.as_ref().map(|s| s.endpoint().clone());
    let host = Host::new(client.clone(), runtime, config);
    host.register().await.map_err(|e| anyhow::anyhow!("registering host {name}: {e}"))?;
    tracing::info!(host = %name, "host registered");
    let _serving = server.map(|s| s.serve(host.clone()));
    let selector = format!("spec.nodeName={name}");
    host::feed(client, HashMap::from([(name, host)]), selector).await;
    anyhow::bail!("the pod watch ended")
}
