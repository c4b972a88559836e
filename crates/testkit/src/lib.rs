//! What the integration tests share across crates: Debian's `docker-registry` on a free
//! loopback port with a busybox image built offline (umoci, skopeo, busybox-static), and the
//! clean-up of what a container runtime leaves behind when a test fails half-way.
//!
//! The container tests need root and the Debian packages runc, iproute2, docker-registry,
//! umoci, skopeo and busybox-static; without them [`cannot_run_containers`] says so and they
//! return early.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a registry with a test image needs (Debian docker-registry, umoci, skopeo, busybox-static).
const REGISTRY_TOOLS: &[&str] = &["/usr/bin/docker-registry", "/usr/bin/umoci", "/usr/bin/skopeo", "/bin/busybox"];
/// What the container runtime needs besides (runc, iproute2).
const CONTAINER_TOOLS: &[&str] = &["/usr/sbin/runc", "/usr/sbin/ip"];

/// The busybox applets the test image links.
const APPLETS: &[&str] = &[
    "sh", "sleep", "ping", "nc", "cat", "echo", "grep", "touch", "httpd", "rm", "test", "[", "mkdir", "stat", "ls",
    "uname", "hostname",
];

/// `puller:s3cret` (bcrypt), for a registry that wants credentials.
pub const HTPASSWD: &str = "puller:$2b$04$13aQV6XxgpjP8eflVbXvjO/VIaXqzQNMqFLDS.GP7/aJz0T/LXEUu\n";

/// Whether the registry tests cannot run here (and say why).
pub fn cannot_run_registry() -> bool {
    let missing: Vec<_> = REGISTRY_TOOLS.iter().filter(|t| !Path::new(t).exists()).collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED: {missing:?} not installed (apt-get install docker-registry umoci skopeo busybox-static)");
    }
    !missing.is_empty()
}

/// Whether the container tests cannot run here (and say why).
pub fn cannot_run_containers() -> bool {
    let missing: Vec<_> = CONTAINER_TOOLS.iter().chain(REGISTRY_TOOLS).filter(|t| !Path::new(t).exists()).collect();
    if !missing.is_empty() {
        eprintln!(
            "SKIPPED: {missing:?} not installed (apt-get install runc iproute2 docker-registry umoci skopeo busybox-static)"
        );
        return true;
    }
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.ok().as_deref() != Some("0") {
        eprintln!("SKIPPED: the container runtime test needs root (network namespaces, mounts, runc)");
        return true;
    }
    false
}

/// Runs a command to success and returns its standard output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A registry on a free loopback port, killed on drop.
pub struct Registry {
    child: Option<Child>,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// A registry; with `htpasswd`, one that wants Basic credentials.
    pub fn start(htpasswd: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("free port").port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some(users) = htpasswd {
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, users).expect("htpasswd");
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", path.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child: Some(child), addr, _dir: dir }
    }

    /// Builds a busybox image (with the applets the tests use) and pushes it as `<repo>:1`
    /// (with `creds`, `user:password`, when the registry wants them); returns its reference.
    pub fn push_busybox(&self, repo: &str, creds: Option<&str>) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dir.path().join("layout");
        let bundle = dir.path().join("bundle");
        let image = format!("{}:1", layout.display());
        run(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
        run(Command::new("umoci").args(["new", "--image", &image]));
        run(Command::new("umoci").args(["unpack", "--rootless", "--image", &image]).arg(&bundle));
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink");
        }
        run(Command::new("umoci").args(["repack", "--image", &image]).arg(&bundle));
        run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/sh"]));
        let mut copy = Command::new("skopeo");
        copy.args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            copy.args(["--dest-creds", c]);
        }
        run(copy.arg(format!("oci:{image}")).arg(format!("docker://{}/{repo}:1", self.addr)));
        format!("{}/{repo}:1", self.addr)
    }
}

impl Registry {
    /// Stops the registry (what a client sees of a registry that went away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes what a container or microvm runtime left under `data_dir` (containers, pod VMs,
/// mounts, network namespaces, cgroups) when a test ends early; a no-op after a clean teardown.
pub struct Leftovers {
    pub data_dir: PathBuf,
    pub host_netns: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let uids: Vec<String> = std::fs::read_dir(self.data_dir.join("pods"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let listed = Command::new("runc").args(["list", "-q"]).output().map(|o| o.stdout).unwrap_or_default();
        for id in String::from_utf8_lossy(&listed).lines() {
            if uids.iter().any(|uid| id.starts_with(&format!("{uid}."))) {
                let _ = Command::new("runc").args(["delete", "--force", id]).status();
            }
        }
        let prefix = self.data_dir.to_string_lossy().into_owned();
        // Pod VMs: QEMU outlives an agent that was killed; its command line names the data dir.
        let _ = Command::new("pkill").args(["-KILL", "-f", &format!("qemu-system-x86_64 .*{prefix}/")]).status();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        for uid in &uids {
            let _ = Command::new("ip").args(["netns", "del", &format!("canopy-{uid}")]).stderr(Stdio::null()).status();
            for root in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
                let dir = root.path().join(format!("canopy/pod{uid}"));
                if dir.exists() {
                    let _ = Command::new("find").arg(&dir).args(["-depth", "-type", "d", "-delete"]).status();
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.host_netns]).stderr(Stdio::null()).status();
    }
}

/// Polls `check` every 100 ms until it gives a value, for at most `timeout`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The static pod VM init `scripts/build-guest` makes (`scripts/test` runs it first).
pub fn guest_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest/canopy-guest");
    assert!(path.is_file(), "{} is missing: run scripts/build-guest (scripts/test does)", path.display());
    path
}
