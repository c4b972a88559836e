//! `canopy sim`: many simulated hosts in one process, for scale tests and the benchmark. Each
//! host registers its own Node and heartbeats its own Lease; their pods come from one shared
//! watch (a thousand per-host watches would measure the watch fan-out, not the platform).
//! Stopping the process is the loss of all its hosts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::host::{self, Host, HostConfig};
use crate::node::HostIdentity;
use crate::runtime::sim::{SimConfig, SimRuntime};

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub hosts: usize,
    pub zones: usize,
    pub name_prefix: String,
    pub host: SimConfig,
    pub lease_seconds: i32,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self { hosts: 3, zones: 1, name_prefix: "sim-".into(), host: SimConfig::default(), lease_seconds: 10 }
    }
}

/// The hosts of a running simulation.
pub struct Sim {
    pub hosts: Vec<Arc<Host>>,
    feed: tokio::task::JoinHandle<()>,
}

impl Sim {
    /// Registers every host (a few at a time) and starts feeding them pods.
    pub async fn start(client: kube::Client, opts: &SimOptions) -> anyhow::Result<Self> {
        let width = opts.hosts.to_string().len().max(3);
        let mut hosts = Vec::with_capacity(opts.hosts);
        for i in 0..opts.hosts {
            let name = format!("{}{i:0width$}", opts.name_prefix);
            let zone = (opts.zones > 0).then(|| format!("zone-{}", i % opts.zones));
            let runtime = Arc::new(SimRuntime::new(SimConfig { host_index: i as u32, ..opts.host.clone() }));
            let mut config = HostConfig::new(HostIdentity { name, zone, address: Some(host_address(i)) });
            config.lease_seconds = opts.lease_seconds;
            config.renew_every = Duration::from_millis((opts.lease_seconds.max(1) as u64) * 250);
            hosts.push(Host::new(client.clone(), runtime, config));
        }
        let registrations = futures::stream::iter(hosts.iter().cloned())
            .map(|h| async move { h.register().await.map_err(|e| anyhow::anyhow!("registering {}: {e}", h.name())) });
        use futures::StreamExt;
        let results: Vec<anyhow::Result<()>> = registrations.buffer_unordered(32).collect().await;
        results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        let by_name: HashMap<String, Arc<Host>> = hosts.iter().map(|h| (h.name().to_string(), h.clone())).collect();
        // Only pods bound somewhere; those bound to other hosts are ignored by the router.
        let feed = tokio::spawn(host::feed(client, by_name, "spec.nodeName!=".into()));
        Ok(Self { hosts, feed })
    }

    /// Every host stops at once, as if the hardware went away.
    pub fn stop(self) {
        self.feed.abort();
        for h in &self.hosts {
            h.stop();
        }
    }
}

/// A made-up but stable InternalIP per simulated host (from TEST-NET-like 198.18.0.0/15,
/// reserved for benchmarks; never routed anywhere).
fn host_address(i: usize) -> String {
    format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff)
}
