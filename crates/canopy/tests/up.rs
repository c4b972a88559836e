//! `canopy up` is the all-in-one: one process runs the control plane and a local container
//! host. Its Node comes up Ready with this machine's capacity, a busybox pod from a real
//! registry runs on it, and kubectl reads the pod's logs through the API server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `canopy up` process; killed on drop, its host's leftovers removed after it.
struct Up {
    child: Child,
    log: PathBuf,
    _leftovers: canopy_testkit::Leftovers,
}

impl Up {
    fn start(dir: &Path, registry: &str) -> Self {
        let data = dir.join("data");
        // Unique per test process: bridges and their namespaces are machine-wide, and
        // tests/hosts.rs uses `cnp...` bridges and the 10.91/10.92 pod networks.
        let bridge = format!("cnu{}", std::process::id() % 100_000);
        let log = dir.join("up.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .arg("up")
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--host-listen", "127.0.0.1:0"])
            .args(["--bridge", &bridge, "--pod-cidr", "10.93.0.0/24", "--insecure-registry", registry])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("canopy up starts");
        let leftovers =
            canopy_testkit::Leftovers { data_dir: data.join("host"), host_netns: format!("canopy-host-{bridge}") };
        Self { child, log, _leftovers: leftovers }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `check`, failing with what `canopy up` printed.
    fn wait_for<T>(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; canopy up printed:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn up_runs_a_local_host_that_runs_pods() {
    if canopy_testkit::cannot_run_containers() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let registry = canopy_testkit::Registry::start(None);
    let image = registry.push_busybox("up/busybox", None);
    let up = Up::start(dir.path(), &registry.addr);
    let kubeconfig = dir.path().join("data/admin.kubeconfig");
    let kubectl = |args: &[&str]| common::kubectl(&kubeconfig, &home, args);

    let ready = r#"jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.capacity.cpu}{"\n"}{end}"#;
    let node = up.wait_for("the local host's Node to be Ready", Duration::from_secs(60), || {
        let (ok, out, _) = kubectl(&["get", "nodes", "-o", ready]);
        let line = out.lines().next().filter(|_| ok)?.to_string();
        line.split(' ').nth(1).is_some_and(|s| s == "True").then_some(line)
    });
    let cpus = std::thread::available_parallelism().expect("cpus").get();
    let capacity = node.rsplit(' ').next().expect("cpu");
    assert!(capacity == format!("{}m", cpus * 1000) || capacity == cpus.to_string(), "this machine's CPUs: {node}");
    let printed = up.output();
    let export = format!("export KUBECONFIG={}", std::path::absolute(&kubeconfig).expect("path").display());
    assert!(printed.contains(&export), "canopy up says where its kubeconfig is:\n{printed}");

    let (ok, out, err) = kubectl(&[
        "run",
        "hello",
        &format!("--image={image}"),
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo hello from up; sleep 3600",
    ]);
    assert!(ok, "{out}{err}");
    up.wait_for("hello to run", Duration::from_secs(120), || {
        let (_, phase, _) = kubectl(&["get", "pod", "hello", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(())
    });
    let logs = up.wait_for("hello's logs", Duration::from_secs(30), || {
        let (ok, out, _) = kubectl(&["logs", "hello"]);
        (ok && out.contains("hello from up")).then_some(out)
    });
    assert_eq!(logs, "hello from up\n");

    let _ = kubectl(&["delete", "pod", "hello", "--grace-period=1", "--timeout=60s"]);
    drop(up);
}
