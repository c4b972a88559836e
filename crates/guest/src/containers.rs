//! The pod's containers in the guest: each has a directory `/run/canopy/containers/<id>/` with
//! its stage spec, the PID of its init and its output (`log`, stdout and stderr interleaved),
//! and runs on its image disk, mounted once at `/run/canopy/disks/<serial>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canopy_guest::protocol::{ContainerSpec, ContainerStatus, Signal};
use rustix::mount::{MountFlags, mount};
use tokio::sync::watch;

use crate::init::RUN;
use crate::stage::{BindMount, PID_FILE, SPEC_FILE, StageSpec};

/// Why a request failed: the HTTP status it answers with and the reason.
#[derive(Debug)]
pub struct Failure(pub http::StatusCode, pub String);

impl Failure {
    pub fn bad(reason: impl Into<String>) -> Self {
        Self(http::StatusCode::BAD_REQUEST, reason.into())
    }
    pub fn internal(reason: impl Into<String>) -> Self {
        Self(http::StatusCode::INTERNAL_SERVER_ERROR, reason.into())
    }
    pub fn not_found(id: &str) -> Self {
        Self(http::StatusCode::NOT_FOUND, format!("no container {id}"))
    }
}

pub struct Container {
    pub dir: PathBuf,
    /// `Running` until `container-init` exits.
    pub status: watch::Receiver<ContainerStatus>,
    /// The PID of `container-init`, signalled until the container's own init has a PID.
    init_pid: Option<u32>,
}

impl Container {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    pub fn exited(&self) -> bool {
        matches!(*self.status.borrow(), ContainerStatus::Exited { .. })
    }

    fn signal(&self, signal: Signal) -> Result<(), Failure> {
        if self.exited() {
            return Ok(());
        }
        // The container's PID 1 once `container-init` has started it, else the helper itself.
        let pid = std::fs::read_to_string(self.dir.join(PID_FILE))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .or(self.init_pid.and_then(|p| i32::try_from(p).ok()))
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| Failure::internal("the container has no process"))?;
        let signal = match signal {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        };
        match rustix::process::kill_process(pid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(Failure::internal(format!("signalling the container: {e}"))),
        }
    }
}

#[derive(Default)]
pub struct Containers {
    map: Mutex<HashMap<String, Arc<Container>>>,
    /// Disk serial -> where it is mounted.
    disks: Mutex<HashMap<String, PathBuf>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The block device whose virtio serial is `serial` (`/sys/block/vdX/serial`).
fn find_disk(serial: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir("/sys/block").ok()?;
    entries.flatten().find_map(|entry| {
        let found = std::fs::read_to_string(entry.path().join("serial")).ok()?;
        (found.trim() == serial).then(|| Path::new("/dev").join(entry.file_name()))
    })
}

impl Containers {
    pub fn get(&self, id: &str) -> Result<Arc<Container>, Failure> {
        self.map.lock().expect("containers lock").get(id).cloned().ok_or_else(|| Failure::not_found(id))
    }

    fn mount_disk(&self, serial: &str) -> Result<PathBuf, Failure> {
        let mut disks = self.disks.lock().expect("disks lock");
        if let Some(path) = disks.get(serial) {
            return Ok(path.clone());
        }
        if !canopy_guest::protocol::valid_relative_path(serial) || serial.contains('/') {
            return Err(Failure::bad(format!("invalid disk serial {serial:?}")));
        }
        let device = find_disk(serial).ok_or_else(|| Failure::bad(format!("no disk with serial {serial}")))?;
        let target = Path::new(RUN).join("disks").join(serial);
        std::fs::create_dir_all(&target)
            .map_err(|e| Failure::internal(format!("creating {}: {e}", target.display())))?;
        mount(&device, &target, "ext4", MountFlags::empty(), None)
            .map_err(|e| Failure::internal(format!("mounting {}: {e}", device.display())))?;
        disks.insert(serial.to_string(), target.clone());
        Ok(target)
    }

