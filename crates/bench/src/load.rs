//! Load against the Canopy API with kube-rs: closed-loop creates and gets, open-loop writes,
//! bulk population, and full lists.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stats::{Summary, Throughput, WorkerResult, XorShift};

/// Several kube clients over one kubeconfig; workers spread over them. kube-rs speaks HTTP/1.1,
/// one request per pooled connection at a time, so concurrency opens as many connections as
/// there are requests in flight; several clients also spread the work of their request queues.
#[derive(Clone)]
pub struct Clients {
    clients: Arc<Vec<Client>>,
    config: kube::Config,
}

impl Clients {
    pub async fn connect(kubeconfig: &Path, count: usize) -> anyhow::Result<Self> {
        let kc = Kubeconfig::read_from(kubeconfig).context("reading the kubeconfig")?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .context("loading the kubeconfig")?;
        let clients = (0..count.max(1))
            .map(|_| Client::try_from(config.clone()).context("building a kube client"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { clients: Arc::new(clients), config })
    }

    pub fn get(&self, worker: usize) -> Client {
        self.clients[worker % self.clients.len()].clone()
    }

    /// The configuration, for a client built on another runtime.
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    pub fn config_maps(&self, worker: usize, ns: &str) -> Api<ConfigMap> {
        Api::namespaced(self.get(worker), ns)
    }

    pub async fn create_namespace(&self, name: &str) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(self.get(0));
        let ns =
            Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
        api.create(&PostParams::default(), &ns).await.with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }
}

/// A ConfigMap with one data entry.
pub fn config_map(name: String, key: &str, value: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta { name: Some(name), ..Default::default() },
        data: Some(BTreeMap::from([(key.to_string(), value)])),
        ..Default::default()
    }
}

/// The payload that makes a created ConfigMap's request body about `target` bytes.
pub fn payload_for_body_size(target: usize) -> String {
    let probe = serde_json::to_vec(&config_map("c0-00-000000".into(), "payload", String::new())).map_or(0, |b| b.len());
    "x".repeat(target.saturating_sub(probe))
}

/// `workers` clients each create ConfigMaps named `c<round>-<worker>-<i>` in `ns` back to back
/// for `duration`. Returns the run and the names created.
pub async fn create_closed_loop(
    clients: &Clients,
    ns: &str,
    round: usize,
    workers: usize,
    duration: Duration,
    payload: &str,
) -> anyhow::Result<(Throughput, Vec<String>)> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let (api, payload) = (clients.config_maps(worker, ns), payload.to_string());
        tasks.spawn(async move {
            let mut result = WorkerResult::default();
            let mut created = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                let name = format!("c{round}-{worker:02}-{i:06}");
                i += 1;
                let cm = config_map(name.clone(), "payload", payload.clone());
                let t = Instant::now();
                let r = api.create(&PostParams::default(), &cm).await;
                if result.record(r, t.elapsed()).is_some() {
                    created.push(name);
                }
            }
            (result, created)
        });
    }
    let mut parts = Vec::new();
    let mut created = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (result, names) = joined.context("create worker panicked")?;
        created.extend(names);
        parts.push(result);
    }
    Ok((Throughput::merge(parts, start.elapsed()), created))
}

