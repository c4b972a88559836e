//! The node lifecycle controller against a real API server, with the test playing the host
//! agents (Nodes and Leases in `kube-node-lease`): a host that stops renewing is marked
//! NotReady and tainted, its pods Failed, and its Deployment's pods are replaced; renewing again
//! lifts the taints. A healthy host is left alone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canopy_controllers::node_lifecycle::{self, LEASE_NAMESPACE};
use common::eventually;
use common::workloads::{self, NS, Options, Workloads};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// Plays a host agent: registers the Node (Ready) and renews its Lease every 200 ms while
/// `alive` is set.
async fn host(env: &Workloads, name: &str) -> Arc<AtomicBool> {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    }))
    .expect("node");
    let nodes: Api<Node> = Api::all(env.client.clone());
    nodes.create(&PostParams::default(), &node).await.expect("node created");
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    nodes.patch_status(name, &PatchParams::default(), &Patch::Merge(&ready)).await.expect("node ready");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 1, "renewTime": now()},
    }))
    .expect("lease");
    leases.create(&PostParams::default(), &lease).await.expect("lease created");
    let alive = Arc::new(AtomicBool::new(true));
    let (flag, name) = (alive.clone(), name.to_string());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if flag.load(Ordering::Relaxed) {
                let patch = json!({"spec": {"renewTime": now()}});
                let _ = leases.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
            }
        }
    });
    alive
}

fn now() -> String {
    // MicroTime: microsecond precision, as agents write it.
    k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Microsecond).expect("round").to_string()
}

fn taint_effects(node: &Node) -> Vec<String> {
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    taints.into_iter().filter(|t| t.key == "node.kubernetes.io/unreachable").map(|t| t.effect).collect()
}

/// Binds the pod to `node` (the pods/binding subresource when the server has it, else a patch
/// of `spec.nodeName`: there is no scheduler in these tests).
async fn bind(pods: &Api<Pod>, pod: &str, node: &str) {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}, "target": {"kind": "Node", "name": node}});
    let bound: Result<serde_json::Value, _> =
        pods.create_subresource("binding", pod, &PostParams::default(), &binding).await;
    if bound.is_err() {
        let patch = json!({"spec": {"nodeName": node}});
        pods.patch(pod, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("bound by patch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_host_is_tainted_and_its_pods_replaced() {
    let config = node_lifecycle::Config {
        grace: Duration::from_millis(1500),
        monitor_period: Duration::from_millis(200),
        ..Default::default()
    };
    let env = workloads::start(Options { deployment: true, nodes: Some(config), ..Default::default() }).await;
    let doomed = host(&env, "host-a").await;
    let _healthy = host(&env, "host-b").await;

    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "ha"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ha"}},
            "template": {"metadata": {"labels": {"app": "ha"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}},
    }))
    .expect("deployment");
    env.api::<Deployment>().create(&PostParams::default(), &d).await.expect("deployment created");
    let pods = eventually("2 pods", || async {
        let p = env.active_pods("app=ha").await;
        (p.len() == 2).then_some(p)
    })
    .await;
    for p in &pods {
        bind(&env.pods(), &p.name_any(), "host-a").await;
        workloads::set_ready(&env.pods(), &p.name_any()).await.expect("ready");
    }
    let originals: Vec<String> = pods.iter().map(|p| p.name_any()).collect();

    // host-a's agent goes silent.
    doomed.store(false, Ordering::Relaxed);
    let nodes: Api<Node> = Api::all(env.client.clone());
    let node = eventually("host-a NotReady and tainted", || async {
        let n = nodes.get("host-a").await.ok()?;
        let ready = n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?.clone();
        (ready.status == "Unknown" && taint_effects(&n).len() == 2).then_some((n, ready))
    })
    .await;
    assert_eq!(node.1.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(node.1.message.as_deref(), Some("Kubelet stopped posting node status."));
    let mut effects = taint_effects(&node.0);
    effects.sort();
    assert_eq!(effects, ["NoExecute", "NoSchedule"]);

    for name in &originals {
        let p = eventually("the pod marked Failed", || async {
            let p = env.pods().get(name).await.ok()?;
            (canopy_controllers::pods::phase(&p) == "Failed").then_some(p)
        })
        .await;
        let status = p.status.clone().unwrap_or_default();
        assert_eq!(status.reason.as_deref(), Some("NodeLost"));
        assert!(status.message.unwrap_or_default().contains("host-a"));
        assert!(!canopy_controllers::pods::is_ready(&p));
    }
    // The Deployment's ReplicaSet replaces them (unbound: no scheduler here).
    eventually("2 replacement pods", || async {
        let p = env.active_pods("app=ha").await;
        (p.len() == 2 && p.iter().all(|p| !originals.contains(&p.name_any()))).then_some(())
    })
    .await;
    eventually("a NodeNotReady event", || async {
        let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
        let list = events.list(&ListParams::default().fields("reason=NodeNotReady")).await.ok()?;
        list.items.iter().any(|e| e.involved_object.name.as_deref() == Some("host-a")).then_some(())
    })
    .await;
    let b = nodes.get("host-b").await.expect("host-b");
    assert!(taint_effects(&b).is_empty(), "the healthy host is untouched");

    // Back: the taints go.
    doomed.store(true, Ordering::Relaxed);
    eventually("host-a untainted", || async {
        let n = nodes.get("host-a").await.ok()?;
        taint_effects(&n).is_empty().then_some(())
    })
    .await;
    env.shutdown().await;
}

/// Hosts lost together are swept together: every pod on them fails, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_lost_together_fail_only_their_pods() {
    let config = node_lifecycle::Config {
        grace: Duration::from_millis(1500),
        monitor_period: Duration::from_millis(500),
        ..Default::default()
    };
    let env = workloads::start(Options { nodes: Some(config), ..Default::default() }).await;
    let (a, _b, c) = (host(&env, "host-a").await, host(&env, "host-b").await, host(&env, "host-c").await);
    let placement = [("on-a-1", "host-a"), ("on-a-2", "host-a"), ("on-b", "host-b"), ("on-c", "host-c")];
    for (pod, node) in placement {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": pod},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
        }))
        .expect("pod");
        env.pods().create(&PostParams::default(), &p).await.expect("pod created");
        bind(&env.pods(), pod, node).await;
        workloads::set_ready(&env.pods(), pod).await.expect("ready");
    }

    a.store(false, Ordering::Relaxed);
    c.store(false, Ordering::Relaxed);
    for pod in ["on-a-1", "on-a-2", "on-c"] {
        eventually("the pod of a lost host marked Failed", || async {
            let p = env.pods().get(pod).await.ok()?;
            (canopy_controllers::pods::phase(&p) == "Failed").then_some(())
        })
        .await;
    }
    let on_b = env.pods().get("on-b").await.expect("on-b");
    assert_ne!(canopy_controllers::pods::phase(&on_b), "Failed", "the healthy host's pod is untouched");
    assert!(canopy_controllers::pods::is_ready(&on_b));
    env.shutdown().await;
}
