//! The simulated runtime: a host that behaves like one for scale tests (capacity, a start
//! latency, containers that run until stopped, pod IPs) without running anything.
//! A container whose command is `["exit", "N"]` exits with status N after its start latency,
//! so restart policies can be exercised without real processes. Exec and dial are
//! `Unsupported`, so probes of simulated pods succeed without probing (see `worker::probe`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{
    ContainerState, ExecProcess, ExecRequest, PodVolume, PullSecret, Resources, Runtime, RuntimeError, RuntimeInfo,
    RuntimeResult, Sandbox,
};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub capacity: Resources,
    pub max_pods: i64,
    pub pod_overhead: Resources,
    /// How long a container takes to start.
    pub start_latency: Duration,
    /// The host's number, which picks its pod IP range (10.(n/256).(n%256).x).
    pub host_index: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            capacity: Resources { cpu_milli: 16_000, memory_bytes: 64 << 30 },
            max_pods: 110,
            pod_overhead: Resources { cpu_milli: 0, memory_bytes: 0 },
            start_latency: Duration::from_millis(20),
            host_index: 0,
        }
    }
}

pub struct SimRuntime {
    config: SimConfig,
    next: AtomicU64,
    containers: Mutex<HashMap<String, ContainerState>>,
}

impl SimRuntime {
    pub fn new(config: SimConfig) -> Self {
        Self { config, next: AtomicU64::new(1), containers: Mutex::default() }
    }

    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// `["exit", "3"]` exits with 3; anything else runs until stopped.
fn scripted_exit(container: &Container) -> Option<i32> {
    match container.command.as_deref() {
        Some([verb, code]) if verb == "exit" => code.parse().ok(),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Runtime for SimRuntime {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: "sim",
            version: format!("sim://{}", env!("CARGO_PKG_VERSION")),
            pod_overhead: self.config.pod_overhead,
            capacity: self.config.capacity,
            max_pods: self.config.max_pods,
            notice: None,
        }
    }

    async fn create_sandbox(&self, _pod: &Pod) -> RuntimeResult<Sandbox> {
        let n = self.id();
        let h = self.config.host_index;
        // 10.H.H.x: one /24 per host, like a per-host pod CIDR; x cycles through 2..=254.
        let ip = format!("10.{}.{}.{}", (h >> 8) & 0xff, h & 0xff, 2 + (n % 253));
        Ok(Sandbox { id: format!("sim-sandbox-{n}"), ip: Some(ip) })
    }

    async fn pull_image(&self, _pod: &Pod, container: &Container, _secrets: &[PullSecret]) -> RuntimeResult<String> {
        let image = container.image.as_deref().unwrap_or_default();
        if image.is_empty() {
            return Err(RuntimeError::ImagePull("no image given".into()));
        }
        Ok(format!("sim://{image}"))
    }

    /// Nothing runs, so there is nothing to mount into.
    async fn prepare_volumes(&self, _sandbox: &Sandbox, _pod: &Pod, _volumes: &[PodVolume]) -> RuntimeResult<()> {
        Ok(())
    }

    async fn start_container(&self, _sandbox: &Sandbox, _pod: &Pod, container: &Container) -> RuntimeResult<String> {
        tokio::time::sleep(self.config.start_latency).await;
        let id = format!("sim://{}", self.id());
        let started_at = SystemTime::now();
        let state = match scripted_exit(container) {
            Some(exit_code) => ContainerState::Exited {
                exit_code,
                reason: if exit_code == 0 { "Completed".into() } else { "Error".into() },
                started_at,
                finished_at: started_at,
            },
            None => ContainerState::Running { started_at },
        };
        self.containers.lock().expect("sim lock poisoned").insert(id.clone(), state);
        Ok(id)
    }

    async fn container_state(&self, id: &str) -> RuntimeResult<ContainerState> {
        self.containers
            .lock()
            .expect("sim lock poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> RuntimeResult<()> {
        let mut containers = self.containers.lock().expect("sim lock poisoned");
        if let Some(ContainerState::Running { started_at }) = containers.get(id).cloned() {
            // SIGTERM's conventional exit status.
            containers.insert(
                id.to_string(),
                ContainerState::Exited {
                    exit_code: 143,
                    reason: "Error".into(),
                    started_at,
                    finished_at: SystemTime::now(),
                },
            );
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> RuntimeResult<()> {
        self.containers.lock().expect("sim lock poisoned").remove(id);
        Ok(())
    }

    async fn remove_sandbox(&self, _sandbox: &Sandbox) -> RuntimeResult<()> {
        Ok(())
    }

    fn log_path(&self, _id: &str) -> Option<std::path::PathBuf> {
        None
    }

    async fn exec(&self, _id: &str, _request: ExecRequest) -> RuntimeResult<ExecProcess> {
        Err(RuntimeError::Unsupported("the sim runtime runs no processes to exec in".into()))
    }

    async fn dial(&self, _sandbox: &Sandbox, _port: u16) -> RuntimeResult<tokio::net::TcpStream> {
        Err(RuntimeError::Unsupported("the sim runtime has no pod network".into()))
    }
}
