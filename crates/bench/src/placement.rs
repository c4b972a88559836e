//! The placement benchmark (`canopy-bench placement`): a server child running the scheduler and
//! controllers, simulated hosts in two more children, then
//! 1. scheduling throughput and pod startup latency: bare pods created as fast as 64 clients
//!    can, each timed from its create's send to the watch showing it bound and Running;
//! 2. utilization balance: the standard deviation of hosts' CPU allocation afterwards;
//! 3. recovery: a replicated app across all hosts, then the child holding a tenth of the hosts
//!    is killed; the time until the app is whole again on the surviving hosts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use canopy_client::{PodOutline, into_pods};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::child::{ServerProcess, SimProcess};
use crate::load::Clients;
use crate::progress;
use crate::report::{Report, thousands, verdict};
use crate::stats::{Summary, ms};

#[derive(clap::Args, Clone)]
pub struct PlacementOptions {
    /// Simulated hosts.
    #[arg(long, default_value_t = 1000)]
    pub hosts: usize,
    #[arg(long, default_value_t = 3)]
    pub zones: usize,
    /// Bare pods created for the scheduling run.
    #[arg(long, default_value_t = 30_000)]
    pub pods: usize,
    /// Pods created afterwards at a steady rate, for the startup latency.
    #[arg(long, default_value_t = 3000)]
    pub paced_pods: usize,
    /// Their creation rate, pods per second (upstream measures its startup SLO at a steady rate
    /// too, not with a backlog).
    #[arg(long, default_value_t = 300.0)]
    pub paced_rate: f64,
    /// Replicas of the app whose hosts are lost.
    #[arg(long, default_value_t = 1000)]
    pub replicas: i32,
    /// Where the temporary data directories go.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

const NS: &str = "bench";
const GRACE: Duration = Duration::from_secs(10);

/// Per-pod timestamps in nanoseconds since the run's base instant (0 = not yet).
struct Timeline {
    base: Instant,
    sent: Vec<AtomicU64>,
    bound: Vec<AtomicU64>,
    running: Vec<AtomicU64>,
}

impl Timeline {
    fn new(n: usize) -> Self {
        let v = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Self { base: Instant::now(), sent: v(), bound: v(), running: v() }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos().max(1) as u64
    }

    fn mark(slot: &AtomicU64, t: u64) -> bool {
        slot.compare_exchange(0, t, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

fn pod_index(name: &str) -> Option<usize> {
    name.strip_prefix("p-")?.parse().ok()
}

fn bare_pod(i: usize) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("p-{i}"), "labels": {"app": format!("bench-{}", i % 300)}},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    }))
    .expect("a pod of strings")
}

/// Follows pods in the namespace and stamps when each was first seen bound and Running.
fn follow(clients: &Clients, timeline: Arc<Timeline>) -> tokio::task::JoinHandle<()> {
    // The instrument decodes only what it reads (node and phase), not whole pods.
    let pods: Api<PodOutline> = Api::namespaced(clients.get(0), NS);
    tokio::spawn(async move {
        let mut stream = watcher(pods, watcher::Config::default()).map_ok(into_pods).boxed();
        while let Some(event) = stream.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                _ => continue,
            };
            let Some(i) = pod_index(&pod.name_any()).filter(|i| *i < timeline.sent.len()) else { continue };
            let now = timeline.now();
            if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                Timeline::mark(&timeline.bound[i], now);
            }
            if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                Timeline::mark(&timeline.running[i], now);
            }
        }
    })
}

async fn wait_for_nodes(clients: &Clients, want: usize) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(clients.get(0));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ready = nodes
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {want} hosts became Ready");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What one batch of bare pods showed.
struct Batch {
    create_errors: usize,
    create_rate: f64,
    bound: usize,
    /// Bound pods over the time from the first create to the last bind.
    bind_rate: f64,
    running: usize,
    startup: Summary,
}

