//! The `Runtime` trait: what a host agent asks of the thing that actually runs pods. Shaped like
//! the kubelet's CRI so the three runtimes fit it: `sim` (nothing runs), `container` (runc, one
//! network namespace per pod) and `microvm` (one QEMU VM per pod, containers inside it).
//!
//! The agent owns pod lifecycle policy (init containers, restartPolicy, back-off, status); a
//! runtime only prepares sandboxes, starts and stops containers and says what state they are in.

pub mod container;
pub mod microvm;
pub mod sim;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::io::{AsyncRead, AsyncWrite};

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
    /// Something about the host its operators should know (pod VMs emulated in software),
    /// reported as an Event on the Node when the agent registers.
    pub notice: Option<RuntimeEvent>,
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
    /// A volume could not be provided (`FailedMount`).
    #[error("{0}")]
    Volume(String),
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
    /// The runtime cannot do this at all (exec in the `sim` runtime).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// A registry credential document for image pulls: the `.dockerconfigjson` of one of the pod's
/// `imagePullSecrets` (a `kubernetes.io/dockerconfigjson` Secret), read by the agent.
#[derive(Clone)]
pub struct PullSecret {
    /// The Secret's name, for messages.
    pub name: String,
    pub dockerconfigjson: Vec<u8>,
}

impl std::fmt::Debug for PullSecret {
    // Never print the credentials: errors and traces end up in pod events.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecret").field("name", &self.name).finish_non_exhaustive()
    }
}

/// One of the pod's volumes with its contents resolved by the agent (which reads ConfigMaps and
/// Secrets from the API; runtimes never talk to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodVolume {
    pub name: String,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// An empty directory living as long as the pod; `memory` asks for RAM-backed storage
    /// (`medium: Memory`) of at most `size_limit` (a quantity as written, `64Mi`).
    EmptyDir { memory: bool, size_limit: Option<String> },
    /// A directory of files (configMap, secret, downwardAPI and projected volumes).
    Files(Vec<VolumeFile>),
    /// A volume type the agent does not provide (hostPath, persistentVolumeClaim ...), by its
    /// field name; runtimes that mount volumes refuse the pod.
    Unsupported(String),
}

/// A file of a [`VolumeSource::Files`] volume.
#[derive(Clone, PartialEq, Eq)]
pub struct VolumeFile {
    /// Relative to the volume's root, `/`-separated, without `..` (validated again by runtimes).
    pub path: String,
    pub data: Vec<u8>,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
}

impl std::fmt::Debug for VolumeFile {
    // Secret contents stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeFile")
            .field("path", &self.path)
            .field("len", &self.data.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// A command to run inside a running container (`kubectl exec`, exec probes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Run it on a terminal: `stdout` carries the terminal's output and there is no `stderr`.
    pub tty: bool,
    /// Keep its standard input open for the caller to write.
    pub stdin: bool,
}

pub type Reader = Pin<Box<dyn AsyncRead + Send>>;
pub type Writer = Pin<Box<dyn AsyncWrite + Send>>;
/// Resolves to a command's exit status.
pub type Exit = Pin<Box<dyn Future<Output = RuntimeResult<i32>> + Send>>;

/// A command started by [`Runtime::exec`]: its standard streams, terminal resizing, its exit.
pub struct ExecProcess {
    pub stdin: Option<Writer>,
    pub stdout: Reader,
    pub stderr: Option<Reader>,
    /// Sets the terminal's size (columns, rows); `None` without a terminal.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// Resolves to the exit status once the command ends. Dropping it ends the command.
    pub exit: Exit,
}

/// A notable step a runtime took for a pod (a VM booted, an image disk was made), reported by
/// the agent as one of the pod's Events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// What runs pods on a host. Implementations are shared by every pod worker of the host.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    fn info(&self) -> RuntimeInfo;

    /// Sets up the pod's sandbox (network namespace and IP, or VM).
    async fn create_sandbox(&self, pod: &Pod) -> RuntimeResult<Sandbox>;

    /// Makes the container's image available (honouring its imagePullPolicy) and returns the
    /// image ID reported in the container status (`docker-pullable://...@sha256:...`).
    /// `secrets` are the pod's pull secrets: credentials matching the image's registry are
    /// tried in order, anonymous access when none matches.
    async fn pull_image(&self, pod: &Pod, container: &Container, secrets: &[PullSecret]) -> RuntimeResult<String>;

    /// Provides the pod's volumes (called again with fresh contents when they change), before
    /// any container that mounts them starts. Containers see them at their `volumeMounts`.
    async fn prepare_volumes(&self, sandbox: &Sandbox, pod: &Pod, volumes: &[PodVolume]) -> RuntimeResult<()>;

    /// Creates and starts a container in the sandbox; returns its ID (`sim://...`).
    async fn start_container(&self, sandbox: &Sandbox, pod: &Pod, container: &Container) -> RuntimeResult<String>;

    async fn container_state(&self, id: &str) -> RuntimeResult<ContainerState>;

    /// Stops a container, sending SIGTERM then SIGKILL after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> RuntimeResult<()>;

    /// Forgets a stopped container (its logs go with it).
    async fn remove_container(&self, id: &str) -> RuntimeResult<()>;

    /// Tears the sandbox down with everything left in it.
    async fn remove_sandbox(&self, sandbox: &Sandbox) -> RuntimeResult<()>;

    /// The host file holding a container's output (stdout and stderr as written, interleaved),
    /// for `kubectl logs`; `None` when the runtime keeps none or the container is gone.
    fn log_path(&self, id: &str) -> Option<PathBuf>;

    /// Starts a command in a running container.
    async fn exec(&self, id: &str, request: ExecRequest) -> RuntimeResult<ExecProcess>;

    /// Opens a TCP connection to `port` at the pod's address, from the pod network (HTTP and
    /// TCP probes, port forwarding). The pod network is not reachable from the host's own.
    async fn dial(&self, sandbox: &Sandbox, port: u16) -> RuntimeResult<tokio::net::TcpStream>;

    /// The events of the pod (by uid) since the last call.
    fn drain_events(&self, _pod_uid: &str) -> Vec<RuntimeEvent> {
        Vec::new()
    }
}
