//! The `microvm` runtime: every pod is a QEMU microVM with its own kernel. The VM boots
//! directly from the host's guest kernel and an initramfs whose init is `canopy-guest`, which
//! runs the pod's containers inside the VM (see the `canopy-guest` crate) and answers the agent
//! over a virtio-serial port (`client`).
//!
//! Layout under [`MicrovmConfig::data_dir`]:
//! - `images/`: the `canopy-oci` cache; `disks/<digest>.ext4`: one read-only disk per image;
//! - `initramfs.cpio`: built when the runtime starts;
//! - `ipam.json`: pod addresses, as in the `container` runtime (the same bridge setup);
//! - `pods/<uid>/` (mode 0700): the channel socket `guest.sock`, the console `console.log`,
//!   QEMU's own messages `qemu.log`, one qcow2 writable layer per container (`<serial>.qcow2`)
//!   and the containers' output (`<name>-<n>.log`, copied from the guest as it is written).
//!
//! The VM boots when the pod's first container starts (not with the sandbox): microvm has no
//! hot-plug, so every container's image disk must exist when QEMU starts, and images are pulled
//! container by container. Container IDs are `microvm://<uid>/<name>-<n>`.

mod client;
mod disk;
mod initramfs;
mod vm;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use canopy_guest::protocol::{self as guest, Frame, FrameDecoder};
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

use super::container::{ContainerConfig, bundle, image, network, resources, volumes};
use super::{
    ContainerState, ExecProcess, ExecRequest, PodVolume, PullSecret, Resources, Runtime, RuntimeError, RuntimeEvent,
    RuntimeInfo, RuntimeResult, Sandbox, VolumeSource,
};
use client::GuestClient;
pub use vm::Accel;

/// Guest memory beyond what the containers ask for: the kernel and `canopy-guest`.
const GUEST_BASE_MIB: u64 = 96;
/// Memory of a pod whose containers set no request or limit.
const DEFAULT_POD_MIB: u64 = 256;
/// What a pod VM costs the host beyond its containers: the guest's base memory and QEMU itself.
const POD_OVERHEAD: Resources = Resources { cpu_milli: 100, memory_bytes: ((GUEST_BASE_MIB + 64) << 20) as i64 };

/// Which accelerator pod VMs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM if a probe VM boots with it, else TCG.
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Clone)]
pub struct MicrovmConfig {
    /// Data directory, registries, capacity and the pods' network: as for the `container`
    /// runtime (the same bridge setup, with a tap device per VM instead of a veth pair).
    pub base: ContainerConfig,
    /// The guest kernel (`/boot/vmlinuz-<release>`; its modules from `/lib/modules/<release>`).
    pub kernel: PathBuf,
    /// The static `canopy-guest` executable.
    pub guest: PathBuf,
    pub accel: AccelChoice,
}

/// The newest Debian cloud kernel in `/boot` (`linux-image-cloud-amd64`), the default guest
/// kernel.
pub fn default_kernel() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot").ok()?.flatten().map(|e| e.path()).collect();
    found.retain(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-") && n.ends_with("-cloud-amd64"))
    });
    found.sort();
    found.pop()
}

/// Figures of a booted pod VM (for the benchmark).
#[derive(Debug, Clone, Copy)]
pub struct VmStats {
    /// QEMU's process.
    pub pid: Option<u32>,
    /// Guest RAM.
    pub memory_mib: u64,
    /// From starting QEMU to the guest answering.
    pub boot: Duration,
    /// The guest's uptime when its init started.
    pub kernel_boot: Duration,
}

/// A booted VM.
struct Vm {
    client: Arc<GuestClient>,
    stats: VmStats,
    /// `Some(message)` once QEMU has exited.
    exited: watch::Receiver<Option<String>>,
}

