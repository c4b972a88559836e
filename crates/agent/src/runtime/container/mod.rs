//! The `container` runtime: real Linux containers run by `runc`, one network namespace per pod.
//!
//! Layout under [`ContainerConfig::data_dir`]:
//! - `images/`: the `canopy-oci` cache (unpacked root filesystems, shared read-only);
//! - `ipam.json` (+ `ipam.lock`): which pod owns which address of the pod CIDR;
//! - `pods/<uid>/<name>-<n>/`: one OCI bundle per started container (`config.json`, the overlay
//!   `rootfs` mount point, its `upper`/`work` dirs, runc's `pid` file and the `exitcode` file),
//!   with its output in `pods/<uid>/<name>-<n>.log`;
//! - `pods/<uid>/volumes/<name>/` and `pods/<uid>/{hosts,hostname,resolv.conf}`: the pod's
//!   volumes and files, bind-mounted into its containers (see `volumes`).
//!
//! Container IDs are `runc://<uid>.<name>-<n>`: the runc ID names the bundle directory, so every
//! call can find a container's files without in-memory state and an agent restart loses nothing.
//!
//! Networking never touches the root network namespace: the bridge lives in a namespace Canopy
//! owns ([`ContainerConfig::host_netns`]) and veth pairs are created directly between that
//! namespace and the pod's.

pub(crate) mod bundle;
pub(crate) mod exec;
mod ids;
pub(crate) mod image;
pub(crate) mod network;
pub(crate) mod resources;
mod runc;
pub(crate) mod volumes;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{
    ContainerState, ExecProcess, ExecRequest, PodVolume, PullSecret, Resources, Runtime, RuntimeError, RuntimeInfo,
    RuntimeResult, Sandbox,
};
use ids::RuncId;

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How a [`ContainerRuntime`] is set up on a host.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Where images, bundles, logs and the address allocations live.
    pub data_dir: PathBuf,
    /// Registries (`host:port`) spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Host capacity offered to pods.
    pub capacity: Resources,
    pub max_pods: i64,
    /// The Linux bridge pods attach to, e.g. `canopy0`.
    pub bridge: String,
    /// The pods' IPv4 network, e.g. `10.88.0.0/24`; `.1` is the bridge (the pods' gateway).
    pub pod_cidr: String,
    /// The network namespace holding the bridge (created if missing); `canopy-host-<bridge>`
    /// when `None`. The root namespace is never used, so nothing here can change the host's
    /// own routes or addresses.
    pub host_netns: Option<String>,
}

/// Runs pods as runc containers. See the module docs.
pub struct ContainerRuntime {
    config: ContainerConfig,
    network: network::Network,
    images: image::Images,
    version: String,
}

impl ContainerRuntime {
    /// Checks the pod CIDR, opens the image cache and asks runc for its version. Namespaces
    /// and the bridge are set up lazily by the first sandbox.
    pub fn new(config: ContainerConfig) -> RuntimeResult<Self> {
        let host_netns = config.host_netns.clone().unwrap_or_else(|| format!("canopy-host-{}", config.bridge));
        let network = network::Network::new(&config.data_dir, &config.pod_cidr, &config.bridge, host_netns)?;
        let images = image::Images::new(config.data_dir.join("images"), config.insecure_registries.clone())?;
        let version = runc::version().unwrap_or_else(|| "unknown".into());
        Ok(Self { config, network, images, version })
    }

    fn pods_dir(&self) -> PathBuf {
        self.config.data_dir.join("pods")
    }

    /// Stops (SIGKILL), deletes and unmounts every container left in the pod's directory.
    async fn remove_pod_containers(&self, uid: &str) {
        let Ok(entries) = std::fs::read_dir(self.pods_dir().join(uid)) else { return };
        for entry in entries.flatten() {
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !ids::is_bundle_name(&name) {
                continue;
            }
            if let Ok(id) = RuncId::new(uid, &name) {
                let _ = runc::kill(&id, "KILL").await;
                let _ = self.remove_container(&id.container_id()).await;
            }
        }
    }
}

