//! The `container` runtime against real runc, iproute2 and a registry on loopback: an image
//! built offline with `umoci` from `busybox-static`, pushed with `skopeo` to Debian's
//! `docker-registry`, pulled, run in two pods that reach each other over the bridge.
//!
//! Needs root and the Debian packages runc, iproute2, docker-registry, umoci, skopeo and
//! busybox-static; without them the test says so on stderr and returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use canopy_agent::runtime::container::{ContainerConfig, ContainerRuntime};
use canopy_agent::runtime::{ContainerState, PodVolume, Resources, Runtime, Sandbox, VolumeFile, VolumeSource};
use common::{Registry, cannot_run};
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

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
    let registry = Registry::start(None);
    let image = registry.push_busybox("test/busybox", None);
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
    let image_id = rt.pull_image(&server_pod, &server, &[]).await.expect("pull");
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
    rt.pull_image(&client_pod, &probe, &[]).await.expect("pull again");
    let probe_id = rt.start_container(&client_sb, &client_pod, &probe).await.expect("start probe");
    let state = wait_exited(&rt, &probe_id, Duration::from_secs(8)).await;
    let probe_log = std::fs::read_to_string(rt.log_path(&probe_id).expect("log")).unwrap_or_default();
    assert_eq!(exit_code(&state), Some(0), "probe: {state:?}\n{probe_log}");

    // Pod files and volumes: /etc/hosts names the pod, a file volume is read-only, an emptyDir
    // is writable, at a subPath too.
    let volumes = [
        PodVolume {
            name: "cfg".into(),
            source: VolumeSource::Files(vec![VolumeFile {
                path: "k/v".into(),
                data: b"value\n".to_vec(),
                mode: 0o600,
            }]),
        },
        PodVolume {
            name: "scratch".into(),
            source: VolumeSource::EmptyDir { memory: true, size_limit: Some("1Mi".into()) },
        },
    ];
    let mut files_pod = server_pod.clone();
    files_pod.spec = Some(
        serde_json::from_value(serde_json::json!({"containers": [], "volumes": [
            {"name": "cfg", "configMap": {"name": "c"}}, {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        ]}))
        .expect("spec"),
    );
    rt.prepare_volumes(&server_sb, &files_pod, &volumes).await.expect("volumes");
    let script = format!(
        "grep 'server$' /etc/hosts | grep -q '^{server_ip}' && [ \"$(cat /etc/hostname)\" = server ] \
         && grep -q ndots:5 /etc/resolv.conf && [ \"$(cat /cfg/k/v)\" = value ] && ! touch /cfg/x 2>/dev/null \
         && echo hi > /scratch/a && echo sub > /sub/b && [ \"$(cat /scratch/sub/b)\" = sub ]"
    );
    let mut files = container("files", &image, &script);
    files.volume_mounts = Some(
        serde_json::from_value(serde_json::json!([
            {"name": "cfg", "mountPath": "/cfg"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "scratch", "mountPath": "/sub", "subPath": "sub"},
        ]))
        .expect("mounts"),
    );
    let files_id = rt.start_container(&server_sb, &files_pod, &files).await.expect("start files");
    let state = wait_exited(&rt, &files_id, Duration::from_secs(5)).await;
    let files_log = std::fs::read_to_string(rt.log_path(&files_id).expect("log")).unwrap_or_default();
    assert_eq!(exit_code(&state), Some(0), "files: {state:?}\n{files_log}");

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
    let pod_cgroup =
        format!("/sys/fs/cgroup/memory/canopy/pod{}", server_pod.metadata.uid.as_deref().unwrap_or_default());
    assert!(!Path::new(&pod_cgroup).exists(), "{pod_cgroup} is removed with the sandbox");
    let pods: Vec<PathBuf> =
        std::fs::read_dir(data.path().join("pods")).expect("pods").flatten().map(|e| e.path()).collect();
    assert!(pods.is_empty(), "{pods:?}");
}