impl Vm {
    fn alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    fn kill(&self) {
        if let Some(pid) = self.stats.pid.and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// A pod's VM and what the runtime knows of it.
struct PodVm {
    dir: PathBuf,
    ip: Ipv4Addr,
    secrets: Mutex<Vec<PullSecret>>,
    volumes: Mutex<Vec<PodVolume>>,
    vm: tokio::sync::Mutex<Option<Arc<Vm>>>,
    next: AtomicU64,
    /// The last state seen of each container, reported once the VM is gone.
    states: Mutex<HashMap<String, ContainerState>>,
}

pub struct MicrovmRuntime {
    config: MicrovmConfig,
    network: network::Network,
    images: image::Images,
    disks: disk::Disks,
    initramfs: PathBuf,
    accel: Accel,
    /// Why pod VMs are emulated, when they are.
    accel_note: Option<String>,
    qemu_version: String,
    pods: Mutex<HashMap<String, Arc<PodVm>>>,
    events: Mutex<HashMap<String, Vec<RuntimeEvent>>>,
}

fn other(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(e.to_string())
}

fn pod_uid(pod: &Pod) -> RuntimeResult<String> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if uid.is_empty() || !uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(RuntimeError::Sandbox(format!("pod uid {uid:?} is not usable")));
    }
    Ok(uid)
}

/// `(pod uid, guest container id)` of a container ID.
fn parse_id(id: &str) -> RuntimeResult<(&str, &str)> {
    id.strip_prefix("microvm://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(uid, name)| !uid.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| RuntimeError::NotFound(id.to_string()))
}

fn unix_ms_to_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The pod's containers in disk order: init containers, then the others.
fn all_containers(pod: &Pod) -> Vec<&Container> {
    let spec = pod.spec.as_ref();
    let init = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
    let main = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    init.iter().chain(main).collect()
}

fn disk_serial(pod: &Pod, name: &str) -> RuntimeResult<String> {
    all_containers(pod)
        .iter()
        .position(|c| c.name == name)
        .map(|i| format!("c{i}"))
        .ok_or_else(|| RuntimeError::Start(format!("the pod has no container {name}")))
}

/// The VM's size: the containers' limits (else requests) summed, plus the guest's base.
fn vm_size(pod: &Pod) -> (u64, u32) {
    let mut memory = 0i64;
    let mut cpu_milli = 0i64;
    let pick = |c: &Container, key: &str| {
        let r = c.resources.as_ref()?;
        let q = r.limits.as_ref().and_then(|l| l.get(key)).or_else(|| r.requests.as_ref().and_then(|l| l.get(key)))?;
        resources::milli(&q.0).and_then(|m| i64::try_from(m).ok())
    };
    let spec = pod.spec.as_ref();
    for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        memory += pick(c, "memory").map_or(0, |m| m / 1000);
        cpu_milli += pick(c, "cpu").unwrap_or(0);
    }
    // Init containers run one at a time, before the others: the largest counts.
    for c in spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default() {
        memory = memory.max(pick(c, "memory").map_or(0, |m| m / 1000));
        cpu_milli = cpu_milli.max(pick(c, "cpu").unwrap_or(0));
    }
    let memory_mib = if memory > 0 { (memory as u64).div_ceil(1 << 20) } else { DEFAULT_POD_MIB };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let vcpus = (cpu_milli.max(1) as u64).div_ceil(1000).clamp(1, u64::from(cpus)) as u32;
    (memory_mib + GUEST_BASE_MIB, vcpus)
}

fn to_guest_volume(v: &PodVolume) -> RuntimeResult<guest::Volume> {
    match &v.source {
        VolumeSource::EmptyDir { .. } => Ok(guest::Volume::EmptyDir),
        VolumeSource::Files(files) => Ok(guest::Volume::Files(
            files
                .iter()
                .map(|f| guest::VolumeFile {
                    path: f.path.clone(),
                    data: base64::engine::general_purpose::STANDARD.encode(&f.data),
                    mode: f.mode,
                })
                .collect(),
        )),
        VolumeSource::Unsupported(kind) => {
            Err(RuntimeError::Volume(format!("volume {:?}: {kind} volumes are not supported", v.name)))
        }
    }
}

