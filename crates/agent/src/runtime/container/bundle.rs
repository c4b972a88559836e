//! OCI bundles: a container's `config.json` (process from the image config and the container
//! spec, the pod's network namespace, cgroup resources) and its root filesystem, an overlay of
//! the shared image (read-only lower layer) and a private upper directory.

use std::path::Path;
use std::process::Command;

use canopy_oci::Image;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::resources;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's (and containerd's) default capability set.
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Everything a bundle is made from.
pub(super) struct Spec<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub image: &'a Image,
    pub netns: &'a Path,
    pub cgroup: &'a str,
    /// Bind mounts of the pod's volumes and files (see `volumes::mounts`).
    pub mounts: &'a [Value],
}

/// The process arguments the Kubernetes way: `command` replaces the image's entrypoint and
/// drops its cmd; `args` replaces the cmd.
pub(crate) fn process_args(container: &Container, image: &canopy_oci::ImageConfig) -> Vec<String> {
    match (&container.command, &container.args) {
        (Some(command), args) if !command.is_empty() => command.iter().chain(args.iter().flatten()).cloned().collect(),
        (_, Some(args)) if !args.is_empty() => image.entrypoint.iter().chain(args).cloned().collect(),
        _ => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
    }
}

/// The image's environment, overridden by the container's values (the agent resolves `valueFrom`
/// and `envFrom` into literal values before it starts a container), with a default `PATH` when
/// neither sets one.
pub(crate) fn process_env(container: &Container, image: &canopy_oci::ImageConfig) -> Vec<String> {
    let mut env: Vec<String> = image.env.clone();
    for var in container.env.iter().flatten() {
        let Some(value) = &var.value else { continue };
        let prefix = format!("{}=", var.name);
        env.retain(|e| !e.starts_with(&prefix));
        env.push(format!("{prefix}{value}"));
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.into());
    }
    env
}

/// uid and gid: the pod's or container's `runAsUser`/`runAsGroup`, else the image's numeric
/// `User`; user names would need the image's `/etc/passwd` and run as root for now.
pub(crate) fn process_user(pod: &Pod, container: &Container, image: &canopy_oci::ImageConfig) -> (i64, i64) {
    let sc = container.security_context.as_ref();
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let (mut uid, mut gid) = (0, 0);
    if let Some(user) = image.user.as_deref() {
        let (u, g) = user.split_once(':').unwrap_or((user, ""));
        match u.parse() {
            Ok(u) => uid = u,
            Err(_) => tracing::warn!(user, "image user is not numeric; running as root"),
        }
        gid = g.parse().unwrap_or(0);
    }
    if let Some(u) = sc.and_then(|s| s.run_as_user).or_else(|| psc.and_then(|s| s.run_as_user)) {
        uid = u;
    }
    if let Some(g) = sc.and_then(|s| s.run_as_group).or_else(|| psc.and_then(|s| s.run_as_group)) {
        gid = g;
    }
    (uid, gid)
}

pub(super) fn config(spec: &Spec<'_>) -> Value {
    let image = &spec.image.config;
    let (uid, gid) = process_user(spec.pod, spec.container, image);
    let cwd = spec
        .container
        .working_dir
        .clone()
        .filter(|d| !d.is_empty())
        .or_else(|| image.working_dir.clone().filter(|d| !d.is_empty()))
        .unwrap_or_else(|| "/".into());
    let hostname = super::volumes::hostname(spec.pod);
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": uid, "gid": gid },
            "args": process_args(spec.container, image),
            "env": process_env(spec.container, image),
            "cwd": cwd,
            "capabilities": {
                "bounding": CAPABILITIES,
                "effective": CAPABILITIES,
                "permitted": CAPABILITIES,
            },
            // No rlimits: raising NOFILE above the agent's own hard limit fails, so containers
            // inherit the agent's limits.
            "noNewPrivileges": false,
        },
        // The overlay is mounted by us, so the bundle's `rootfs` is private to this container.
        "root": { "path": "rootfs", "readonly": false },
        "hostname": hostname,
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        ],
        "linux": {
            "cgroupsPath": spec.cgroup,
            "resources": resources::linux_resources(spec.container.resources.as_ref()),
            "namespaces": [
                { "type": "pid" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "network", "path": spec.netns },
            ],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    });
    if let Some(mounts) = config["mounts"].as_array_mut() {
        mounts.extend(spec.mounts.iter().cloned());
    }
    config
}

