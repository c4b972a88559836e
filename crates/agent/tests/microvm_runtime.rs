//! The `microvm` runtime end to end under TCG: a busybox image built offline and pushed to a
//! real registry on loopback is pulled, made into a disk, and run in a QEMU microVM booted from
//! Debian's cloud kernel with `canopy-guest` as init. Checks the container's output, a volume,
//! exec (the guest's kernel, with input and on a terminal), the pod's address from the host and
//! from a second pod VM, stop and restart, a QEMU crash, and that deleting the pod stops QEMU
//! and removes its writable disks.
//!
//! Needs root, qemu-system-x86, linux-image-cloud-amd64, the registry tools of the container
//! tests, and the static guest (`scripts/build-guest`, which `scripts/test` runs first).
//! Without QEMU or the kernel it says so on stderr and returns.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use canopy_agent::runtime::container::ContainerConfig;
use canopy_agent::runtime::microvm::{Accel, AccelChoice, MicrovmConfig, MicrovmRuntime, default_kernel};
use canopy_agent::runtime::{ContainerState, ExecRequest, PodVolume, Resources, Runtime, VolumeFile, VolumeSource};
use common::{Registry, cannot_run};
use k8s_openapi::api::core::v1::{Container, Pod, VolumeMount};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut out = Vec::new();
    let _ = r.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn exec(rt: &MicrovmRuntime, id: &str, command: &[&str], tty: bool, input: Option<&str>) -> (i32, String) {
    let request = ExecRequest { command: command.iter().map(|s| s.to_string()).collect(), tty, stdin: input.is_some() };
    let process = rt.exec(id, request).await.expect("exec");
    if let (Some(mut stdin), Some(input)) = (process.stdin, input) {
        stdin.write_all(input.as_bytes()).await.expect("stdin");
        stdin.shutdown().await.expect("close stdin");
    }
    let out = read_all(process.stdout).await;
    (process.exit.await.expect("exit"), out)
}

