//! Test harness: a real API server on an ephemeral loopback port, an admin kube-rs client, the
//! namespace-config controller running against it, and bounded polling.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use canopy_apiserver::{RunningServer, ServerConfig};
use canopy_controllers::namespace_config::{self, NamespaceConfig, Running};
use kube::api::{Api, PostParams};

pub mod workloads;

pub struct Env {
    pub server: RunningServer,
    pub client: kube::Client,
    pub controller: Option<Running>,
    _dir: tempfile::TempDir,
}

/// Starts a server and the controller (with its CRD installed).
pub async fn start() -> Env {
    let (server, dir) = server().await;
    let client = client(&server, None).await;
    let controller = namespace_config::start(client.clone()).await.expect("controller starts");
    Env { server, client, controller: Some(controller), _dir: dir }
}

/// Starts a server on an ephemeral loopback port, its data in a fresh temporary directory.
pub async fn server() -> (RunningServer, tempfile::TempDir) {
    // `RUST_LOG=canopy_controllers=debug` shows the reconciles of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server starts");
    (server, dir)
}

/// A client as the admin, or impersonating `user` (e.g. `alice@vsphere.local`).
pub async fn client(server: &RunningServer, user: Option<&str>) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("kube config");
    config.auth_info.impersonate = user.map(str::to_string);
    kube::Client::try_from(config).expect("kube client")
}

impl Env {
    pub fn configs(&self) -> Api<NamespaceConfig> {
        Api::all(self.client.clone())
    }

    pub fn namespaced<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    pub fn all<K: kube::Resource<DynamicType = ()>>(&self) -> Api<K> {
        Api::all(self.client.clone())
    }

    pub async fn create_config(&self, config: serde_json::Value) -> NamespaceConfig {
        let config: NamespaceConfig = serde_json::from_value(config).expect("config parses");
        self.configs().create(&PostParams::default(), &config).await.expect("config created")
    }

    /// Waits until the config's status reflects its current generation and `check` holds.
    pub async fn config_where(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&NamespaceConfig) -> bool,
    ) -> NamespaceConfig {
        let api = self.configs();
        eventually(what, || {
            let api = api.clone();
            let check = &check;
            async move {
                let c = api.get_opt(name).await.ok().flatten()?;
                let current = c.status.as_ref().and_then(|s| s.observed_generation) == c.metadata.generation;
                (current && check(&c)).then_some(c)
            }
        })
        .await
    }

    pub async fn shutdown(mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await.expect("controller stops");
        }
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
