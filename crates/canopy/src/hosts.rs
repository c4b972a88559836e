//! `canopy agent` (one host) and `canopy sim` (many simulated hosts in one process); `canopy up`
//! runs its local host with [`run_host`], as `canopy agent` does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use canopy_agent::runtime::container::{ContainerConfig, ContainerRuntime};
use canopy_agent::runtime::microvm::{AccelChoice, MicrovmConfig, MicrovmRuntime, default_kernel};
use canopy_agent::runtime::sim::{SimConfig, SimRuntime};
use canopy_agent::runtime::{Resources, Runtime};

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
    async fn config(&self) -> anyhow::Result<kube::Config> {
        let Some(server) = &self.server else { return crate::directory::admin_config(self.kubeconfig.clone()).await };
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
        Ok(config)
    }

    async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kube::Client::try_from(self.config().await?)?)
    }
}

/// What runs the host's pods: `container` (runc, one network namespace per pod), `microvm`
/// (one QEMU microVM with its own kernel per pod) or `sim` (runs nothing; pods report Running
/// after a start latency).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RuntimeKind {
    Container,
    Microvm,
    Sim,
}

/// Capacity the host offers to pods.
#[derive(clap::Args)]
pub struct Capacity {
    /// CPU cores offered to pods (default: this machine's CPUs for a container host, 16 for a
    /// simulated one).
    #[arg(long)]
    cpus: Option<i64>,
    /// Memory offered to pods, in GiB (default: for a container host, this machine's memory less
    /// max(10%, 1 GiB) for the system and Canopy; 64 for a simulated one).
    #[arg(long)]
    memory_gib: Option<i64>,
    #[arg(long, default_value_t = 110)]
    max_pods: i64,
}

impl Capacity {
    /// A real host's: the flags, else what this machine has ([`crate::machine`]).
    pub fn of_this_machine(&self) -> anyhow::Result<Resources> {
        let machine = match (self.cpus, self.memory_gib) {
            (Some(cpus), Some(gib)) => Resources { cpu_milli: cpus * 1000, memory_bytes: gib << 30 },
            _ => crate::machine::resources()?,
        };
        Ok(self.over(machine))
    }

    /// A simulated host's: the flags, else 16 CPUs and 64 GiB.
    fn simulated(&self) -> Resources {
        self.over(Resources { cpu_milli: 16_000, memory_bytes: 64 << 30 })
    }

    fn over(&self, default: Resources) -> Resources {
        Resources {
            cpu_milli: self.cpus.map_or(default.cpu_milli, |c| c * 1000),
            memory_bytes: self.memory_gib.map_or(default.memory_bytes, |g| g << 30),
        }
    }
}

/// How simulated hosts behave.
#[derive(clap::Args)]
pub struct SimTuning {
    /// Per-pod memory overhead of the simulated runtime, in MiB.
    #[arg(long, default_value_t = 0)]
    overhead_mib: i64,
    /// How long a simulated container takes to start, in milliseconds.
    #[arg(long, default_value_t = 20)]
    start_latency_ms: u64,
}

impl SimTuning {
    fn config(&self, capacity: &Capacity) -> SimConfig {
        SimConfig {
            capacity: capacity.simulated(),
            max_pods: capacity.max_pods,
            pod_overhead: Resources { cpu_milli: 0, memory_bytes: self.overhead_mib << 20 },
            start_latency: Duration::from_millis(self.start_latency_ms),
            host_index: 0,
        }
    }
}

/// The container runtime's settings, the same for `canopy agent` and `canopy up`.
#[derive(clap::Args)]
pub struct ContainerArgs {
    /// A registry (HOST:PORT) that may be spoken to over plain HTTP (repeatable).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// The pods' network on this host (container runtime); its .1 is the pods' gateway.
    #[arg(long, default_value = "10.88.0.0/24")]
    pod_cidr: String,
    /// The bridge pods attach to (container runtime); it lives in the network namespace
    /// `canopy-host-BRIDGE`, so hosts sharing a machine (tests) keep separate pod networks.
    #[arg(long, default_value = "canopy0")]
    bridge: String,
}

impl ContainerArgs {
    /// The runtime's configuration, keeping its state under `data_dir`.
    pub fn config(&self, data_dir: &Path, capacity: &Capacity) -> anyhow::Result<ContainerConfig> {
        Ok(ContainerConfig {
            data_dir: data_dir.to_path_buf(),
            insecure_registries: self.insecure_registries.clone(),
            capacity: capacity.of_this_machine()?,
            max_pods: capacity.max_pods,
            bridge: self.bridge.clone(),
            pod_cidr: self.pod_cidr.clone(),
            host_netns: None,
        })
    }
}

/// The microvm runtime's own settings.
#[derive(clap::Args)]
pub struct MicrovmArgs {
    /// The pod VMs' kernel (default: the newest /boot/vmlinuz-*-cloud-amd64, from Debian's
    /// linux-image-cloud-amd64); its modules are read from /lib/modules/RELEASE.
    #[arg(long)]
    guest_kernel: Option<PathBuf>,
    /// The static canopy-guest executable, the pod VMs' init (default: built by
    /// scripts/build-guest into target/guest/, or installed beside canopy).
    #[arg(long)]
    guest_binary: Option<PathBuf>,
    /// The accelerator: `auto` boots a probe VM with KVM and falls back to TCG (software
    /// emulation) when it cannot boot.
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AccelArg {
    Auto,
    Kvm,
    Tcg,
}

impl MicrovmArgs {
    fn kernel(&self) -> anyhow::Result<PathBuf> {
        self.guest_kernel
            .clone()
            .or_else(default_kernel)
            .context("no guest kernel in /boot (apt-get install linux-image-cloud-amd64, or pass --guest-kernel)")
    }

