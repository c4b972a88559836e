//! A VM-isolated pod end to end: a `canopy agent --runtime microvm` process (TCG: these
//! machines' KVM cannot boot a stock kernel) runs a two-container pod from a real registry in
//! one QEMU microVM. kubectl sees it become Ready through an HTTP readiness probe, reads logs,
//! runs commands that see the guest's kernel, reads a restarted container's previous logs and
//! the VM's events, and deleting the pod stops QEMU and removes its writable disks.
//!
//! Needs root, qemu-system-x86, qemu-utils, linux-image-cloud-amd64, the registry tools and the
//! static guest (`scripts/build-guest`); without QEMU or the kernel it says so and returns.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use canopy_agent::runtime::microvm::default_kernel;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

const POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vm"},
  "spec": {"terminationGracePeriodSeconds": 2, "containers": [
    {"name": "web", "image": "IMAGE",
     "command": ["sh", "-c", "echo started; mkdir -p /www; echo ok > /www/index.html; httpd -p 8080 -h /www; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"],
     "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
    {"name": "crash", "image": "IMAGE", "command": ["sh", "-c", "echo run; sleep 1; exit 1"]}]}}"#;

fn cannot_run_vms() -> bool {
    if canopy_testkit::cannot_run_containers() {
        return true;
    }
    let qemu = Command::new("qemu-system-x86_64").arg("--version").stdout(Stdio::null()).status();
    if !qemu.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: qemu-system-x86_64 not installed (apt-get install qemu-system-x86 qemu-utils)");
        return true;
    }
    if default_kernel().is_none() {
        eprintln!("SKIPPED: no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pod_runs_in_its_own_vm_through_kubectl() {
    if cannot_run_vms() {
        return;
    }
    let p = common::platform().await;
    let client = p.admin.clone();
    let scheduler = tokio::spawn(canopy_scheduler::driver::run(client.clone()));
    let registry = canopy_testkit::Registry::start(None);
    let image = registry.push_busybox("e2e/vm", None);
    let dir = p.dir.path().to_path_buf();
    let data = dir.join("vm-host");
    std::fs::create_dir_all(&data).expect("data dir");
    let bridge = format!("cvm{}", std::process::id() % 100_000);
    let _leftovers = canopy_testkit::Leftovers { data_dir: data.clone(), host_netns: format!("canopy-host-{bridge}") };
    let log = std::fs::File::create(dir.join("vm-host.log")).expect("log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(["agent", "--runtime", "microvm", "--accel", "tcg", "--name", "vm-host"])
        .arg("--kubeconfig")
        .arg(&p.server.kubeconfig)
        .arg("--data-dir")
        .arg(&data)
        .arg("--guest-binary")
        .arg(canopy_testkit::guest_binary())
        .args(["--address", "127.0.0.1", "--listen", "127.0.0.1:0", "--insecure-registry", &registry.addr])
        .args(["--pod-cidr", "10.97.0.0/24", "--bridge", &bridge, "--cpus", "2", "--memory-gib", "4"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("canopy agent starts");
    let kubectl = |args: &[&str]| common::kubectl(&p.server.kubeconfig, &p.home, args);
    let ok = |args: &[&str]| {
        let (success, out, err) = kubectl(args);
        assert!(success, "kubectl {args:?}: {out}{err}");
        out
    };

    let nodes: Api<Node> = Api::all(client.clone());
    let node = canopy_testkit::wait_for("the VM host to register", Duration::from_secs(60), async || {
        nodes.get("vm-host").await.ok()
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("canopy.io/runtime").map(String::as_str), Some("microvm"));
    let runtime_version =
        node.status.and_then(|s| s.node_info).map(|i| i.container_runtime_version).unwrap_or_default();
    assert!(runtime_version.ends_with("+tcg"), "the accelerator is on the Node: {runtime_version}");

    canopy_testkit::wait_for("a warning that pods are emulated", Duration::from_secs(30), async || {
        let (_, events, _) = kubectl(&["get", "events", "-n", "default"]);
        (events.contains("SoftwareEmulation") && events.contains("node/vm-host")).then_some(())
    })
    .await;

    let manifest = p.dir.path().join("vm.json");
    std::fs::write(&manifest, POD.replace("IMAGE", &image)).expect("manifest");
    ok(&["apply", "-f", manifest.to_str().expect("path")]);
    ok(&["wait", "--for=condition=Ready", "pod/vm", "--timeout=180s"]);

    let release = default_kernel().and_then(|k| k.file_name()?.to_str()?.strip_prefix("vmlinuz-").map(str::to_string));
    let uname = ok(&["exec", "vm", "-c", "web", "--", "uname", "-r"]);
    assert_eq!(Some(uname.trim().to_string()), release, "the pod runs on the guest kernel");
    let logs = canopy_testkit::wait_for("web logs", Duration::from_secs(30), async || {
        let out = ok(&["logs", "vm", "-c", "web"]);
        out.contains("tick 1").then_some(out)
    })
    .await;
    assert!(logs.starts_with("started\n"), "{logs}");
    let (success, out, err) = kubectl(&["exec", "vm", "-c", "web", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    assert!(!success && err.contains("oops"), "{out}{err}");

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    canopy_testkit::wait_for("crash to restart", Duration::from_secs(90), async || {
        let pod = pods.get("vm").await.ok()?;
        let statuses = pod.status?.container_statuses?;
        (statuses.iter().find(|s| s.name == "crash")?.restart_count >= 1).then_some(())
    })
    .await;
    let previous = ok(&["logs", "vm", "-c", "crash", "--previous"]);
    assert_eq!(previous, "run\n");
    let described = ok(&["describe", "pod", "vm"]);
    assert!(described.contains("VMStarted") && described.contains("Booted the pod VM"), "{described}");

    let uid = pods.get("vm").await.expect("pod").metadata.uid.expect("uid");
    let pod_dir = data.join("pods").join(&uid);
    assert!(pod_dir.join("c0.qcow2").exists() && pod_dir.join("c1.qcow2").exists(), "a writable layer per container");
    ok(&["delete", "pod", "vm", "--timeout=60s"]);
    canopy_testkit::wait_for("the VM to go", Duration::from_secs(30), async || (!pod_dir.exists()).then_some(())).await;
    let qemu = Command::new("pgrep").args(["-f", &uid]).status().expect("pgrep");
    assert!(!qemu.success(), "QEMU of the deleted pod is gone");

    let _ = agent.kill();
    let _ = agent.wait();
    scheduler.abort();
}