/// Creates the pods `range` from 64 workers, all at once or paced at `rate` per second (an open
/// loop: each create goes out at its appointed time whatever the server's backlog), and waits
/// until all are Running.
async fn create_batch(
    clients: &Clients,
    timeline: &Arc<Timeline>,
    range: std::ops::Range<usize>,
    rate: Option<f64>,
) -> anyhow::Result<Batch> {
    let (first, total) = (range.start, range.len());
    let next = Arc::new(AtomicUsize::new(range.start));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for w in 0..64 {
        let (client, next, timeline, end) = (clients.get(w), next.clone(), timeline.clone(), range.end);
        workers.spawn(async move {
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return errors;
                }
                if let Some(rate) = rate {
                    tokio::time::sleep_until(started + Duration::from_secs_f64((i - first) as f64 / rate)).await;
                }
                timeline.sent[i].store(timeline.now(), Ordering::Release);
                // Creates as any client would; the answer is not decoded (the bench's own CPU
                // is taken from the machine being measured).
                if canopy_client::unread::create::<Pod>(&client, NS, &bare_pod(i)).await.is_err() {
                    errors += 1;
                }
            }
        });
    }
    let mut create_errors = 0;
    while let Some(r) = workers.join_next().await {
        create_errors += r.context("a create worker panicked")?;
    }
    let created_at = timeline.now();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_report = Instant::now();
    let running_in_range = || timeline.running[range.clone()].iter().filter(|t| t.load(Ordering::Relaxed) > 0).count();
    while running_in_range() < total - create_errors && Instant::now() < deadline {
        if last_report.elapsed() > Duration::from_secs(5) {
            progress(format!("P1 {} of {} pods Running", running_in_range(), thousands(total as f64)));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let load = |v: &[AtomicU64]| v[range.clone()].iter().map(|a| a.load(Ordering::Acquire)).collect::<Vec<u64>>();
    let (sent, bound, running) = (load(&timeline.sent), load(&timeline.bound), load(&timeline.running));
    let first_sent = sent.iter().copied().filter(|t| *t > 0).min().unwrap_or(0);
    let last_bound = bound.iter().copied().max().unwrap_or(0);
    let bound_count = bound.iter().filter(|t| **t > 0).count();
    let secs = |ns: u64| (ns as f64 / 1e9).max(f64::MIN_POSITIVE);
    let startup: Vec<Duration> = sent
        .iter()
        .zip(&running)
        .filter(|(s, r)| **s > 0 && **r > 0)
        .map(|(s, r)| Duration::from_nanos(r.saturating_sub(*s)))
        .collect();
    Ok(Batch {
        create_errors,
        create_rate: total as f64 / secs(created_at.saturating_sub(first_sent)),
        bound: bound_count,
        bind_rate: bound_count as f64 / secs(last_bound.saturating_sub(first_sent)),
        running: startup.len(),
        startup: Summary::of(startup),
    })
}

/// The processes of the run by role, to count the CPU time each role spends per pod.
struct Roles(Vec<(&'static str, u32)>);

impl Roles {
    const NAMES: [&'static str; 3] = ["server", "hosts", "bench clients"];

    /// CPU seconds used so far by each role of [`Roles::NAMES`].
    fn cpu(&self) -> anyhow::Result<[f64; 3]> {
        let mut out = [0.0; 3];
        for (role, pid) in &self.0 {
            let i = Self::NAMES.iter().position(|n| n == role).context("an unknown role")?;
            out[i] += crate::child::cpu_seconds(*pid)?;
        }
        Ok(out)
    }
}

/// P1: throughput with every pod created at once, then startup latency at a steady rate.
async fn scheduling_run(
    clients: &Clients,
    opts: &PlacementOptions,
    roles: &Roles,
    report: &mut Report,
) -> anyhow::Result<()> {
    let timeline = Arc::new(Timeline::new(opts.pods + opts.paced_pods));
    let follower = follow(clients, timeline.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    progress(format!("P1 creating {} pods from 64 clients", thousands(opts.pods as f64)));
    let cpu_before = roles.cpu()?;
    let burst = create_batch(clients, &timeline, 0..opts.pods, None).await?;
    let cpu_after = roles.cpu()?;
    report.add(
        "P1",
        format!("pods created at once ({} hosts, {} zones, 64 clients)", opts.hosts, opts.zones),
        format!(
            "{} at {}/s ({} errors)",
            thousands(opts.pods as f64),
            thousands(burst.create_rate),
            burst.create_errors
        ),
        "",
    );
    report.add(
        "P1",
        "scheduling throughput (bound pods / first create to last bind)",
        format!("{}/s ({} bound)", thousands(burst.bind_rate), thousands(burst.bound as f64)),
        verdict(">= 1,000/s", burst.bind_rate >= 1000.0 && burst.bound == opts.pods),
    );
    let per_pod = |i: usize| (cpu_after[i] - cpu_before[i]) * 1000.0 / opts.pods as f64;
    report.add(
        "P1",
        format!("CPU per pod from create to Running ({}, all on this machine)", Roles::NAMES.join(" + ")),
        format!(
            "{:.2} ms ({:.2} + {:.2} + {:.2})",
            (0..3).map(per_pod).sum::<f64>(),
            per_pod(0),
            per_pod(1),
            per_pod(2)
        ),
        "",
    );
    report.add(
        "P1",
        "pod startup with all of them queued, p50 / p99",
        format!("{} / {}", ms(burst.startup.p50), ms(burst.startup.p99)),
        "",
    );

    let rate = opts.paced_rate;
    progress(format!("P1 creating {} more pods at {}/s", thousands(opts.paced_pods as f64), thousands(rate)));
    let paced = create_batch(clients, &timeline, opts.pods..opts.pods + opts.paced_pods, Some(rate)).await?;
    follower.abort();
    report.add(
        "P1",
        format!("pod startup at {}/s, create sent -> Running seen by a watch, p50 / p99", thousands(rate)),
        format!(
            "{} / {} ({} of {} Running)",
            ms(paced.startup.p50),
            ms(paced.startup.p99),
            thousands(paced.running as f64),
            thousands(opts.paced_pods as f64)
        ),
        verdict("p99 < 1 s", paced.startup.p99 < Duration::from_secs(1) && paced.running == opts.paced_pods),
    );
    Ok(())
}

/// Standard deviation (and range) of the hosts' CPU allocation fraction.
async fn balance(clients: &Clients, report: &mut Report) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(clients.get(0));
    let pods: Api<Pod> = Api::all(clients.get(0));
    let mut allocatable: HashMap<String, f64> = HashMap::new();
    for n in nodes.list(&ListParams::default()).await?.items {
        let cpu =
            n.status.as_ref().and_then(|s| s.allocatable.as_ref()).and_then(|a| a.get("cpu")).map(|q| q.0.clone());
        if let Some(m) = cpu.as_deref().and_then(millicores) {
            allocatable.insert(n.name_any(), m);
        }
    }
    let mut used: BTreeMap<String, f64> = allocatable.keys().map(|k| (k.clone(), 0.0)).collect();
    for p in pods.list(&ListParams::default()).await?.items {
        let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let Some(spec) = p.spec else { continue };
        let Some(node) = spec.node_name.clone() else { continue };
        if matches!(phase.as_str(), "Succeeded" | "Failed") {
            continue;
        }
        let req: f64 = spec
            .containers
            .iter()
            .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu").and_then(|q| millicores(&q.0)))
            .sum();
        *used.entry(node).or_default() += req;
    }
    let fractions: Vec<f64> =
        used.iter().filter_map(|(n, u)| allocatable.get(n).map(|a| u / a.max(f64::MIN_POSITIVE))).collect();
    if fractions.is_empty() {
        bail!("no hosts to measure balance on");
    }
    let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
    let sd = (fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / fractions.len() as f64).sqrt();
    let (min, max) = fractions.iter().fold((f64::MAX, f64::MIN), |(lo, hi), f| (lo.min(*f), hi.max(*f)));
    report.add(
        "P2",
        "host CPU allocation: mean, standard deviation (min-max)",
        format!("{:.1}%, sd {:.2} points ({:.1}%-{:.1}%)", mean * 100.0, sd * 100.0, min * 100.0, max * 100.0),
        "lower sd is better",
    );
    Ok(())
}

fn millicores(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|c| c * 1000.0),
    }
}

fn app(replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ha-app"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "ha-app"}},
            "template": {
                "metadata": {"labels": {"app": "ha-app"}},
                "spec": {"containers": [{"name": "app", "image": "registry.local/app:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            },
        },
    }))
    .expect("a deployment of strings")
}

/// Whether the app's pod is Running, not being deleted, on a host outside the lost set (if any).
fn healthy(p: &Pod, lost_prefix: Option<&str>) -> bool {
    let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && node.is_some_and(|n| lost_prefix.is_none_or(|lost| !n.starts_with(lost)))
}

/// Follows the app's pods with one watch (polling lists would load the server being measured)
/// and returns once `want` of them are healthy, or fails at `deadline`.
async fn until_healthy(
    pods: &Api<Pod>,
    want: usize,
    lost_prefix: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut stream = watcher(pods.clone(), watcher::Config::default().labels("app=ha-app")).boxed();
    let (mut current, mut relisting) = (HashMap::<String, bool>::new(), HashMap::<String, bool>::new());
    let mut last_report = Instant::now();
    loop {
        let event = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(event)) => event,
            Ok(None) => bail!("the watch of the app's pods ended"),
            Err(_) => {
                let healthy = current.values().filter(|h| **h).count();
                bail!("ha-app had {healthy} of {want} pods healthy at the deadline");
            }
        };
        match event {
            Ok(watcher::Event::Init) => relisting.clear(),
            Ok(watcher::Event::InitApply(p)) => drop(relisting.insert(p.name_any(), healthy(&p, lost_prefix))),
            Ok(watcher::Event::InitDone) => current = std::mem::take(&mut relisting),
            Ok(watcher::Event::Apply(p)) => drop(current.insert(p.name_any(), healthy(&p, lost_prefix))),
            Ok(watcher::Event::Delete(p)) => drop(current.remove(&p.name_any())),
            Err(e) => progress(format!("P3 watch error (retrying): {e}")),
        }
        let healthy = current.values().filter(|h| **h).count();
        if healthy >= want {
            return Ok(());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            progress(format!("P3 {healthy} of {want} healthy"));
            last_report = Instant::now();
        }
    }
}

