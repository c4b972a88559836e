//! Crash safety of the whole server: kill -9 `canopy server` during a stream of concurrent
//! writes, restart it on the same data directory, and check every acknowledged write is there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

/// Starts `canopy server` on an ephemeral port; returns the child once it serves.
fn start_server(data_dir: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("canopy server starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines.next().expect("server printed its address").expect("readable stderr");
        if line.contains("serving https://") {
            break;
        }
    }
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

async fn client(data_dir: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(data_dir.join("admin.kubeconfig")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = start_server(&data);
    let ca_before = std::fs::read(data.join("pki/ca.crt")).expect("CA written");
    let api: Api<ConfigMap> = Api::namespaced(client(&data).await, "default");

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..16 {
        let (api, acked) = (api.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name}, "data": {"payload": "x".repeat(512)},
                }))
                .expect("configmap");
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => acked.lock().expect("lock").push(name),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 50, "too few writes before the crash: {}", acked.len());

    let mut server = start_server(&data);
    assert_eq!(std::fs::read(data.join("pki/ca.crt")).expect("CA kept"), ca_before, "the CA must survive restarts");
    let api: Api<ConfigMap> = Api::namespaced(client(&data).await, "default");
    let stored: std::collections::HashSet<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|n| !stored.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );

    // History does not survive a restart: watching from before it is 410 Gone, so clients relist.
    let mut old = api.watch(&WatchParams::default().timeout(5), "1").await.expect("watch").boxed();
    match old.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("expected 410 Gone for a pre-restart resourceVersion, got {other:?}"),
    }
    server.kill().expect("stop");
    let _ = server.wait();
}