/// `workers` clients each get random ConfigMaps among `names`.
pub async fn get_closed_loop(
    clients: &Clients,
    ns: &str,
    workers: usize,
    duration: Duration,
    names: Vec<String>,
) -> anyhow::Result<Throughput> {
    let names = Arc::new(names);
    if names.is_empty() {
        bail!("no objects to get");
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let (api, names) = (clients.config_maps(worker, ns), names.clone());
        tasks.spawn(async move {
            let mut result = WorkerResult::default();
            let mut rng = XorShift::new(worker as u64 + 1);
            while Instant::now() < deadline {
                let name = &names[rng.below(names.len())];
                let t = Instant::now();
                let r = api.get(name).await;
                result.record(r, t.elapsed());
            }
            result
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.context("get worker panicked")?);
    }
    Ok(Throughput::merge(parts, start.elapsed()))
}

/// An open-loop run: requests issued on a fixed schedule whatever the responses do.
pub struct OpenLoop {
    pub target_rate: u32,
    pub sent: usize,
    /// Latency from the scheduled send time.
    pub run: Throughput,
    /// Latency from the moment the request was actually handed to the client.
    pub from_send: Summary,
}

/// Creates one ConfigMap every `1/rate` s for `duration`, each request in its own task; latency
/// counts from the scheduled send time, so a server (or sender) falling behind shows in it.
pub async fn write_open_loop(
    clients: &Clients,
    ns: &str,
    rate: u32,
    duration: Duration,
    payload: &str,
) -> anyhow::Result<OpenLoop> {
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as usize;
    let period = Duration::from_secs(1) / rate.max(1);
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut result = WorkerResult::default();
    let mut from_send = WorkerResult::default();
    for i in 0..total {
        let scheduled = start + period * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let (api, payload) = (clients.config_maps(i, ns), payload.to_string());
        tasks.spawn(async move {
            let cm = config_map(format!("o-{i:06}"), "payload", payload);
            let sent = Instant::now();
            let r = api.create(&PostParams::default(), &cm).await;
            (r.map(|_| ()), scheduled.elapsed(), sent.elapsed())
        });
        while let Some(joined) = tasks.try_join_next() {
            let (r, latency, since_send) = joined.context("open-loop request panicked")?;
            from_send.record(r.as_ref().map(|_| ()).map_err(ToString::to_string), since_send);
            result.record(r, latency);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (r, latency, since_send) = joined.context("open-loop request panicked")?;
        from_send.record(r.as_ref().map(|_| ()).map_err(ToString::to_string), since_send);
        result.record(r, latency);
    }
    let run = Throughput::merge(vec![result], start.elapsed());
    let from_send = Summary::of(from_send.latencies);
    Ok(OpenLoop { target_rate: rate, sent: total, run, from_send })
}

/// Creates `count` ConfigMaps named `<prefix>-<i>` with `workers`-way concurrency, stopping
/// early at `time_cap`. Returns how many were created and how long it took.
pub async fn populate(
    clients: &Clients,
    ns: &str,
    prefix: &str,
    count: usize,
    workers: usize,
    value: &str,
    time_cap: Duration,
) -> anyhow::Result<Throughput> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + time_cap;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let (api, next, value, prefix) =
            (clients.config_maps(worker, ns), next.clone(), value.to_string(), prefix.to_string());
        tasks.spawn(async move {
            let mut result = WorkerResult::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    break;
                }
                let cm = config_map(format!("{prefix}-{i:06}"), "k", value.clone());
                let t = Instant::now();
                let r = api.create(&PostParams::default(), &cm).await;
                result.record(r, t.elapsed());
                if result.errors > 100 {
                    break;
                }
            }
            result
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.context("populate worker panicked")?);
    }
    Ok(Throughput::merge(parts, start.elapsed()))
}

/// GETs `path` and returns the whole body (not decoded).
async fn get_body(client: &Client, path: &str) -> anyhow::Result<Bytes> {
    let request = http::Request::get(path).body(kube::client::Body::empty()).context("building a request")?;
    let response = client.send(request).await.with_context(|| format!("GET {path}"))?;
    let status = response.status();
    let body = response.into_body().collect().await.with_context(|| format!("reading GET {path}"))?.to_bytes();
    if status != http::StatusCode::OK {
        bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Times full, unpaginated lists of ConfigMaps in `ns` (until the whole body is received; the
/// client's JSON decoding is not counted). Checks the first answer holds `expect` items.
pub async fn time_lists(clients: &Clients, ns: &str, expect: usize, runs: usize) -> anyhow::Result<(Summary, usize)> {
    let client = clients.get(0);
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let body = get_body(&client, &path).await?;
    let list: serde_json::Value = serde_json::from_slice(&body).context("decoding the list")?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    let more = list["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty());
    if items != expect || more {
        bail!("the list returned {items} items (continue: {more}), expected all {expect}");
    }
    let mut samples = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let body = get_body(&client, &path).await?;
        samples.push(t.elapsed());
        std::hint::black_box(body);
    }
    Ok((Summary::of(samples), body.len()))
}