impl MicrovmRuntime {
    /// Builds the initramfs, decides the accelerator (probing KVM when asked to choose) and
    /// opens the image cache. Fails with a clear reason when QEMU, the kernel or the guest
    /// agent is missing.
    pub async fn new(config: MicrovmConfig) -> RuntimeResult<Self> {
        let qemu_version = qemu_version().await?;
        if !config.kernel.is_file() {
            return Err(other(format!(
                "no guest kernel at {} (install linux-image-cloud-amd64, or pass --guest-kernel)",
                config.kernel.display()
            )));
        }
        let release = initramfs::kernel_release(&config.kernel)
            .ok_or_else(|| other(format!("{}: not a vmlinuz-<release> file", config.kernel.display())))?;
        std::fs::create_dir_all(&config.base.data_dir).map_err(other)?;
        let initramfs = config.base.data_dir.join("initramfs.cpio");
        initramfs::build(&config.guest, std::path::Path::new("/lib/modules"), &release, &initramfs).map_err(other)?;
        let (accel, accel_note) = match config.accel {
            AccelChoice::Kvm => (Accel::Kvm, None),
            AccelChoice::Tcg => (Accel::Tcg, Some("TCG was asked for (--accel tcg)".to_string())),
            AccelChoice::Auto => match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
                Ok(_) => match vm::probe(&config.kernel, &initramfs, Accel::Kvm, Duration::from_secs(15)).await {
                    Ok(()) => (Accel::Kvm, None),
                    Err(e) => (Accel::Tcg, Some(format!("KVM cannot boot the guest kernel here ({e})"))),
                },
                Err(e) => (Accel::Tcg, Some(format!("/dev/kvm is not usable ({e})"))),
            },
        };
        let accel_note = accel_note.map(|why| {
            let note = format!("{why}; pod VMs use TCG software emulation, many times slower than KVM");
            tracing::warn!("{note}");
            note
        });
        let base = &config.base;
        let host_netns = base.host_netns.clone().unwrap_or_else(|| format!("canopy-host-{}", base.bridge));
        let network = network::Network::new(&base.data_dir, &base.pod_cidr, &base.bridge, host_netns)?;
        let images = image::Images::new(base.data_dir.join("images"), base.insecure_registries.clone())?;
        let disks = disk::Disks::new(config.base.data_dir.join("disks"))?;
        Ok(Self {
            config,
            network,
            images,
            disks,
            initramfs,
            accel,
            accel_note,
            qemu_version,
            pods: Mutex::default(),
            events: Mutex::default(),
        })
    }

    /// The figures of the pod's VM (by pod uid), if it runs.
    pub async fn vm_stats(&self, uid: &str) -> Option<VmStats> {
        let pod_vm = self.pod(uid).ok()?;
        let vm = pod_vm.vm.lock().await.clone()?;
        vm.alive().then_some(vm.stats)
    }

    /// The accelerator pod VMs boot with.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    fn event(&self, uid: &str, warning: bool, reason: &str, message: String) {
        let event = RuntimeEvent { warning, reason: reason.into(), message };
        self.events.lock().expect("events lock").entry(uid.to_string()).or_default().push(event);
    }

    fn pod(&self, uid: &str) -> RuntimeResult<Arc<PodVm>> {
        self.pods
            .lock()
            .expect("pods lock")
            .get(uid)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound(format!("pod {uid}")))
    }

    /// The pod's running VM, booting it (again, after a crash) when there is none.
    async fn vm(&self, uid: &str, pod_vm: &PodVm, pod: &Pod) -> RuntimeResult<Arc<Vm>> {
        let mut slot = pod_vm.vm.lock().await;
        if let Some(vm) = slot.as_ref().filter(|vm| vm.alive()) {
            return Ok(vm.clone());
        }
        if let Some(old) = slot.take() {
            old.kill();
            // Whatever ran in the old VM died with it.
            let mut states = pod_vm.states.lock().expect("states lock");
            for state in states.values_mut() {
                if let ContainerState::Running { started_at } = *state {
                    *state = died(started_at);
                }
            }
        }
        let vm = Arc::new(self.boot(uid, pod_vm, pod).await?);
        *slot = Some(vm.clone());
        Ok(vm)
    }

    async fn boot(&self, uid: &str, pod_vm: &PodVm, pod: &Pod) -> RuntimeResult<Vm> {
        let secrets = pod_vm.secrets.lock().expect("secrets lock").clone();
        let mut disks = Vec::new();
        for c in all_containers(pod) {
            let image = match self.images.cached(c).await {
                Some(image) => image,
                None => self.images.pull(c, &secrets).await?,
            };
            let started = Instant::now();
            let (base, built) = self.disks.image(&image.digest.to_string(), &image.rootfs).await?;
            if built {
                let ms = started.elapsed().as_millis();
                self.event(uid, false, "ImageDiskReady", format!("Made the disk image of {} in {ms} ms", image.digest));
            }
            let serial = disk_serial(pod, &c.name)?;
            let overlay = pod_vm.dir.join(format!("{serial}.qcow2"));
            // A VM that crashed keeps its containers' writable layers across the reboot.
            if !overlay.exists() {
                disk::Disks::overlay(&base, &overlay).await?;
            }
            disks.push((serial, overlay));
        }
        let (memory_mib, vcpus) = vm_size(pod);
        let socket = pod_vm.dir.join("guest.sock");
        let _ = std::fs::remove_file(&socket);
        let tap = network::tap_name(uid);
        let spec = vm::VmSpec {
            kernel: &self.config.kernel,
            initramfs: &self.initramfs,
            accel: self.accel,
            memory_mib,
            vcpus,
            socket: &socket,
            console: &pod_vm.dir.join("console.log"),
            disks: &disks,
            nic: Some((&tap, vm::mac_for(pod_vm.ip))),
        };
        let qemu_log = std::fs::File::create(pod_vm.dir.join("qemu.log")).map_err(other)?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", self.network.host_netns(), vm::QEMU])
            .args(vm::args(&spec))
            .stdin(std::process::Stdio::null())
            .stdout(qemu_log.try_clone().map_err(other)?)
            .stderr(qemu_log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RuntimeError::Sandbox(format!("starting {}: {e}", vm::QEMU)))?;
        let pid = child.id();
        let (tx, exited) = watch::channel(None);
        let log = pod_vm.dir.join("qemu.log");
        tokio::spawn(async move {
            let status = child.wait().await;
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            let message = match status {
                Ok(s) => format!("QEMU exited ({s}) {}", said.trim()),
                Err(e) => format!("waiting for QEMU: {e}"),
            };
            let _ = tx.send(Some(message.trim().to_string()));
        });
        let client = Arc::new(GuestClient::new(socket));
        let stats = VmStats { pid, memory_mib, boot: Duration::ZERO, kernel_boot: Duration::ZERO };
        let vm = Vm { client: client.clone(), exited, stats };
        let deadline =
            Instant::now() + if self.accel == Accel::Kvm { Duration::from_secs(20) } else { Duration::from_secs(90) };
        let ready = match client.wait_ready(deadline, || vm.alive()).await {
            Ok(ready) => ready,
            Err(e) => {
                vm.kill();
                let said = vm.exited.borrow().clone().unwrap_or_default();
                return Err(RuntimeError::Sandbox(format!("booting the pod VM: {e} {said}")));
            }
        };
        let booted = started.elapsed();
        let booted_ms = booted.as_millis();
        let (gateway, prefix) = self.network.gateway();
        let now_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let config = guest::SandboxConfig {
            now_unix_ms,
            hostname: volumes::hostname(pod),
            hosts_file: volumes::hosts(pod, &pod_vm.ip.to_string()),
            network: Some(guest::NetworkConfig { address: pod_vm.ip, prefix, gateway }),
        };
        let setup = async {
            client.call(Method::PUT, "sandbox", Some(&config)).await?;
            let volumes = pod_vm.volumes.lock().expect("volumes lock").clone();
            for v in &volumes {
                let volume = to_guest_volume(v).map_err(|e| e.to_string())?;
                client.call(Method::PUT, &format!("volumes/{}", v.name), Some(&volume)).await?;
            }
            Ok::<_, String>(())
        };
        if let Err(e) = setup.await {
            vm.kill();
            return Err(RuntimeError::Sandbox(format!("setting up the pod VM: {e}")));
        }
        let accel = self.accel.name();
        self.event(
            uid,
            false,
            "VMStarted",
            format!(
                "Booted the pod VM ({vcpus} vCPU, {memory_mib} MiB, {accel}) in {booted_ms} ms (kernel {} ms)",
                ready.kernel_boot_ms
            ),
        );
        let stats = VmStats { pid, memory_mib, boot: booted, kernel_boot: Duration::from_millis(ready.kernel_boot_ms) };
        Ok(Vm { stats, ..vm })
    }

    /// Copies a container's output from the guest into its host log file as it is written,
    /// until the container has exited and all of it is copied (or the VM is gone).
    fn copy_logs(vm: Arc<Vm>, guest_id: String, path: PathBuf) {
        tokio::spawn(async move {
            let Ok(mut file) = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await else {
                return;
            };
            while vm.alive() {
                let offset = file.metadata().await.map_or(0, |m| m.len());
                let body = http_body_util::Empty::new().boxed();
                let Ok((status, mut body)) =
                    vm.client.send(Method::GET, &format!("containers/{guest_id}/log?offset={offset}"), body).await
                else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                if !status.is_success() {
                    return;
                }
                let mut cut = false;
                while let Some(frame) = body.frame().await {
                    match frame {
                        Ok(frame) => {
                            if let Some(data) = frame.data_ref()
                                && file.write_all(data).await.is_err()
                            {
                                return;
                            }
                        }
                        Err(_) => {
                            cut = true;
                            break;
                        }
                    }
                }
                if !cut {
                    return;
                }
            }
        });
    }
}

