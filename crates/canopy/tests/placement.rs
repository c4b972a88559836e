//! Placement end to end: the scheduler places pods on simulated hosts (respecting zones,
//! selectors and capacity), unschedulable pods say why, `kubectl rollout status` completes, and
//! when a group of hosts is lost their Deployment pods come back Running on the others.

mod common;

use std::time::Duration;

use canopy_agent::sim::{Sim, SimOptions};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

fn running_pods(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

fn node_of(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_are_placed_and_survive_a_host_loss() {
    let p = common::platform().await;
    let client = p.admin.clone();
    let controllers = canopy_controllers::replicaset::start(client.clone(), Default::default());
    let deployments = canopy_controllers::deployment::start(client.clone());
    let lifecycle = canopy_controllers::node_lifecycle::start(
        client.clone(),
        canopy_controllers::node_lifecycle::Config { grace: Duration::from_secs(2), ..Default::default() },
    );
    let scheduler = tokio::spawn(canopy_scheduler::driver::run(client.clone()));
    // Two groups of hosts in separate simulations: stopping one loses its hosts.
    let small = canopy_agent::runtime::sim::SimConfig {
        capacity: canopy_agent::runtime::Resources { cpu_milli: 2000, memory_bytes: 4 << 30 },
        ..Default::default()
    };
    let opts = |prefix: &str| SimOptions {
        hosts: 3,
        zones: 3,
        name_prefix: prefix.into(),
        host: small.clone(),
        lease_seconds: 2,
    };
    let keep = Sim::start(client.clone(), &opts("keep-")).await.expect("hosts");
    let lose = Sim::start(client.clone(), &opts("lose-")).await.expect("hosts");

    let deployment = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
      "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
          "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}],
          "containers": [{"name": "web", "image": "registry.local/web:1", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}}}}"#;
    let (kcfg, home) = (p.server.kubeconfig.clone(), p.home.clone());
    let kubectl = move |args: Vec<&'static str>, stdin: Option<&'static str>| {
        let (kcfg, home) = (kcfg.clone(), home.clone());
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = std::process::Command::new("kubectl")
                .env("HOME", &home)
                .env("KUBECONFIG", &kcfg)
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kubectl");
            let mut pipe = child.stdin.take().expect("stdin");
            if let Some(s) = stdin {
                pipe.write_all(s.as_bytes()).expect("stdin");
            }
            drop(pipe);
            let out = child.wait_with_output().expect("kubectl");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        })
    };
    let (ok, out) = kubectl(vec!["apply", "-f", "-"], Some(deployment)).await.expect("join");
    assert!(ok, "{out}");
    let (ok, out) = kubectl(vec!["rollout", "status", "deployment/web", "--timeout=60s"], None).await.expect("join");
    assert!(ok && out.contains("successfully rolled out"), "{out}");

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods.list(&ListParams::default().labels("app=web")).await.expect("list").items;
    let running = running_pods(&list);
    assert_eq!(running.len(), 6);
    // Spread over the three zones: two pods in each (maxSkew 1).
    let mut per_zone = std::collections::BTreeMap::<char, usize>::new();
    for pod in &running {
        // Hosts are named <group>-00<i> and host i is in zone-(i % 3).
        let zone = node_of(pod).chars().last().expect("host name");
        *per_zone.entry(zone).or_default() += 1;
    }
    assert_eq!(per_zone.values().copied().collect::<Vec<_>>(), [2, 2, 2], "{per_zone:?}");

    // A pod no host can take stays Pending with upstream's explanation.
    let huge = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
      "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "64"}}}]}}"#;
    let (ok, out) = kubectl(vec!["apply", "-f", "-"], Some(huge)).await.expect("join");
    assert!(ok, "{out}");
    common::eventually("huge reported unschedulable", || async {
        let pod = pods.get("huge").await.expect("huge");
        pod.status.and_then(|s| s.conditions).unwrap_or_default().iter().any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref().is_some_and(|m| m.starts_with("0/6 nodes are available: 6 Insufficient cpu"))
        })
    })
    .await;

    // Lose half the hosts: after the grace, their pods are replaced on the others.
    let lost: Vec<String> = lose.hosts.iter().map(|h| h.name().to_string()).collect();
    let on_lost = running.iter().filter(|p| lost.iter().any(|l| l == node_of(p))).count();
    assert!(on_lost > 0, "the spread put pods on both groups");
    lose.stop();
    for _ in 0..300 {
        let list = pods.list(&ListParams::default().labels("app=web")).await.expect("list").items;
        let healthy = running_pods(&list).into_iter().filter(|p| node_of(p).starts_with("keep-")).count();
        if healthy == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = pods.list(&ListParams::default().labels("app=web")).await.expect("list").items;
    let healthy = running_pods(&list).into_iter().filter(|p| node_of(p).starts_with("keep-")).count();
    assert_eq!(healthy, 6, "all replicas Running on surviving hosts");
    let failed =
        list.iter().filter(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("NodeLost")).count();
    assert_eq!(failed, on_lost, "the lost hosts' pods are marked failed");

    keep.stop();
    scheduler.abort();
    for c in [controllers, deployments, lifecycle] {
        c.shutdown().await.expect("controller stops");
    }
    p.stop().await;
}