async fn wait_for_log(rt: &MicrovmRuntime, id: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = rt.log_path(id).map(|p| std::fs::read_to_string(p).unwrap_or_default()).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log of {id}: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn runs_a_pod_in_its_own_vm() {
    if cannot_run() {
        return;
    }
    if which("qemu-system-x86_64").is_none() {
        eprintln!("SKIPPED: qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
        return;
    }
    let Some(kernel) = default_kernel() else {
        eprintln!("SKIPPED: no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)");
        return;
    };
    let registry = Registry::start(None);
    let image = registry.push_busybox("test/busybox", None);
    let data = tempfile::tempdir().expect("data dir");
    let suffix = std::process::id();
    let host_netns = format!("canopy-host-vmtest{suffix}");
    let _netns = NetnsGuard(host_netns.clone());
    let rt = MicrovmRuntime::new(MicrovmConfig {
        base: ContainerConfig {
            data_dir: data.path().to_path_buf(),
            insecure_registries: vec![registry.addr.clone()],
            capacity: Resources { cpu_milli: 2000, memory_bytes: 4 << 30 },
            max_pods: 10,
            bridge: "canopy0".into(),
            pod_cidr: "10.89.0.0/24".into(),
            host_netns: Some(host_netns),
        },
        kernel: kernel.clone(),
        guest: canopy_testkit::guest_binary(),
        // These machines' KVM cannot boot a stock kernel; the probe is the agent's business.
        accel: AccelChoice::Tcg,
    })
    .await
    .expect("runtime");
    assert_eq!(rt.accel(), Accel::Tcg);
    let info = rt.info();
    assert_eq!(info.name, "microvm");
    assert!(info.pod_overhead.memory_bytes > 0, "the VM's overhead is published for the scheduler");

    let mut pod = Pod::default();
    pod.metadata.name = Some("vm".into());
    pod.metadata.namespace = Some("default".into());
    pod.metadata.uid = Some(format!("cccccccc-0000-0000-0000-{suffix:012}"));
    let web = Container {
        name: "web".into(),
        image: Some(image.clone()),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo hello from $(hostname); cat /config/greeting; mkdir -p /www; echo served > /www/index.html; \
             httpd -f -p 8080 -h /www"
                .into(),
        ]),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".into(),
            mount_path: "/config".into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    pod.spec = Some(k8s_openapi::api::core::v1::PodSpec { containers: vec![web.clone()], ..Default::default() });

    let sandbox = rt.create_sandbox(&pod).await.expect("sandbox");
    let ip = sandbox.ip.clone().expect("the pod has an address");
    assert!(ip.starts_with("10.89.0."), "{ip}");
    rt.pull_image(&pod, &web, &[]).await.expect("pull");
    let volume = PodVolume {
        name: "config".into(),
        source: VolumeSource::Files(vec![VolumeFile {
            path: "greeting".into(),
            data: b"hi there\n".to_vec(),
            mode: 0o644,
        }]),
    };
    rt.prepare_volumes(&sandbox, &pod, std::slice::from_ref(&volume)).await.expect("volumes");
    let started = Instant::now();
    let id = rt.start_container(&sandbox, &pod, &web).await.expect("start");
    eprintln!("pod VM booted and container started in {:?} (TCG)", started.elapsed());
    let events = rt.drain_events(pod.metadata.uid.as_deref().expect("uid"));
    assert!(events.iter().any(|e| e.reason == "VMStarted"), "{events:?}");
    assert!(matches!(rt.container_state(&id).await.expect("state"), ContainerState::Running { .. }));
    let log = wait_for_log(&rt, &id, "hi there").await;
    assert!(log.contains("hello from vm"), "{log}");

    // The container runs on the guest's kernel, not the host's.
    let release =
        kernel.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("vmlinuz-")).expect("release");
    let (code, out) = exec(&rt, &id, &["uname", "-r"], false, None).await;
    assert_eq!((code, out.trim()), (0, release));
    let (code, out) = exec(&rt, &id, &["cat"], false, Some("through stdin")).await;
    assert_eq!((code, out.as_str()), (0, "through stdin"));
    let (code, _) = exec(&rt, &id, &["sh", "-c", "exit 3"], false, None).await;
    assert_eq!(code, 3);
    let (code, out) = exec(&rt, &id, &["sh", "-c", "test -t 0 && echo on a terminal"], true, None).await;
    assert_eq!(code, 0);
    assert!(out.contains("on a terminal"), "{out:?}");
    // Containers get their own PID namespace: the container's command (the shell exec'd
    // httpd) is PID 1, not the guest's init.
    let (_, out) = exec(&rt, &id, &["cat", "/proc/1/cmdline"], false, None).await;
    assert!(out.starts_with("httpd\0"), "{out:?}");

    // The host reaches the pod's address on the bridge (what HTTP and TCP probes use).
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let attempt = async {
            let mut stream = rt.dial(&sandbox, 8080).await.ok()?;
            stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await.ok()?;
            Some(read_all(stream).await)
        };
        match attempt.await {
            Some(reply) if reply.contains("served") => break reply,
            other => assert!(Instant::now() < deadline, "no HTTP answer from {ip}:8080: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"), "{reply}");

    // A second pod VM on the host reaches the first one over the bridge.
    let mut client_pod = Pod::default();
    client_pod.metadata.name = Some("client".into());
    client_pod.metadata.namespace = Some("default".into());
    client_pod.metadata.uid = Some(format!("dddddddd-0000-0000-0000-{suffix:012}"));
    let fetch = Container {
        name: "fetch".into(),
        image: Some(image.clone()),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc {ip} 8080; sleep 600"),
        ]),
        ..Container::default()
    };
    client_pod.spec =
        Some(k8s_openapi::api::core::v1::PodSpec { containers: vec![fetch.clone()], ..Default::default() });
    let client_sandbox = rt.create_sandbox(&client_pod).await.expect("client sandbox");
    assert_ne!(client_sandbox.ip, sandbox.ip);
    rt.pull_image(&client_pod, &fetch, &[]).await.expect("pull");
    let fetched = rt.start_container(&client_sandbox, &client_pod, &fetch).await.expect("start the client");
    wait_for_log(&rt, &fetched, "served").await;
    rt.stop_container(&fetched, Duration::from_secs(1)).await.expect("stop the client");
    rt.remove_sandbox(&client_sandbox).await.expect("remove the client pod");

    // Stop (httpd as PID 1 of its namespace ignores SIGTERM: SIGKILL after the grace), then a
    // restart in the same VM.
    rt.stop_container(&id, Duration::from_secs(1)).await.expect("stop");
    assert!(matches!(rt.container_state(&id).await.expect("state"), ContainerState::Exited { .. }));
    let again = rt.start_container(&sandbox, &pod, &web).await.expect("restart");
    assert_ne!(again, id);
    wait_for_log(&rt, &again, "hi there").await;
    rt.remove_container(&id).await.expect("remove the old container");

    // A QEMU crash is a failure of the containers in it; the next start boots the VM again.
    let pod_dir = data.path().join("pods").join(pod.metadata.uid.as_deref().expect("uid"));
    let socket = pod_dir.join("guest.sock").display().to_string();
    let killed = std::process::Command::new("pkill").args(["-KILL", "-f", &socket]).status().expect("pkill");
    assert!(killed.success(), "QEMU of the pod was running");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rt.container_state(&again).await.expect("state") {
            ContainerState::Exited { exit_code, .. } => {
                assert_ne!(exit_code, 0);
                break;
            }
            ContainerState::Running { .. } => assert!(Instant::now() < deadline, "the crash went unnoticed"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let third = rt.start_container(&sandbox, &pod, &web).await.expect("start after the crash");
    wait_for_log(&rt, &third, "hi there").await;
    let events = rt.drain_events(pod.metadata.uid.as_deref().expect("uid"));
    assert!(events.iter().any(|e| e.reason == "VMStarted"), "the VM booted again: {events:?}");

    // Deleting the pod stops the VM and removes its writable layer.
    assert!(pod_dir.join("c0.qcow2").exists());
    rt.stop_container(&third, Duration::from_secs(1)).await.expect("stop");
    rt.remove_sandbox(&sandbox).await.expect("remove sandbox");
    assert!(!pod_dir.exists(), "the pod's disks are removed");
    assert!(rt.container_state(&third).await.is_err(), "the pod is forgotten");
    assert!(
        !std::process::Command::new("pgrep").args(["-f", &socket]).status().expect("pgrep").success(),
        "QEMU is gone"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_default()
}

/// Deletes the test's bridge namespace even when an assertion failed half-way.
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