/// Creates the bundle: directories, the overlay root filesystem and `config.json`.
pub(super) fn create(bundle: &Path, spec: &Spec<'_>) -> Result<(), String> {
    let rootfs = bundle.join("rootfs");
    let (upper, work) = (bundle.join("upper"), bundle.join("work"));
    for dir in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    // Commas and colons separate overlay options and lower dirs; none of our paths may hold one.
    let paths = [&spec.image.rootfs, &upper, &work];
    if let Some(bad) = paths.iter().find(|p| p.to_string_lossy().contains([',', ':'])) {
        return Err(format!("{} cannot be used in an overlay mount", bad.display()));
    }
    let options =
        format!("lowerdir={},upperdir={},workdir={}", spec.image.rootfs.display(), upper.display(), work.display());
    run(Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(&rootfs))?;
    let json = serde_json::to_vec_pretty(&config(spec)).expect("a JSON value serializes");
    std::fs::write(bundle.join("config.json"), json).map_err(|e| format!("writing config.json: {e}"))
}

/// Unmounts the root filesystem and removes the bundle directory.
pub(super) fn destroy(bundle: &Path) -> Result<(), String> {
    let rootfs = bundle.join("rootfs");
    if !bundle.exists() {
        return Ok(());
    }
    // Not mounted (a half-created bundle) is fine; anything else would make removal unsafe.
    if let Err(e) = run(Command::new("umount").arg(&rootfs))
        && is_mountpoint(&rootfs)
    {
        return Err(e);
    }
    std::fs::remove_dir_all(bundle).map_err(|e| format!("removing {}: {e}", bundle.display()))
}

pub(super) fn is_mountpoint(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else { return true };
    let path = path.to_string_lossy();
    mounts.lines().any(|line| line.split(' ').nth(4) == Some(&*path))
}

pub(super) fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdin(std::process::Stdio::null()).output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_oci::ImageConfig;
    use k8s_openapi::api::core::v1::EnvVar;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn args_follow_kubernetes_rules() {
        let image = ImageConfig { entrypoint: strings(&["/ep"]), cmd: strings(&["cmd"]), ..ImageConfig::default() };
        let mut c = Container::default();
        assert_eq!(process_args(&c, &image), ["/ep", "cmd"]);
        c.args = Some(strings(&["a"]));
        assert_eq!(process_args(&c, &image), ["/ep", "a"]);
        c.command = Some(strings(&["/bin/sh"]));
        assert_eq!(process_args(&c, &image), ["/bin/sh", "a"]);
        c.args = None;
        assert_eq!(process_args(&c, &image), ["/bin/sh"]);
    }

    #[test]
    fn env_overrides_image_and_defaults_path() {
        let image = ImageConfig { env: strings(&["A=1", "B=2"]), ..ImageConfig::default() };
        let c = Container {
            env: Some(vec![
                EnvVar { name: "B".into(), value: Some("3".into()), ..EnvVar::default() },
                EnvVar { name: "C".into(), value: None, ..EnvVar::default() },
            ]),
            ..Container::default()
        };
        assert_eq!(process_env(&c, &image), [DEFAULT_PATH, "A=1", "B=3"]);
    }

    #[test]
    fn user_from_image_or_security_context() {
        let pod = Pod::default();
        let mut image = ImageConfig { user: Some("1000:100".into()), ..ImageConfig::default() };
        let mut c = Container::default();
        assert_eq!(process_user(&pod, &c, &image), (1000, 100));
        image.user = Some("nobody".into());
        assert_eq!(process_user(&pod, &c, &image), (0, 0));
        c.security_context =
            Some(k8s_openapi::api::core::v1::SecurityContext { run_as_user: Some(7), ..Default::default() });
        assert_eq!(process_user(&pod, &c, &image), (7, 0));
    }
}
