//! Simulated hosts against a real API server: they register Nodes and Leases, run the pods
//! bound to them to Running (or to Succeeded/Failed per restartPolicy), and finish graceful
//! deletions.

mod common;

use std::time::Duration;

use common::server;

use canopy_agent::sim::{Sim, SimOptions};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

fn pod(name: &str, node: &str, command: Option<&[&str]>, policy: &str) -> Pod {
    let mut c = serde_json::json!({"name": "app", "image": "busybox"});
    if let Some(cmd) = command {
        c["command"] = serde_json::json!(cmd);
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "restartPolicy": policy, "containers": [c]},
    }))
    .expect("pod")
}

async fn phase(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name).await.ok()?.status?.phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulated_hosts_run_their_pods() {
    let (_dir, _server, client) = server().await;
    let opts = SimOptions { hosts: 2, zones: 2, name_prefix: "h-".into(), ..Default::default() };
    let sim = Sim::start(client.clone(), &opts).await.expect("sim starts");

    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get("h-001").await.expect("host registered");
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("topology.kubernetes.io/zone").map(String::as_str), Some("zone-1"));
    let status = node.status.expect("status");
    assert_eq!(status.capacity.expect("capacity")["pods"].0, "110");
    assert!(status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    common::wait_for("the lease", Duration::from_secs(10), async || leases.get("h-000").await.ok()).await;

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("web", "h-000", None, "Always")).await.expect("create");
    let running = common::wait_for("web Running", Duration::from_secs(10), async || {
        let p = pods.get("web").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    let status = running.status.expect("status");
    assert!(status.pod_ip.as_deref().is_some_and(|ip| ip.starts_with("10.0.0.")), "{:?}", status.pod_ip);
    assert_eq!(status.host_ip.as_deref(), Some("198.18.0.0"));
    let cs = &status.container_statuses.expect("container statuses")[0];
    assert!(cs.ready && cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some(), "{cs:?}");
    assert!(status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Ready" && c.status == "True"));

    // Containers that exit: restartPolicy decides the phase.
    pods.create(&PostParams::default(), &pod("ok", "h-001", Some(&["exit", "0"]), "Never")).await.expect("create");
    pods.create(&PostParams::default(), &pod("bad", "h-001", Some(&["exit", "3"]), "Never")).await.expect("create");
    common::wait_for("ok Succeeded", Duration::from_secs(10), async || {
        (phase(&pods, "ok").await.as_deref() == Some("Succeeded")).then_some(())
    })
    .await;
    common::wait_for("bad Failed", Duration::from_secs(10), async || {
        (phase(&pods, "bad").await.as_deref() == Some("Failed")).then_some(())
    })
    .await;
    let bad = pods.get("bad").await.expect("bad");
    let terminated = bad.status.and_then(|s| s.container_statuses).expect("statuses")[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(terminated.exit_code, 3);

    // A graceful delete: the host stops the pod, then the pod is gone.
    pods.delete("web", &DeleteParams::default()).await.expect("delete");
    common::wait_for("web gone", Duration::from_secs(10), async || pods.get("web").await.is_err().then_some(())).await;
    // A pod bound to a host nobody runs stays Pending.
    pods.create(&PostParams::default(), &pod("lost", "elsewhere", None, "Always")).await.expect("create");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase(&pods, "lost").await.as_deref(), Some("Pending"));
    sim.stop();
}