async fn recovery(
    clients: &Clients,
    opts: &PlacementOptions,
    lost: SimProcess,
    lost_prefix: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(clients.get(0), NS);
    let pods: Api<Pod> = Api::namespaced(clients.get(0), NS);
    progress(format!("P3 deploying ha-app with {} replicas", opts.replicas));
    deployments.create(&PostParams::default(), &app(opts.replicas)).await.context("creating ha-app")?;
    let want = opts.replicas as usize;
    until_healthy(&pods, want, None, Instant::now() + Duration::from_secs(300)).await?;
    let on_lost = pods
        .list(&ListParams::default().labels("app=ha-app"))
        .await?
        .items
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| n.starts_with(lost_prefix)))
        .count();
    progress(format!("P3 killing the hosts {lost_prefix}* ({on_lost} of the app's pods on them)"));
    let killed = Instant::now();
    drop(lost);
    until_healthy(&pods, want, Some(lost_prefix), killed + Duration::from_secs(180)).await?;
    let total = killed.elapsed();
    let after_grace = total.saturating_sub(GRACE);
    report.add(
        "P3",
        format!("host loss -> {want} replicas Running elsewhere ({on_lost} lost, grace {} s)", GRACE.as_secs()),
        format!("{:.1} s total, {:.1} s after the grace period", total.as_secs_f64(), after_grace.as_secs_f64()),
        verdict("< 15 s after grace", after_grace < Duration::from_secs(15)),
    );
    Ok(())
}