async fn qemu_version() -> RuntimeResult<String> {
    let out = tokio::process::Command::new(vm::QEMU)
        .arg("--version")
        .output()
        .await
        .map_err(|e| other(format!("{} is not usable (install qemu-system-x86): {e}", vm::QEMU)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split_whitespace().nth(3).unwrap_or("unknown").to_string())
}

#[async_trait::async_trait]
impl Runtime for MicrovmRuntime {
    fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            name: "microvm",
            version: format!("qemu-microvm://{}+{}", self.qemu_version, self.accel.name()),
            pod_overhead: POD_OVERHEAD,
            capacity: self.config.base.capacity,
            max_pods: self.config.base.max_pods,
            notice: self.accel_note.clone().map(|message| RuntimeEvent {
                warning: true,
                reason: "SoftwareEmulation".into(),
                message,
            }),
        }
    }

    async fn create_sandbox(&self, pod: &Pod) -> RuntimeResult<Sandbox> {
        let uid = pod_uid(pod)?;
        if let Ok(existing) = self.pod(&uid) {
            return Ok(Sandbox { id: format!("microvm-{uid}"), ip: Some(existing.ip.to_string()) });
        }
        let dir = self.config.base.data_dir.join("pods").join(&uid);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::Sandbox(format!("creating {}: {e}", dir.display())))?;
        // The guest channel's socket is in here: only root (the agent) may reach it.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| RuntimeError::Sandbox(format!("securing {}: {e}", dir.display())))?;
        let ip = self.network.create_tap(&uid).await?;
        let pod_vm = Arc::new(PodVm {
            dir,
            ip,
            secrets: Mutex::default(),
            volumes: Mutex::default(),
            vm: tokio::sync::Mutex::new(None),
            next: AtomicU64::new(0),
            states: Mutex::default(),
        });
        self.pods.lock().expect("pods lock").insert(uid.clone(), pod_vm);
        Ok(Sandbox { id: format!("microvm-{uid}"), ip: Some(ip.to_string()) })
    }

    async fn pull_image(&self, pod: &Pod, container: &Container, secrets: &[PullSecret]) -> RuntimeResult<String> {
        if let Ok(pod_vm) = self.pod(&pod_uid(pod)?) {
            *pod_vm.secrets.lock().expect("secrets lock") = secrets.to_vec();
        }
        self.images.pull(container, secrets).await.map(|image| image::image_id(container, &image))
    }

    async fn prepare_volumes(&self, _sandbox: &Sandbox, pod: &Pod, volumes: &[PodVolume]) -> RuntimeResult<()> {
        let converted = volumes.iter().map(to_guest_volume).collect::<RuntimeResult<Vec<_>>>()?;
        let pod_vm = self.pod(&pod_uid(pod)?)?;
        *pod_vm.volumes.lock().expect("volumes lock") = volumes.to_vec();
        let vm = pod_vm.vm.lock().await.clone().filter(|vm| vm.alive());
        if let Some(vm) = vm {
            for (v, volume) in volumes.iter().zip(&converted) {
                vm.client
                    .call(Method::PUT, &format!("volumes/{}", v.name), Some(volume))
                    .await
                    .map_err(RuntimeError::Volume)?;
            }
        }
        Ok(())
    }

    async fn start_container(&self, _sandbox: &Sandbox, pod: &Pod, container: &Container) -> RuntimeResult<String> {
        let uid = pod_uid(pod)?;
        let pod_vm = self.pod(&uid)?;
        let mut mounts = Vec::new();
        for m in container.volume_mounts.iter().flatten() {
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(RuntimeError::Volume(format!(
                    "volumeMount {:?}: subPath is not supported in pod VMs",
                    m.name
                )));
            }
            mounts.push(guest::Mount {
                volume: m.name.clone(),
                path: m.mount_path.clone(),
                read_only: m.read_only == Some(true),
            });
        }
        let image = self.images.get(container).await?;
        let vm = self.vm(&uid, &pod_vm, pod).await?;
        let guest_id = format!("{}-{}", container.name, pod_vm.next.fetch_add(1, Ordering::Relaxed));
        let (uid_n, gid_n) = bundle::process_user(pod, container, &image.config);
        let spec = guest::ContainerSpec {
            id: guest_id.clone(),
            disk: disk_serial(pod, &container.name)?,
            command: bundle::process_args(container, &image.config),
            env: bundle::process_env(container, &image.config),
            working_dir: container.working_dir.clone().or_else(|| image.config.working_dir.clone()).unwrap_or_default(),
            uid: u32::try_from(uid_n).unwrap_or(0),
            gid: u32::try_from(gid_n).unwrap_or(0),
            mounts,
        };
        vm.client.call(Method::POST, "containers", Some(&spec)).await.map_err(RuntimeError::Start)?;
        let id = format!("microvm://{uid}/{guest_id}");
        let running = ContainerState::Running { started_at: SystemTime::now() };
        pod_vm.states.lock().expect("states lock").insert(guest_id.clone(), running);
        Self::copy_logs(vm, guest_id.clone(), pod_vm.dir.join(format!("{guest_id}.log")));
        Ok(id)
    }

    async fn container_state(&self, id: &str) -> RuntimeResult<ContainerState> {
        let (uid, guest_id) = parse_id(id)?;
        let pod_vm = self.pod(uid)?;
        let vm = pod_vm.vm.lock().await.clone();
        let Some(vm) = vm.filter(|vm| vm.alive()) else { return gone(&pod_vm, id, guest_id) };
        let status = match vm.client.get_json::<guest::ContainerStatus>(&format!("containers/{guest_id}")).await {
            Ok(status) => status,
            Err(e) => {
                // A broken connection is most often QEMU going away: give its exit a moment
                // to be seen.
                let mut exited = vm.exited.clone();
                let _ = tokio::time::timeout(Duration::from_secs(1), exited.wait_for(Option::is_some)).await;
                if !vm.alive() {
                    return gone(&pod_vm, id, guest_id);
                }
                return pod_vm.states.lock().expect("states lock").get(guest_id).cloned().ok_or(RuntimeError::Other(e));
            }
        };
        let state = match status {
            guest::ContainerStatus::Running { started_unix_ms } => {
                ContainerState::Running { started_at: unix_ms_to_time(started_unix_ms) }
            }
            guest::ContainerStatus::Exited { exit_code, reason, started_unix_ms, finished_unix_ms } => {
                ContainerState::Exited {
                    exit_code,
                    reason,
                    started_at: unix_ms_to_time(started_unix_ms),
                    finished_at: unix_ms_to_time(finished_unix_ms),
                }
            }
        };
        pod_vm.states.lock().expect("states lock").insert(guest_id.to_string(), state.clone());
        Ok(state)
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> RuntimeResult<()> {
        let (uid, guest_id) = parse_id(id)?;
        let pod_vm = self.pod(uid)?;
        let Some(vm) = pod_vm.vm.lock().await.clone().filter(|vm| vm.alive()) else { return Ok(()) };
        let signal = |s: guest::Signal| {
            let vm = vm.clone();
            async move { vm.client.call(Method::POST, &format!("containers/{guest_id}/signal"), Some(&s)).await }
        };
        let exited = || async {
            matches!(self.container_state(id).await, Ok(ContainerState::Exited { .. }) | Err(RuntimeError::NotFound(_)))
        };
        if exited().await {
            return Ok(());
        }
        signal(guest::Signal::Term).await.map_err(other)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if exited().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        signal(guest::Signal::Kill).await.map_err(other)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if exited().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(other(format!("{id} did not exit after SIGKILL")))
    }

    async fn remove_container(&self, id: &str) -> RuntimeResult<()> {
        let (uid, guest_id) = parse_id(id)?;
        let pod_vm = self.pod(uid)?;
        if let Some(vm) = pod_vm.vm.lock().await.clone().filter(|vm| vm.alive()) {
            match vm.client.call(Method::DELETE, &format!("containers/{guest_id}"), None::<&()>).await {
                Ok(_) => {}
                Err(e) if e.contains(" 404 ") => {}
                Err(e) => return Err(other(e)),
            }
        }
        pod_vm.states.lock().expect("states lock").remove(guest_id);
        let _ = std::fs::remove_file(pod_vm.dir.join(format!("{guest_id}.log")));
        Ok(())
    }

    async fn remove_sandbox(&self, sandbox: &Sandbox) -> RuntimeResult<()> {
        let uid = sandbox
            .id
            .strip_prefix("microvm-")
            .ok_or_else(|| RuntimeError::NotFound(format!("sandbox {}", sandbox.id)))?
            .to_string();
        let pod_vm = self.pods.lock().expect("pods lock").remove(&uid);
        if let Some(pod_vm) = pod_vm {
            if let Some(vm) = pod_vm.vm.lock().await.take() {
                vm.kill();
                let mut exited = vm.exited.clone();
                let _ = tokio::time::timeout(Duration::from_secs(10), exited.wait_for(Option::is_some)).await;
            }
            // The writable layers go with the pod.
            let _ = std::fs::remove_dir_all(&pod_vm.dir);
        }
        self.network.remove_tap(&uid).await?;
        self.events.lock().expect("events lock").remove(&uid);
        Ok(())
    }

    fn log_path(&self, id: &str) -> Option<PathBuf> {
        let (uid, guest_id) = parse_id(id).ok()?;
        let path = self.pod(uid).ok()?.dir.join(format!("{guest_id}.log"));
        path.exists().then_some(path)
    }

    async fn exec(&self, id: &str, request: ExecRequest) -> RuntimeResult<ExecProcess> {
        let (uid, guest_id) = parse_id(id)?;
        let pod_vm = self.pod(uid)?;
        let vm =
            pod_vm.vm.lock().await.clone().filter(|vm| vm.alive()).ok_or_else(|| other("the pod VM is not running"))?;
        exec(&vm, guest_id, request).await
    }

    async fn dial(&self, sandbox: &Sandbox, port: u16) -> RuntimeResult<tokio::net::TcpStream> {
        let ip = sandbox
            .ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| other(format!("sandbox {} has no address", sandbox.id)))?;
        super::container::exec::dial(network::netns_path(self.network.host_netns()), ip, port).await
    }

    fn drain_events(&self, pod_uid: &str) -> Vec<RuntimeEvent> {
        self.events.lock().expect("events lock").remove(pod_uid).unwrap_or_default()
    }
}

