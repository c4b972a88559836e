//! The `Runtime` trait: what a host agent asks of the thing that actually runs pods. Shaped like
//! the kubelet's CRI so the three runtimes fit it: `sim` (nothing runs), `container` (runc, one
//! network namespace per pod) and `microvm` (one QEMU VM per pod, containers inside it).
//!
//! The agent owns pod lifecycle policy (init containers, restartPolicy, back-off, status); a
//! runtime only prepares sandboxes, starts and stops containers and says what state they are in.

pub mod container;
pub mod sim;

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};

/// Host resources, in the units the scheduler counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_milli: i64,
    pub memory_bytes: i64,
}

/// What a runtime tells the agent about the host.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// `sim`, `container`, `microvm`.
    pub name: &'static str,
    /// `containerRuntimeVersion` on the Node, e.g. `sim://0.1.0`.
    pub version: String,
    /// What every pod costs the host beyond its containers' requests (a VM's QEMU process and
    /// guest kernel, say); published on the Node so the scheduler counts it.
    pub pod_overhead: Resources,
    /// Host capacity offered to pods.
    pub capacity: Resources,
    pub max_pods: i64,
}

/// A pod's isolation boundary: a network namespace, or a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    pub id: String,
    pub ip: Option<String>,
}

/// The state of one started container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running { started_at: SystemTime },
    Exited { exit_code: i32, reason: String, started_at: SystemTime, finished_at: SystemTime },
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image could not be pulled (`ErrImagePull`).
    #[error("{0}")]
    ImagePull(String),
    /// The container could not be created or started (`CreateContainerError`, `RunContainerError`).
    #[error("{0}")]
    Start(String),
    /// The sandbox could not be set up (`FailedCreatePodSandBox`).
    #[error("{0}")]
    Sandbox(String),
    #[error("no such container {0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// What runs pods on a host. Implementations are shared by every pod worker of the host.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    fn info(&self) -> RuntimeInfo;

    /// Sets up the pod's sandbox (network namespace and IP, or VM).
    async fn create_sandbox(&self, pod: &Pod) -> RuntimeResult<Sandbox>;

    /// Makes the container's image available (honouring its imagePullPolicy) and returns the
    /// image ID reported in the container status (`docker-pullable://...@sha256:...`).
    async fn pull_image(&self, pod: &Pod, container: &Container) -> RuntimeResult<String>;

    /// Creates and starts a container in the sandbox; returns its ID (`sim://...`).
    async fn start_container(&self, sandbox: &Sandbox, pod: &Pod, container: &Container) -> RuntimeResult<String>;

    async fn container_state(&self, id: &str) -> RuntimeResult<ContainerState>;

    /// Stops a container, sending SIGTERM then SIGKILL after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> RuntimeResult<()>;

    /// Forgets a stopped container (its logs go with it).
    async fn remove_container(&self, id: &str) -> RuntimeResult<()>;

    /// Tears the sandbox down with everything left in it.
    async fn remove_sandbox(&self, sandbox: &Sandbox) -> RuntimeResult<()>;
}
