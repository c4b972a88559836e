//! The Canopy server in a child process (the bench binary re-executed in its hidden `serve` mode),
//! so that its resident memory can be read apart from the client's; and child-process guards.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// Kills and reaps a child process when dropped, also when the benchmark fails or panics.
pub struct ChildGuard {
    child: Child,
    name: &'static str,
}

impl ChildGuard {
    pub fn new(child: Child, name: &'static str) -> Self {
        Self { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the child has already exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("{} exited early: {status}", self.name),
            None => Ok(()),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A Canopy server running in a child process.
pub struct ServerProcess {
    /// The child reads its stdin until EOF: when this process dies without running destructors,
    /// the pipe closes and the server exits by itself.
    _stdin: Option<ChildStdin>,
    guard: ChildGuard,
    pub url: String,
    pub kubeconfig: PathBuf,
}

impl ServerProcess {
    /// Starts `canopy-bench serve` on a fresh data directory and waits until it listens.
    pub async fn spawn(data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(data_dir, false).await
    }

    /// The same, with the scheduler and the controllers running in the server process.
    pub async fn spawn_platform(data_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(data_dir, true).await
    }

    async fn spawn_with(data_dir: &Path, platform: bool) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the bench binary")?;
        let mut child = Command::new(exe)
            .arg("serve")
            .args(platform.then_some("--platform"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server child process")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let guard = ChildGuard::new(child, "canopy server");
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .context("the server did not start within 60 s")?
            .context("reading the server's stdout")??;
        if line.trim().is_empty() {
            bail!("the server exited before listening (see its stderr above)");
        }
        let started: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("parsing {line:?}"))?;
        let field = |name: &str| {
            started
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .with_context(|| format!("no {name} in {line:?}"))
        };
        Ok(Self { _stdin: stdin, guard, url: field("url")?, kubeconfig: PathBuf::from(field("kubeconfig")?) })
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// The server's resident memory now, in bytes.
    pub fn rss_bytes(&mut self) -> anyhow::Result<u64> {
        self.guard.check_running()?;
        rss_bytes(self.guard.pid())
    }
}

/// `VmRSS` of a process from `/proc/<pid>/status`, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).with_context(|| format!("no VmRSS in {path}"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("parsing {line:?}"))?;
    Ok(kib * 1024)
}

/// CPU time a process has used so far (user + system, all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command (which may hold spaces) start at the state, field 3; utime and
    // stime are fields 14 and 15, in USER_HZ ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).with_context(|| format!("parsing {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).with_context(|| format!("short {path}"))?.parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Simulated hosts in a child process: killing it is the loss of all of them.
pub struct SimProcess {
    _stdin: Option<ChildStdin>,
    guard: ChildGuard,
}

impl SimProcess {
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Starts `canopy-bench sim-hosts` and waits until every host is registered.
    pub async fn spawn(kubeconfig: &Path, hosts: usize, zones: usize, prefix: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the bench binary")?;
        let mut child = Command::new(exe)
            .args(["sim-hosts", "--hosts", &hosts.to_string(), "--zones", &zones.to_string(), "--prefix", prefix])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the simulated hosts")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let guard = ChildGuard::new(child, "simulated hosts");
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(300), read)
            .await
            .context("the simulated hosts did not register within 300 s")?
            .context("reading the simulated hosts' stdout")??;
        if line.trim() != "ready" {
            bail!("the simulated hosts failed to start (see their stderr above)");
        }
        Ok(Self { _stdin: stdin, guard })
    }
}

/// The hidden `sim-hosts` mode: registers the hosts, prints `ready`, runs until stdin closes.
pub async fn sim_hosts(kubeconfig: PathBuf, hosts: usize, zones: usize, prefix: String) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).context("reading the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let opts = canopy_agent::sim::SimOptions { hosts, zones, name_prefix: prefix, ..Default::default() };
    let sim = canopy_agent::sim::Sim::start(client, &opts).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
    }
    tokio::task::spawn_blocking(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    })
    .await?;
    sim.stop();
    std::process::exit(0);
}

/// Runs the scheduler and controllers in the server's process, as `canopy server` does.
fn start_platform(server: &canopy_apiserver::RunningServer) -> anyhow::Result<()> {
    let local = server.local();
    let client = local.client();
    tokio::spawn(async move {
        if let Err(e) = canopy_controllers::run(client).await {
            eprintln!("canopy-bench serve: the controllers stopped: {e:#}");
        }
    });
    canopy_scheduler::driver::spawn_dedicated(move || async move { Ok(local.client()) })
        .context("starting the scheduler's thread")?;
    Ok(())
}

/// The hidden `serve` mode: runs the server until stdin closes (the parent is gone).
pub async fn serve(data_dir: PathBuf, listen: SocketAddr, platform: bool) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let server = canopy_apiserver::start(canopy_apiserver::ServerConfig { data_dir, listen, extra_sans: vec![] })
        .await
        .context("starting the API server")?;
    if platform {
        start_platform(&server)?;
    }
    let line = serde_json::json!({"url": server.url, "kubeconfig": server.kubeconfig});
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    let parent_gone = tokio::task::spawn_blocking(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    });
    let result = tokio::select! {
        r = server.wait() => r,
        _ = parent_gone => Ok(()),
    };
    // Exit at once: a blocking stdin read would otherwise hold up the runtime's shutdown.
    if let Err(e) = &result {
        eprintln!("canopy-bench serve: {e:#}");
    }
    std::process::exit(i32::from(result.is_err()));
}