#[async_trait::async_trait]
impl Runtime for ContainerRuntime {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: "container",
            version: format!("runc://{}", self.version),
            pod_overhead: Resources::default(),
            capacity: self.config.capacity,
            max_pods: self.config.max_pods,
            notice: None,
        }
    }

    async fn create_sandbox(&self, pod: &Pod) -> RuntimeResult<Sandbox> {
        let uid = ids::pod_uid(pod).map_err(RuntimeError::Sandbox)?;
        let ip = self.network.create(uid).await?;
        let pod_dir = self.pods_dir().join(uid);
        std::fs::create_dir_all(&pod_dir)
            .map_err(|e| RuntimeError::Sandbox(format!("creating the pod directory: {e}")))?;
        volumes::write_pod_files(&pod_dir, pod, &ip.to_string()).map_err(RuntimeError::Sandbox)?;
        Ok(Sandbox { id: network::netns_name(uid), ip: Some(ip.to_string()) })
    }

    async fn pull_image(&self, _pod: &Pod, container: &Container, secrets: &[PullSecret]) -> RuntimeResult<String> {
        self.images.pull(container, secrets).await.map(|image| image::image_id(container, &image))
    }

    async fn prepare_volumes(&self, _sandbox: &Sandbox, pod: &Pod, volumes: &[PodVolume]) -> RuntimeResult<()> {
        let uid = ids::pod_uid(pod).map_err(RuntimeError::Volume)?;
        volumes::prepare(&self.pods_dir().join(uid), volumes).map_err(RuntimeError::Volume)
    }

    async fn start_container(&self, sandbox: &Sandbox, pod: &Pod, container: &Container) -> RuntimeResult<String> {
        let uid = ids::pod_uid(pod).map_err(RuntimeError::Start)?;
        let image = self.images.get(container).await?;
        let id = RuncId::next(&self.pods_dir(), uid, &container.name).map_err(RuntimeError::Start)?;
        let bundle = id.bundle_dir(&self.pods_dir());
        let netns = network::netns_path(&sandbox.id);
        let mounts = volumes::mounts(&self.pods_dir().join(uid), pod, container).map_err(RuntimeError::Volume)?;
        let spec =
            bundle::Spec { pod, container, image: &image, netns: &netns, cgroup: &id.cgroup_path(), mounts: &mounts };
        if let Err(e) = bundle::create(&bundle, &spec) {
            let _ = bundle::destroy(&bundle);
            return Err(RuntimeError::Start(e));
        }
        if let Err(e) = runc::start(&id, &bundle, &id.log_path(&self.pods_dir())).await {
            let _ = runc::delete(&id).await;
            let _ = bundle::destroy(&bundle);
            return Err(RuntimeError::Start(e));
        }
        Ok(id.container_id())
    }

    async fn container_state(&self, id: &str) -> RuntimeResult<ContainerState> {
        let id = RuncId::from_container_id(id)?;
        runc::state(&id, &id.bundle_dir(&self.pods_dir())).await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> RuntimeResult<()> {
        let id = RuncId::from_container_id(id)?;
        let bundle = id.bundle_dir(&self.pods_dir());
        if !bundle.exists() {
            return Err(RuntimeError::NotFound(id.container_id()));
        }
        if runc::exited(&bundle) {
            return Ok(());
        }
        let _ = runc::kill(&id, "TERM").await;
        if runc::wait_exit(&bundle, grace).await {
            return Ok(());
        }
        runc::kill(&id, "KILL").await.map_err(RuntimeError::Other)?;
        // SIGKILL cannot be ignored; the wait only lets the exit status reach its file.
        if runc::wait_exit(&bundle, Duration::from_secs(5)).await {
            Ok(())
        } else {
            Err(RuntimeError::Other(format!("{} did not exit after SIGKILL", id.container_id())))
        }
    }

    async fn remove_container(&self, id: &str) -> RuntimeResult<()> {
        let id = RuncId::from_container_id(id)?;
        runc::delete(&id).await.map_err(RuntimeError::Other)?;
        bundle::destroy(&id.bundle_dir(&self.pods_dir())).map_err(RuntimeError::Other)?;
        let _ = std::fs::remove_file(id.log_path(&self.pods_dir()));
        Ok(())
    }

    async fn remove_sandbox(&self, sandbox: &Sandbox) -> RuntimeResult<()> {
        let uid =
            network::uid_of(&sandbox.id).ok_or_else(|| RuntimeError::NotFound(format!("sandbox {}", sandbox.id)))?;
        self.remove_pod_containers(uid).await;
        resources::remove_pod_cgroups(std::path::Path::new(CGROUP_ROOT), &ids::pod_cgroup(uid));
        self.network.remove(uid).await?;
        let pod_dir = self.pods_dir().join(uid);
        // A memory-backed volume still mounted would make the removal fail half-way.
        volumes::unmount_all(&pod_dir).map_err(RuntimeError::Other)?;
        let _ = std::fs::remove_dir_all(pod_dir);
        Ok(())
    }

    fn log_path(&self, container_id: &str) -> Option<PathBuf> {
        let id = RuncId::from_container_id(container_id).ok()?;
        let path = id.log_path(&self.pods_dir());
        path.exists().then_some(path)
    }

    async fn exec(&self, id: &str, request: ExecRequest) -> RuntimeResult<ExecProcess> {
        let id = RuncId::from_container_id(id)?;
        let bundle = id.bundle_dir(&self.pods_dir());
        if !bundle.exists() {
            return Err(RuntimeError::NotFound(id.container_id()));
        }
        exec::exec(&id, &bundle, request).await
    }

    /// From the bridge's namespace, where the kubelet's host view of the pod network is.
    async fn dial(&self, sandbox: &Sandbox, port: u16) -> RuntimeResult<tokio::net::TcpStream> {
        let ip = sandbox
            .ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| RuntimeError::Other(format!("sandbox {} has no address", sandbox.id)))?;
        exec::dial(network::netns_path(self.network.host_netns()), ip, port).await
    }
}

/// `SystemTime` of a file's last modification, if it exists.
fn mtime(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
