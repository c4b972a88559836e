//! The `container` runtime against real runc, iproute2 and a registry on loopback: an image
//! built offline with `umoci` from `busybox-static`, pushed with `skopeo` to Debian's
//! `docker-registry`, pulled, run in two pods that reach each other over the bridge.
//!
//! Needs root and the Debian packages runc, iproute2, docker-registry, umoci, skopeo and
//! busybox-static; without them the test says so on stderr and returns.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canopy_agent::runtime::container::{ContainerConfig, ContainerRuntime};
use canopy_agent::runtime::{ContainerState, Resources, Runtime, Sandbox};
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const TOOLS: &[&str] = &[
    "/usr/sbin/runc",
    "/usr/sbin/ip",
    "/usr/bin/docker-registry",
    "/usr/bin/umoci",
    "/usr/bin/skopeo",
    "/bin/busybox",
];

fn cannot_run() -> bool {
    let missing: Vec<_> = TOOLS.iter().filter(|t| !Path::new(t).exists()).collect();
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

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A registry on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("free port").port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
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
        Self { child, addr, _dir: dir }
    }

    /// Builds a busybox image (with the applets the test uses) and pushes it as `<repo>:1`.
    fn push_busybox(&self, repo: &str) {
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
        for applet in ["sh", "sleep", "ping", "nc", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink");
        }
        run(Command::new("umoci").args(["repack", "--image", &image]).arg(&bundle));
        run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/sh"]));
        run(Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{image}"))
            .arg(format!("docker://{}/{repo}:1", self.addr)));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pod(name: &str, uid: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.into());
    pod.metadata.uid = Some(uid.into());
    pod
}

fn container(name: &str, image: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..Container::default()
    }
}

