//! `canopy agent` (one host) and `canopy sim` (many simulated hosts in one process).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_agent::runtime::Resources;
use canopy_agent::runtime::container::{ContainerConfig, ContainerRuntime};
use canopy_agent::runtime::sim::{SimConfig, SimRuntime};

/// How a host reaches the API server: a kubeconfig, or a server URL with a bearer token file
/// (a ServiceAccount token bound to `system:node`).
#[derive(clap::Args)]
pub struct Connection {
    /// Kubeconfig to use (default: KUBECONFIG, else ~/.kube/config), unless --server is given.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The API server's URL, used with --token-file.
    #[arg(long, requires = "token_file")]
    server: Option<String>,
    /// A file holding the bearer token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The CA that signs the server's certificate (PEM), with --server.
    #[arg(long)]
    certificate_authority: Option<PathBuf>,
}

impl Connection {
    async fn client(&self) -> anyhow::Result<kube::Client> {
        let Some(server) = &self.server else { return crate::directory::admin_client(self.kubeconfig.clone()).await };
        let token_file = self.token_file.as_ref().context("--server needs --token-file")?;
        let token = std::fs::read_to_string(token_file).with_context(|| format!("reading {}", token_file.display()))?;
        let mut config = kube::Config::new(server.parse().with_context(|| format!("--server {server}"))?);
        config.auth_info.token = Some(token.trim().to_string().into());
        if let Some(ca) = &self.certificate_authority {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            let certs = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{} is not PEM", ca.display()))?;
            config.root_cert = Some(certs.into_iter().map(|c| c.to_vec()).collect());
        }
        Ok(kube::Client::try_from(config)?)
    }
}

/// What runs the host's pods: `container` (runc, one network namespace per pod) or `sim`
/// (runs nothing; pods report Running after a start latency). `microvm` is not built yet.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RuntimeKind {
    Container,
    Sim,
}

/// Capacity the host offers to pods.
#[derive(clap::Args)]
pub struct Capacity {
    /// CPU cores offered to pods.
    #[arg(long, default_value_t = 16)]
    cpus: i64,
    /// Memory offered to pods, in GiB.
    #[arg(long, default_value_t = 64)]
    memory_gib: i64,
    #[arg(long, default_value_t = 110)]
    max_pods: i64,
    /// Per-pod memory overhead of the simulated runtime, in MiB.
    #[arg(long, default_value_t = 0)]
    overhead_mib: i64,
    /// How long a simulated container takes to start, in milliseconds.
    #[arg(long, default_value_t = 20)]
    start_latency_ms: u64,
}

impl Capacity {
    fn resources(&self) -> Resources {
        Resources { cpu_milli: self.cpus * 1000, memory_bytes: self.memory_gib << 30 }
    }

    fn config(&self) -> SimConfig {
        SimConfig {
            capacity: self.resources(),
            max_pods: self.max_pods,
            pod_overhead: Resources { cpu_milli: 0, memory_bytes: self.overhead_mib << 20 },
            start_latency: Duration::from_millis(self.start_latency_ms),
            host_index: 0,
        }
    }
}

#[derive(clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    connection: Connection,
    /// The host's name (default: this machine's hostname).
    #[arg(long)]
    name: Option<String>,
    /// The zone (failure domain) the host is in.
    #[arg(long)]
    zone: Option<String>,
    #[arg(long, value_enum, default_value = "container")]
    runtime: RuntimeKind,
    /// Where the agent keeps its state (images, pod directories).
    #[arg(long, default_value = "canopy-agent-data")]
    data_dir: PathBuf,
    /// The address other hosts reach this one on (reported as the Node's InternalIP).
    #[arg(long)]
    address: Option<String>,
    /// A registry (HOST:PORT) that may be spoken to over plain HTTP (repeatable).
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// The pods' network on this host (container runtime); its .1 is the pods' gateway.
    #[arg(long, default_value = "10.88.0.0/24")]
    pod_cidr: String,
    #[command(flatten)]
    capacity: Capacity,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "host".into())
}

pub async fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let client = a.connection.client().await?;
    std::fs::create_dir_all(&a.data_dir).with_context(|| format!("creating {}", a.data_dir.display()))?;
    let runtime: Arc<dyn canopy_agent::runtime::Runtime> = match a.runtime {
        RuntimeKind::Container => {
            let config = ContainerConfig {
                data_dir: a.data_dir.clone(),
                insecure_registries: a.insecure_registries.clone(),
                capacity: a.capacity.resources(),
                max_pods: a.capacity.max_pods,
                bridge: "canopy0".into(),
                pod_cidr: a.pod_cidr.clone(),
                host_netns: None,
            };
            Arc::new(ContainerRuntime::new(config).context("starting the container runtime (is runc installed?)")?)
        }
        RuntimeKind::Sim => {
            eprintln!("canopy agent: runtime sim: pods are simulated, nothing runs on this machine");
            Arc::new(SimRuntime::new(a.capacity.config()))
        }
    };
    let identity =
        canopy_agent::HostIdentity { name: a.name.unwrap_or_else(hostname), zone: a.zone, address: a.address };
    canopy_agent::run(client, runtime, canopy_agent::HostConfig::new(identity)).await
}

#[derive(clap::Args)]
pub struct SimArgs {
    #[command(flatten)]
    connection: Connection,
    /// How many hosts to simulate.
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// Spread the hosts round-robin over this many zones (zone-0, zone-1, ...).
    #[arg(long, default_value_t = 1)]
    zones: usize,
    #[arg(long, default_value = "sim-")]
    name_prefix: String,
    /// The Lease duration the hosts heartbeat with, in seconds.
    #[arg(long, default_value_t = 10)]
    lease_seconds: i32,
    #[command(flatten)]
    capacity: Capacity,
}

pub async fn sim(a: SimArgs) -> anyhow::Result<()> {
    let client = a.connection.client().await?;
    let opts = canopy_agent::sim::SimOptions {
        hosts: a.hosts,
        zones: a.zones,
        name_prefix: a.name_prefix,
        host: a.capacity.config(),
        lease_seconds: a.lease_seconds,
    };
    let started = std::time::Instant::now();
    let sim = canopy_agent::sim::Sim::start(client, &opts).await?;
    eprintln!(
        "canopy sim: {} hosts in {} zone(s) registered in {:.1}s; stop this process to lose them all",
        sim.hosts.len(),
        opts.zones,
        started.elapsed().as_secs_f64()
    );
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.stop();
    Ok(())
}