pub async fn run(opts: PlacementOptions) -> anyhow::Result<()> {
    if !(opts.paced_rate > 0.0 && opts.paced_rate.is_finite()) {
        bail!("--paced-rate must be a positive number of pods per second");
    }
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new().prefix("canopy-bench-placement-").tempdir_in(&parent)?;
    let started = Instant::now();
    let mut server = ServerProcess::spawn_platform(&tmp.path().join("server")).await?;
    let clients = Clients::connect(&server.kubeconfig, 8).await?;
    clients.create_namespace(NS).await?;
    // A tenth of the hosts live in their own process so that killing it is a host loss.
    let lost_hosts = (opts.hosts / 10).max(1);
    let kept = SimProcess::spawn(&server.kubeconfig, opts.hosts - lost_hosts, opts.zones, "a-").await?;
    let lost = SimProcess::spawn(&server.kubeconfig, lost_hosts, opts.zones, "b-").await?;
    progress(format!("waiting for {} hosts to be Ready", opts.hosts));
    wait_for_nodes(&clients, opts.hosts).await?;
    progress(format!("{} hosts Ready after {:.1}s", opts.hosts, started.elapsed().as_secs_f64()));
    let mut report = Report::default();
    let roles = Roles(vec![
        ("server", server.pid()),
        ("hosts", kept.pid()),
        ("hosts", lost.pid()),
        ("bench clients", std::process::id()),
    ]);
    scheduling_run(&clients, &opts, &roles, &mut report).await?;
    balance(&clients, &mut report).await?;
    if let Err(e) = recovery(&clients, &opts, lost, "b-", &mut report).await {
        report.add("P3", "host loss -> replicas Running elsewhere", format!("failed: {e:#}"), "< 15 s after grace");
    }
    let rss = server.rss_bytes().unwrap_or(0);
    report.add("P4", "server RSS at the end (API server, scheduler, controllers)", format!("{} MiB", rss >> 20), "");
    drop(kept);
    println!();
    println!("Canopy placement benchmark: server (with scheduler and controllers) and simulated hosts in");
    println!("child processes, kube-rs clients over HTTPS, all on one machine.");
    println!();
    print!("{}", report.render());
    println!();
    println!("Startup latency counts from each create's send to the watch showing the pod Running; the");
    println!("simulated runtime takes 20 ms to start a container. Scheduling throughput is the bound pods");
    println!("over the time from the first create to the last bind, with creates running concurrently;");
    println!("the startup goal is judged on the pods created afterwards at a steady rate.");
    Ok(())
}
