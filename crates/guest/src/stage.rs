//! The processes that put a container in place, run as `canopy-guest <stage> DIR ...` where DIR
//! is the container's directory (its `spec.json`, `pid` and `log`). Each is single-threaded,
//! which entering or leaving mount namespaces requires.
//!
//! - `container-init`: leaves the guest's mount, UTS and IPC namespaces, asks for a new PID
//!   namespace for its child, mounts `/dev`, `/sys`, volumes and `/etc/hosts` into the root
//!   filesystem, starts `container-start`, records its PID and waits for it: its exit status is
//!   the container's.
//! - `container-start`: PID 1 of the new namespace; mounts `/proc` there, makes the container's
//!   root its root and becomes the container's command.
//! - `container-exec`: enters a running container's namespaces and runs a command in it.

use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use rustix::fs::{FileType, Mode};
use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_bind, mount_change, mount_move, mount_remount};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};
use serde::{Deserialize, Serialize};

pub const SPEC_FILE: &str = "spec.json";
pub const PID_FILE: &str = "pid";

/// What the stages need, written by the server into the container's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSpec {
    pub rootfs: PathBuf,
    pub hostname: String,
    /// The guest file bind-mounted at `/etc/hosts`.
    pub hosts_file: PathBuf,
    pub mounts: Vec<BindMount>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    /// Absolute, in the container.
    pub target: String,
    pub read_only: bool,
}

fn read_spec(dir: &Path) -> Result<StageSpec, String> {
    let bytes = std::fs::read(dir.join(SPEC_FILE)).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid container spec: {e}"))
}

/// `path` (absolute, in the container) under `root`, refusing `..`.
fn inside(root: &Path, path: &str) -> Result<PathBuf, String> {
    let mut out = root.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            _ => return Err(format!("{path:?} leaves the container")),
        }
    }
    Ok(out)
}

fn report(result: Result<i32, String>) -> i32 {
    result.unwrap_or_else(|e| {
        // Goes to the container's log, where `kubectl logs` shows why it did not start.
        eprintln!("canopy-guest: {e}");
        128
    })
}

fn dir_arg(args: &[String]) -> Result<PathBuf, String> {
    args.first().map(PathBuf::from).ok_or_else(|| "missing the container directory".to_string())
}

/// A process's exit status as a container's exit code: its code, or 128 + the signal that
/// ended it, as shells report it.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

pub fn init(args: &[String]) -> i32 {
    report(dir_arg(args).and_then(|dir| init_in(&dir)))
}

fn init_in(dir: &Path) -> Result<i32, String> {
    let spec = read_spec(dir)?;
    let flags = UnshareFlags::NEWNS | UnshareFlags::NEWPID | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    // `unshare` is deprecated because CLONE_FILES can break other threads' file descriptors;
    // this process has one thread and does not ask for CLONE_FILES.
    #[allow(deprecated)]
    rustix::thread::unshare(flags).map_err(|e| format!("creating namespaces: {e}"))?;
    mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .map_err(|e| format!("making mounts private: {e}"))?;
    rustix::system::sethostname(spec.hostname.as_bytes()).map_err(|e| format!("setting the hostname: {e}"))?;
    prepare_root(&spec)?;
    let exe = std::env::current_exe().map_err(|e| format!("finding canopy-guest: {e}"))?;
    let mut child = Command::new(exe)
        .arg("container-start")
        .arg(dir)
        .spawn()
        .map_err(|e| format!("starting the container: {e}"))?;
    std::fs::write(dir.join(PID_FILE), child.id().to_string()).map_err(|e| format!("recording the PID: {e}"))?;
    let status = child.wait().map_err(|e| format!("waiting for the container: {e}"))?;
    Ok(exit_code(status))
}

fn prepare_root(spec: &StageSpec) -> Result<(), String> {
    let root = &spec.rootfs;
    fn at<'a>(what: &'a str, path: &'a Path) -> impl Fn(rustix::io::Errno) -> String + 'a {
        move |e| format!("{what} {}: {e}", path.display())
    }
    let mkdir = |path: &Path| std::fs::create_dir_all(path).map_err(|e| format!("creating {}: {e}", path.display()));

    let dev = root.join("dev");
    mkdir(&dev)?;
    mount("tmpfs", &dev, "tmpfs", MountFlags::NOSUID | MountFlags::NOEXEC, c"mode=0755")
        .map_err(at("mounting", &dev))?;
    for (name, major, minor) in
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
    {
        let path = dev.join(name);
        let device = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(rustix::fs::CWD, &path, FileType::CharacterDevice, Mode::from_raw_mode(0o666), device)
            .map_err(at("creating", &path))?;
        rustix::fs::chmod(&path, Mode::from_raw_mode(0o666)).map_err(at("opening up", &path))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts)?;
    mount("devpts", &pts, "devpts", MountFlags::NOSUID | MountFlags::NOEXEC, c"newinstance,ptmxmode=0666,mode=0620")
        .map_err(at("mounting", &pts))?;
    let shm = dev.join("shm");
    mkdir(&shm)?;
    mount("shm", &shm, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, c"mode=1777")
        .map_err(at("mounting", &shm))?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).map_err(|e| format!("creating /dev/{link}: {e}"))?;
    }

    let sys = root.join("sys");
    mkdir(&sys)?;
    let read_only = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount("sysfs", &sys, "sysfs", read_only, None).map_err(at("mounting", &sys))?;
    mkdir(&root.join("proc"))?;

    let hosts = root.join("etc/hosts");
    mkdir(&root.join("etc"))?;
    if !hosts.exists() {
        std::fs::write(&hosts, b"").map_err(|e| format!("creating /etc/hosts: {e}"))?;
    }
    mount_bind(&spec.hosts_file, &hosts).map_err(at("mounting", &hosts))?;

    for m in &spec.mounts {
        let target = inside(root, &m.target)?;
        if m.source.is_dir() {
            mkdir(&target)?;
        } else if !target.exists() {
            mkdir(target.parent().unwrap_or(root))?;
            std::fs::write(&target, b"").map_err(|e| format!("creating {}: {e}", m.target))?;
        }
        mount_bind(&m.source, &target).map_err(at("mounting", &target))?;
        if m.read_only {
            mount_remount(&target, MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(at("making read-only", &target))?;
        }
    }
    Ok(())
}

