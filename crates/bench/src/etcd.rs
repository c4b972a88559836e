//! The etcd baseline: a single-member etcd (Debian's `etcd-server`) on loopback, data on the same
//! disk as Canopy's, driven with durable puts through its JSON gRPC gateway over HTTP/1.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::child::ChildGuard;
use crate::stats::{Throughput, WorkerResult};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The `etcd` binary on PATH, if any.
pub fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("etcd")).find(|p| p.is_file())
}

/// The first line of `etcd --version`.
fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.replace("etcd Version:", "etcd")))
        .unwrap_or_else(|| "etcd (version unknown)".into())
}

pub struct Etcd {
    _guard: ChildGuard,
    pub client_url: String,
    pub version: String,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts a one-member etcd with its data in `data_dir` and waits until it is healthy.
pub async fn start(bin: &Path, data_dir: &Path) -> anyhow::Result<Etcd> {
    let (client_port, peer_port) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    std::fs::create_dir_all(data_dir)?;
    let log_path = data_dir.with_extension("log");
    let log = std::fs::File::create(&log_path).context("creating the etcd log")?;
    let child = Command::new(bin)
        .args(["--name", "bench", "--data-dir"])
        .arg(data_dir.join("member-data"))
        .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("bench={peer_url}"), "--initial-cluster-state", "new"])
        .args(["--logger", "zap", "--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting etcd")?;
    let mut guard = ChildGuard::new(child, "etcd");
    let http = http_client(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Err(e) = guard.check_running() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(e.context(format!("etcd log:\n{log}")));
        }
        if let Ok(body) = post(&http, &format!("{client_url}/v3/kv/range"), r#"{"key":"AA=="}"#.into()).await
            && body.contains("header")
        {
            return Ok(Etcd { _guard: guard, client_url, version: version(bin) });
        }
        if Instant::now() > deadline {
            bail!("etcd did not answer on {client_url} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn http_client(connections: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build(connector)
}

/// POSTs a JSON body; returns the response body, or an error for a non-200 answer.
async fn post(http: &HttpClient, url: &str, body: String) -> anyhow::Result<String> {
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .context("building a request")?;
    let response = http.request(request).await.context("sending")?;
    let status = response.status();
    let body = response.into_body().collect().await.context("reading the response")?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != http::StatusCode::OK {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// `workers` HTTP/1.1 keep-alive connections each put new keys back to back for `duration`.
pub async fn put_closed_loop(
    etcd: &Etcd,
    round: usize,
    workers: usize,
    duration: Duration,
    value_len: usize,
) -> anyhow::Result<Throughput> {
    let http = http_client(workers);
    let url: Arc<str> = Arc::from(format!("{}/v3/kv/put", etcd.client_url));
    let value: Arc<str> = Arc::from(B64.encode(vec![b'x'; value_len]));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let (http, url, value) = (http.clone(), url.clone(), value.clone());
        tasks.spawn(async move {
            let mut result = WorkerResult::default();
            let mut i = 0usize;
            while Instant::now() < deadline {
                let key = B64.encode(format!("/registry/configmaps/bench/c{round}-{worker:02}-{i:06}"));
                let body = format!(r#"{{"key":"{key}","value":"{value}"}}"#);
                let t = Instant::now();
                let r = post(&http, &url, body).await;
                result.record(r, t.elapsed());
                i += 1;
            }
            result
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        parts.push(joined.context("put worker panicked")?);
    }
    Ok(Throughput::merge(parts, start.elapsed()))
}
