//! Harness of the workload and node tests: a server with the ReplicaSet, Deployment and node
//! lifecycle controllers, a stand-in kubelet that reports pods Running and Ready, and helpers
//! to read what the controllers made.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canopy_apiserver::RunningServer;
use canopy_controllers::{Running, deployment, node_lifecycle, replicaset};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

pub const NS: &str = "default";

pub struct Workloads {
    pub server: RunningServer,
    pub client: kube::Client,
    controllers: Vec<Running>,
    kubelet: Option<Arc<AtomicBool>>,
    _dir: tempfile::TempDir,
}

/// What to run against the server.
#[derive(Default)]
pub struct Options {
    pub replicaset: replicaset::Config,
    pub deployment: bool,
    pub nodes: Option<node_lifecycle::Config>,
    /// Report every pod Running and Ready soon after it appears.
    pub kubelet: bool,
}

pub async fn start(options: Options) -> Workloads {
    let (server, dir) = super::server().await;
    let client = super::client(&server, None).await;
    let mut controllers = vec![replicaset::start(client.clone(), options.replicaset)];
    if options.deployment {
        controllers.push(deployment::start(client.clone()));
    }
    if let Some(config) = options.nodes {
        controllers.push(node_lifecycle::start(client.clone(), config));
    }
    let kubelet = options.kubelet.then(|| {
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn(play_kubelet(client.clone(), stop.clone()));
        stop
    });
    Workloads { server, client, controllers, kubelet, _dir: dir }
}

/// Marks every active pod without a Ready condition Running and Ready, every 100 ms.
async fn play_kubelet(client: kube::Client, stop: Arc<AtomicBool>) {
    let api: Api<Pod> = Api::namespaced(client, NS);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(list) = api.list(&ListParams::default()).await {
            for pod in list.items.iter().filter(|p| canopy_controllers::pods::is_active(p)) {
                if canopy_controllers::pods::ready_condition(pod).is_none() {
                    let _ = set_ready(&api, &pod.name_any()).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports the pod Running and Ready, as a kubelet would.
pub async fn set_ready(api: &Api<Pod>, name: &str) -> kube::Result<Pod> {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
    ]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await
}

impl Workloads {
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The pods with `selector`, active ones only.
    pub async fn active_pods(&self, selector: &str) -> Vec<Pod> {
        let list = self.pods().list(&ListParams::default().labels(selector)).await.expect("list pods");
        list.items.into_iter().filter(canopy_controllers::pods::is_active).collect()
    }

    /// Runs kubectl against the server; `(success, stdout + stderr)`.
    pub fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.server.kubeconfig)
            .args(["-n", NS])
            .args(args)
            .output()
            .expect("kubectl runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.kubelet.take() {
            stop.store(true, Ordering::Relaxed);
        }
        for c in self.controllers.drain(..) {
            c.shutdown().await.expect("controller stops");
        }
    }
}
