//! What the agent's integration tests share: an in-process API server, a registry on loopback
//! with a busybox image built offline (umoci, skopeo, busybox-static), and a host agent running
//! the `container` runtime against them, cleaned up even when a test fails half-way.
//!
//! The container tests need root and the Debian packages runc, iproute2, docker-registry,
//! umoci, skopeo and busybox-static; without them they say so on stderr and return.

#![allow(dead_code, unused_imports, reason = "each test binary uses part of the harness")]

use std::sync::Arc;
use std::time::Duration;

pub use canopy_testkit::{HTPASSWD, Leftovers, Registry, cannot_run_containers as cannot_run, run, wait_for};

use canopy_agent::runtime::Resources;
use canopy_agent::runtime::Runtime;
use canopy_agent::runtime::container::{ContainerConfig, ContainerRuntime};

/// An API server on an ephemeral port with an admin client.
pub async fn server() -> (tempfile::TempDir, canopy_apiserver::RunningServer, kube::Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(canopy_apiserver::ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server");
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    let client = kube::Client::try_from(config).expect("client");
    (dir, server, client)
}

/// A host agent with the `container` runtime, registered as `name` and running the pods bound
/// to it until dropped.
pub struct Agent {
    pub runtime: Arc<ContainerRuntime>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    // Dropped in this order: the agent stops, leftovers go, then the directory.
    _leftovers: Leftovers,
    _data: tempfile::TempDir,
}

impl Agent {
    pub async fn start(client: kube::Client, name: &str, insecure_registries: Vec<String>) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let host_netns = format!("canopy-host-{name}{}", std::process::id());
        let runtime = Arc::new(
            ContainerRuntime::new(ContainerConfig {
                data_dir: data.path().to_path_buf(),
                insecure_registries,
                capacity: Resources { cpu_milli: 2000, memory_bytes: 1 << 30 },
                max_pods: 10,
                bridge: "canopy0".into(),
                pod_cidr: "10.89.0.0/24".into(),
                host_netns: Some(host_netns.clone()),
            })
            .expect("runtime"),
        );
        let identity = canopy_agent::HostIdentity { name: name.into(), zone: None, address: Some("127.0.0.1".into()) };
        let task = tokio::spawn(canopy_agent::run(
            client,
            runtime.clone() as Arc<dyn Runtime>,
            canopy_agent::HostConfig::new(identity),
            None,
        ));
        let leftovers = Leftovers { data_dir: data.path().to_path_buf(), host_netns };
        Self { runtime, task, _leftovers: leftovers, _data: data }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The containerID of a container in the pod's status.
pub fn container_id(pod: &k8s_openapi::api::core::v1::Pod, container: &str) -> Option<String> {
    pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?.container_id.clone()
}

/// Runs a command in a container of a running pod and returns its exit status.
pub async fn exec(rt: &ContainerRuntime, id: &str, command: &[&str]) -> i32 {
    use canopy_agent::runtime::ExecRequest;
    let request = ExecRequest { command: command.iter().map(|s| s.to_string()).collect(), tty: false, stdin: false };
    let process = rt.exec(id, request).await.expect("exec");
    process.exit.await.expect("exit")
}

/// Deletes every pod of the namespace and waits until the agent let them go (containers
/// stopped, sandboxes removed).
pub async fn delete_all_pods(client: &kube::Client) {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::default_namespaced(client.clone());
    let params = kube::api::DeleteParams { grace_period_seconds: Some(1), ..Default::default() };
    for pod in pods.list(&Default::default()).await.map(|l| l.items).unwrap_or_default() {
        let _ = pods.delete(&pod.metadata.name.unwrap_or_default(), &params).await;
    }
    wait_for("the pods to be gone", Duration::from_secs(60), async || {
        pods.list(&Default::default()).await.ok().filter(|l| l.items.is_empty()).map(|_| ())
    })
    .await;
}