    /// Starts the container; it runs until it exits or is signalled.
    pub fn start(&self, spec: ContainerSpec, hostname: &str, hosts_file: &Path) -> Result<(), Failure> {
        if spec.id.is_empty() || spec.id.contains('/') || spec.id.starts_with('.') {
            return Err(Failure::bad(format!("invalid container id {:?}", spec.id)));
        }
        if spec.command.is_empty() {
            return Err(Failure::bad("the container has no command"));
        }
        if self.map.lock().expect("containers lock").contains_key(&spec.id) {
            return Err(Failure(http::StatusCode::CONFLICT, format!("container {} exists", spec.id)));
        }
        let rootfs = self.mount_disk(&spec.disk)?;
        let mut mounts = Vec::with_capacity(spec.mounts.len());
        for m in &spec.mounts {
            if !m.path.starts_with('/') {
                return Err(Failure::bad(format!("mount path {:?} is not absolute", m.path)));
            }
            mounts.push(BindMount {
                source: crate::volumes::path(&m.volume)?,
                target: m.path.clone(),
                read_only: m.read_only,
            });
        }
        let dir = Path::new(RUN).join("containers").join(&spec.id);
        let shown = dir.display().to_string();
        let io = |what: &'static str| {
            let shown = shown.clone();
            move |e: std::io::Error| Failure::internal(format!("{what} {shown}: {e}"))
        };
        std::fs::create_dir_all(&dir).map_err(io("creating"))?;
        let stage = StageSpec {
            rootfs,
            hostname: hostname.to_string(),
            hosts_file: hosts_file.to_path_buf(),
            mounts,
            command: spec.command,
            env: spec.env,
            working_dir: spec.working_dir,
            uid: spec.uid,
            gid: spec.gid,
        };
        let json = serde_json::to_vec(&stage).expect("a stage spec serializes");
        std::fs::write(dir.join(SPEC_FILE), json).map_err(io("writing the spec in"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .map_err(io("opening the log in"))?;
        let exe = std::env::current_exe().map_err(|e| Failure::internal(format!("finding canopy-guest: {e}")))?;
        let started = now_ms();
        let mut child = tokio::process::Command::new(exe)
            .arg("container-init")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(io("opening the log in"))?)
            .stderr(log)
            .spawn()
            .map_err(|e| Failure::internal(format!("starting the container: {e}")))?;
        let (tx, rx) = watch::channel(ContainerStatus::Running { started_unix_ms: started });
        let container = Arc::new(Container { dir, status: rx, init_pid: child.id() });
        self.map.lock().expect("containers lock").insert(spec.id, container);
        tokio::spawn(async move {
            let exit_code = match child.wait().await {
                Ok(status) => crate::stage::exit_code(status),
                Err(_) => 128,
            };
            let reason = if exit_code == 0 { "Completed" } else { "Error" };
            let _ = tx.send(ContainerStatus::Exited {
                exit_code,
                reason: reason.into(),
                started_unix_ms: started,
                finished_unix_ms: now_ms(),
            });
        });
        Ok(())
    }

    pub fn signal(&self, id: &str, signal: Signal) -> Result<(), Failure> {
        self.get(id)?.signal(signal)
    }

    /// Kills the container if it still runs and forgets it with its output.
    pub async fn remove(&self, id: &str) -> Result<(), Failure> {
        let container = self.get(id)?;
        container.signal(Signal::Kill)?;
        let mut status = container.status.clone();
        let exited = status.wait_for(|s| matches!(s, ContainerStatus::Exited { .. }));
        if tokio::time::timeout(Duration::from_secs(10), exited).await.is_err() {
            return Err(Failure::internal(format!("container {id} did not exit after SIGKILL")));
        }
        self.map.lock().expect("containers lock").remove(id);
        let _ = std::fs::remove_dir_all(&container.dir);
        Ok(())
    }
}