    fn guest_binary(&self) -> anyhow::Result<PathBuf> {
        if let Some(g) = &self.guest_binary {
            return Ok(g.clone());
        }
        let exe = std::env::current_exe().context("finding canopy's own executable")?;
        let dir = exe.parent().context("canopy's executable has no directory")?;
        [dir.join("../guest/canopy-guest"), dir.join("canopy-guest")]
            .into_iter()
            .find(|p| p.is_file())
            .context("no canopy-guest next to canopy (run scripts/build-guest, or pass --guest-binary)")
    }

    /// What this machine lacks to run pod VMs (empty when it can).
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (tool, package) in [("qemu-system-x86_64", "qemu-system-x86"), ("qemu-img", "qemu-utils")] {
            let found = std::process::Command::new(tool)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !found {
                missing.push(format!("{tool} (apt-get install {package})"));
            }
        }
        if let Err(e) = self.kernel() {
            missing.push(format!("{e:#}"));
        }
        if let Err(e) = self.guest_binary() {
            missing.push(format!("{e:#}"));
        }
        missing
    }

    pub async fn runtime(
        &self,
        container: &ContainerArgs,
        data_dir: &Path,
        capacity: &Capacity,
    ) -> anyhow::Result<Arc<dyn Runtime>> {
        let base = container.config(data_dir, capacity)?;
        let accel = match self.accel {
            AccelArg::Auto => AccelChoice::Auto,
            AccelArg::Kvm => AccelChoice::Kvm,
            AccelArg::Tcg => AccelChoice::Tcg,
        };
        let config = MicrovmConfig { base, kernel: self.kernel()?, guest: self.guest_binary()?, accel };
        let runtime = MicrovmRuntime::new(config).await.context("starting the microvm runtime")?;
        eprintln!("canopy agent: runtime microvm: pod VMs boot with {}", runtime.accel().name());
        Ok(Arc::new(runtime))
    }
}

pub fn container_runtime(config: ContainerConfig) -> anyhow::Result<Arc<dyn Runtime>> {
    Ok(Arc::new(ContainerRuntime::new(config).context("starting the container runtime (is runc installed?)")?))
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
    /// Where the agent serves logs and exec to the API server (HTTPS; only the API server's
    /// client certificate is accepted).
    #[arg(long, default_value = "0.0.0.0:10250")]
    listen: SocketAddr,
    #[command(flatten)]
    container: ContainerArgs,
    #[command(flatten)]
    microvm: MicrovmArgs,
    #[command(flatten)]
    capacity: Capacity,
    #[command(flatten)]
    sim: SimTuning,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "host".into())
}

/// One host as `canopy agent` and `canopy up` run it.
pub struct HostSpec {
    pub identity: canopy_agent::HostIdentity,
    /// Where the host keeps its state; its serving certificate goes in `pki` below it.
    pub data_dir: PathBuf,
    /// Where it serves logs and exec to the API server.
    pub listen: SocketAddr,
}

/// Runs a host until the process ends: the runtime `runtime` makes once the API server's
/// credentials are known to be usable, and the HTTPS endpoint the API server proxies logs and
/// exec to.
pub async fn run_host(
    config: kube::Config,
    spec: HostSpec,
    runtime: impl FnOnce() -> anyhow::Result<Arc<dyn Runtime>>,
) -> anyhow::Result<()> {
    let cluster_ca: Vec<_> = config.root_cert.clone().unwrap_or_default().into_iter().map(Into::into).collect();
    if cluster_ca.is_empty() {
        anyhow::bail!(
            "the agent needs the cluster CA to authenticate the API server: use a kubeconfig with \
             certificate-authority-data or --certificate-authority"
        );
    }
    let client = kube::Client::try_from(config)?;
    std::fs::create_dir_all(&spec.data_dir).with_context(|| format!("creating {}", spec.data_dir.display()))?;
    let runtime = runtime()?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    names.extend(spec.identity.address.iter().filter(|addr| !names.contains(addr)).cloned().collect::<Vec<_>>());
    let serve =
        canopy_agent::server::ServeConfig { listen: spec.listen, names, dir: spec.data_dir.join("pki"), cluster_ca };
    canopy_agent::run(client, runtime, canopy_agent::HostConfig::new(spec.identity), Some(serve)).await
}

pub async fn agent(a: AgentArgs) -> anyhow::Result<()> {
    let config = a.connection.config().await?;
    let identity =
        canopy_agent::HostIdentity { name: a.name.unwrap_or_else(hostname), zone: a.zone, address: a.address };
    let spec = HostSpec { identity, data_dir: a.data_dir.clone(), listen: a.listen };
    let (container, capacity, sim) = (a.container, a.capacity, a.sim);
    // Built before the host starts: it may boot a probe VM.
    let microvm = match a.runtime {
        RuntimeKind::Microvm => Some(a.microvm.runtime(&container, &a.data_dir, &capacity).await?),
        _ => None,
    };
    run_host(config, spec, move || match a.runtime {
        RuntimeKind::Container => container_runtime(container.config(&a.data_dir, &capacity)?),
        RuntimeKind::Microvm => microvm.context("the microvm runtime was not built"),
        RuntimeKind::Sim => {
            eprintln!("canopy agent: runtime sim: pods are simulated, nothing runs on this machine");
            Ok(Arc::new(SimRuntime::new(sim.config(&capacity))))
        }
    })
    .await
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
    #[command(flatten)]
    tuning: SimTuning,
}

pub async fn sim(a: SimArgs) -> anyhow::Result<()> {
    let client = a.connection.client().await?;
    let opts = canopy_agent::sim::SimOptions {
        hosts: a.hosts,
        zones: a.zones,
        name_prefix: a.name_prefix,
        host: a.tuning.config(&a.capacity),
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