/// A container killed with its VM: reported like one killed by SIGKILL.
fn died(started_at: SystemTime) -> ContainerState {
    ContainerState::Exited { exit_code: 137, reason: "Error".into(), started_at, finished_at: SystemTime::now() }
}

/// The state of a container whose VM is gone (QEMU crashed or was killed): it died with it.
fn gone(pod_vm: &PodVm, id: &str, guest_id: &str) -> RuntimeResult<ContainerState> {
    let mut states = pod_vm.states.lock().expect("states lock");
    match states.get(guest_id).cloned() {
        Some(ContainerState::Running { started_at }) => {
            let state = died(started_at);
            states.insert(guest_id.to_string(), state.clone());
            Ok(state)
        }
        Some(state) => Ok(state),
        None => Err(RuntimeError::NotFound(id.to_string())),
    }
}

/// Runs a command in the guest: the request body carries `Start` then input and terminal sizes;
/// the answer carries output then `Exit`.
async fn exec(vm: &Vm, guest_id: &str, request: ExecRequest) -> RuntimeResult<ExecProcess> {
    let (frames_tx, frames_rx) = mpsc::channel::<Bytes>(16);
    let start = guest::ExecSpec { command: request.command, tty: request.tty, stdin: request.stdin };
    frames_tx.send(Frame::Start(start).encode()).await.map_err(other)?;
    let body = StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(frames_rx).map(|b| Ok(hyper::body::Frame::data(b))),
    );
    let (status, mut answer) =
        vm.client.send(Method::POST, &format!("containers/{guest_id}/exec"), body.boxed()).await.map_err(other)?;
    if !status.is_success() {
        // An error's reason, and no more of it than a reason needs (the guest is not trusted).
        let text =
            http_body_util::Limited::new(answer, 64 << 10).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(other(format!("exec: {} {}", status.as_u16(), String::from_utf8_lossy(&text).trim())));
    }
    // Duplex halves, unlike simplex ones, end the reader when the writer is dropped.
    let (stdout_r, stdout_w) = tokio::io::duplex(64 * 1024);
    let (stderr_r, stderr_w) = tokio::io::duplex(64 * 1024);
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stdout_w, mut stderr_w) = (stdout_w, stderr_w);
        let mut decoder = FrameDecoder::default();
        let mut exit = None;
        'read: while let Some(Ok(frame)) = answer.frame().await {
            let Some(data) = frame.data_ref() else { continue };
            decoder.push(data);
            while let Ok(Some(frame)) = decoder.next_frame() {
                match frame {
                    Frame::Stdout(b) => {
                        let _ = stdout_w.write_all(&b).await;
                    }
                    Frame::Stderr(b) => {
                        let _ = stderr_w.write_all(&b).await;
                    }
                    Frame::Exit(code) => {
                        exit = Some(code);
                        break 'read;
                    }
                    _ => {}
                }
            }
        }
        drop((stdout_w, stderr_w));
        let _ = exit_tx.send(exit);
    });
    let stdin = if request.stdin {
        let (stdin_r, stdin_w) = tokio::io::duplex(64 * 1024);
        let tx = frames_tx.clone();
        tokio::spawn(async move {
            let mut stdin_r = stdin_r;
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = stdin_r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if tx.send(Frame::Stdin(Bytes::copy_from_slice(&buf[..n])).encode()).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Frame::StdinClosed.encode()).await;
        });
        Some(Box::pin(stdin_w) as super::Writer)
    } else {
        None
    };
    let resize = request.tty.then(|| {
        let tx = frames_tx.clone();
        Box::new(move |cols: u16, rows: u16| {
            let _ = tx.try_send(Frame::Resize { cols, rows }.encode());
        }) as Box<dyn Fn(u16, u16) + Send + Sync>
    });
    // The request stays open while the command runs (the guest ends the command when it ends).
    let exit = Box::pin(async move {
        let code = exit_rx.await.ok().flatten();
        drop(frames_tx);
        code.ok_or_else(|| other("the exec stream ended without an exit status"))
    });
    Ok(ExecProcess {
        stdin,
        stdout: Box::pin(stdout_r),
        stderr: (!request.tty).then(|| Box::pin(stderr_r) as super::Reader),
        resize,
        exit,
    })
}