async fn wait_exited(rt: &ContainerRuntime, id: &str, timeout: Duration) -> ContainerState {
    let deadline = Instant::now() + timeout;
    loop {
        let state = rt.container_state(id).await.expect("state");
        if matches!(state, ContainerState::Exited { .. }) || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn exit_code(state: &ContainerState) -> Option<i32> {
    match state {
        ContainerState::Exited { exit_code, .. } => Some(*exit_code),
        ContainerState::Running { .. } => None,
    }
}

/// Deletes the test's namespaces even when an assertion failed half-way.
struct NetnsGuard(Vec<String>);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        for name in &self.0 {
            if Path::new("/run/netns").join(name).exists() {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    }
}

fn netns_exists(sandbox: &Sandbox) -> bool {
    Path::new("/run/netns").join(&sandbox.id).exists()
}

#[tokio::test]
async fn runs_pods_with_runc_on_a_private_bridge() {
    if cannot_run() {
        return;
    }
    let registry = Registry::start();
    registry.push_busybox("test/busybox");
    let image = format!("{}/test/busybox:1", registry.addr);
    let data = tempfile::tempdir().expect("data dir");
    // Unique per run, so parallel or leftover runs never share a bridge namespace.
    let suffix = std::process::id();
    let rt = ContainerRuntime::new(ContainerConfig {
        data_dir: data.path().to_path_buf(),
        insecure_registries: vec![registry.addr.clone()],
        capacity: Resources { cpu_milli: 2000, memory_bytes: 1 << 30 },
        max_pods: 10,
        bridge: "canopy0".into(),
        pod_cidr: "10.88.0.0/24".into(),
        host_netns: Some(format!("canopy-host-test{suffix}")),
    })
    .expect("runtime");
    let info = rt.info();
    assert_eq!(info.name, "container");
    assert!(info.version.starts_with("runc://1."), "{}", info.version);

    let server_pod = pod("server", &format!("aaaaaaaa-0000-0000-0000-{suffix:012}"));
    let client_pod = pod("client", &format!("bbbbbbbb-0000-0000-0000-{suffix:012}"));
    let _guard = NetnsGuard(
        [&server_pod, &client_pod]
            .iter()
            .map(|p| format!("canopy-{}", p.metadata.uid.as_deref().unwrap_or_default()))
            .chain([format!("canopy-host-test{suffix}")])
            .collect(),
    );
    // Concurrently, as pod workers do: the first sandboxes race to set up the bridge.
    let (server_sb, client_sb) = tokio::join!(rt.create_sandbox(&server_pod), rt.create_sandbox(&client_pod));
    let (server_sb, client_sb) = (server_sb.expect("sandbox"), client_sb.expect("sandbox"));
    let server_ip = server_sb.ip.clone().expect("ip");
    assert!(server_ip.starts_with("10.88.0."), "{server_ip}");
    assert_ne!(server_sb.ip, client_sb.ip);
    assert!(netns_exists(&server_sb));

    let mut server = container("web", &image, "echo hello; echo served | nc -l -p 8080; sleep 30");
    server.resources = Some(ResourceRequirements {
        limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
        ..ResourceRequirements::default()
    });
    let image_id = rt.pull_image(&server_pod, &server).await.expect("pull");
    assert!(image_id.starts_with(&format!("docker-pullable://{}/test/busybox@sha256:", registry.addr)), "{image_id}");
    let web = rt.start_container(&server_sb, &server_pod, &server).await.expect("start");
    assert!(web.starts_with("runc://"), "{web}");
    assert!(matches!(rt.container_state(&web).await.expect("state"), ContainerState::Running { .. }));
    let log = rt.log_path(&web).expect("log path");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("hello") {
        assert!(Instant::now() < deadline, "no hello in {}", log.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cgroup = format!(
        "/sys/fs/cgroup/memory/canopy/pod{}/web-0/memory.limit_in_bytes",
        server_pod.metadata.uid.as_deref().unwrap_or_default()
    );
    if let Ok(limit) = std::fs::read_to_string(&cgroup) {
        assert_eq!(limit.trim(), (64 << 20).to_string());
    } else {
        eprintln!("no cgroup v1 memory controller at {cgroup}; memory limit not checked");
    }

    // The client pod reaches the server pod over the bridge: ping, then a TCP exchange.
    let probe = container(
        "probe",
        &image,
        &format!("ping -c1 -W2 {server_ip} && nc -w 2 {server_ip} 8080 </dev/null | grep served"),
    );
    rt.pull_image(&client_pod, &probe).await.expect("pull again");
    let probe_id = rt.start_container(&client_sb, &client_pod, &probe).await.expect("start probe");
    let state = wait_exited(&rt, &probe_id, Duration::from_secs(8)).await;
    let probe_log = std::fs::read_to_string(rt.log_path(&probe_id).expect("log")).unwrap_or_default();
    assert_eq!(exit_code(&state), Some(0), "probe: {state:?}\n{probe_log}");

    // Exit codes come through.
    let three =
        rt.start_container(&client_sb, &client_pod, &container("three", &image, "exit 3")).await.expect("start");
    let state = wait_exited(&rt, &three, Duration::from_secs(5)).await;
    assert_eq!(exit_code(&state), Some(3), "{state:?}");
    assert!(matches!(&state, ContainerState::Exited { reason, .. } if reason == "Error"));

    // A stop within the grace period ends with SIGTERM (sh as pid 1 ignores it, so SIGKILL).
    let started = Instant::now();
    rt.stop_container(&web, Duration::from_secs(1)).await.expect("stop");
    assert!(started.elapsed() < Duration::from_secs(4));
    let state = rt.container_state(&web).await.expect("state");
    assert!(exit_code(&state).is_some_and(|c| c != 0), "{state:?}");

    rt.remove_container(&web).await.expect("remove");
    assert!(matches!(rt.container_state(&web).await, Err(canopy_agent::runtime::RuntimeError::NotFound(_))));
    assert!(rt.log_path(&web).is_none());
    for sandbox in [&server_sb, &client_sb] {
        rt.remove_sandbox(sandbox).await.expect("remove sandbox");
        assert!(!netns_exists(sandbox), "{} is gone", sandbox.id);
    }
    let pods: Vec<PathBuf> =
        std::fs::read_dir(data.path().join("pods")).expect("pods").flatten().map(|e| e.path()).collect();
    assert!(pods.is_empty(), "{pods:?}");
}