pub fn start(args: &[String]) -> i32 {
    report(dir_arg(args).and_then(|dir| start_in(&dir)))
}

/// PID 1 of the container's PID namespace: only returns on failure.
fn start_in(dir: &Path) -> Result<i32, String> {
    let spec = read_spec(dir)?;
    let root = &spec.rootfs;
    let proc = root.join("proc");
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    mount("proc", &proc, "proc", flags, None).map_err(|e| format!("mounting /proc: {e}"))?;
    // `switch_root`'s way in: the initramfs cannot be pivoted away from, so the container's
    // root is moved over `/` and made the root by chroot.
    std::env::set_current_dir(root).map_err(|e| format!("entering the root filesystem: {e}"))?;
    mount_move(".", "/").map_err(|e| format!("moving the root filesystem: {e}"))?;
    rustix::process::chroot(".").map_err(|e| format!("changing root: {e}"))?;
    enter_working_dir(&spec.working_dir)?;
    let Some((program, args)) = spec.command.split_first() else {
        return Err("the container has no command".into());
    };
    let error =
        Command::new(program).args(args).env_clear().envs(env_pairs(&spec.env)).uid(spec.uid).gid(spec.gid).exec();
    eprintln!("canopy-guest: running {program:?}: {error}");
    Ok(if error.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })
}

fn enter_working_dir(dir: &str) -> Result<(), String> {
    let dir = if dir.is_empty() { "/" } else { dir };
    // Like runc, a working directory missing from the image is created.
    std::fs::create_dir_all(dir).map_err(|e| format!("creating the working directory {dir}: {e}"))?;
    std::env::set_current_dir(dir).map_err(|e| format!("entering the working directory {dir}: {e}"))
}

fn env_pairs(env: &[String]) -> impl Iterator<Item = (&str, &str)> {
    env.iter().filter_map(|e| e.split_once('='))
}

/// `container-exec DIR [--tty] -- COMMAND...`
pub fn exec(args: &[String]) -> i32 {
    report(exec_in(args))
}

fn exec_in(args: &[String]) -> Result<i32, String> {
    let dir = dir_arg(args)?;
    let tty = args.get(1).is_some_and(|a| a == "--tty");
    let command = args.iter().position(|a| a == "--").map(|i| &args[i + 1..]).unwrap_or_default();
    let Some((program, rest)) = command.split_first() else {
        return Err("no command to run".into());
    };
    let spec = read_spec(&dir)?;
    let pid = std::fs::read_to_string(dir.join(PID_FILE)).map_err(|_| "the container is not running".to_string())?;
    let ns = Path::new("/proc").join(pid.trim()).join("ns");
    // Every namespace file is opened before the mount namespace changes what /proc is.
    let open = |name: &str| std::fs::File::open(ns.join(name)).map_err(|_| "the container is not running".to_string());
    let namespaces = [
        (open("ipc")?, LinkNameSpaceType::InterProcessCommunication),
        (open("uts")?, LinkNameSpaceType::HostNameAndNISDomainName),
        (open("pid")?, LinkNameSpaceType::ProcessID),
        (open("mnt")?, LinkNameSpaceType::Mount),
    ];
    for (file, kind) in &namespaces {
        rustix::thread::move_into_link_name_space(file.as_fd(), Some(*kind))
            .map_err(|e| format!("entering the container's {kind:?} namespace: {e}"))?;
    }
    enter_working_dir(&spec.working_dir)?;
    if tty {
        // The terminal on standard input becomes the command's controlling terminal, so it
        // gets ^C and window size changes.
        rustix::process::setsid().map_err(|e| format!("starting a session: {e}"))?;
        rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(|e| format!("taking the terminal: {e}"))?;
    }
    let status = Command::new(program)
        .args(rest)
        .env_clear()
        .envs(env_pairs(&spec.env))
        .uid(spec.uid)
        .gid(spec.gid)
        .status()
        .map_err(|e| format!("running {program:?}: {e}"))?;
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_stay_under_the_root() {
        let root = Path::new("/run/canopy/disks/a");
        assert_eq!(inside(root, "/data/x").expect("inside"), root.join("data/x"));
        assert_eq!(inside(root, "/").expect("root"), root);
        assert!(inside(root, "/data/../../etc").is_err());
    }
}
