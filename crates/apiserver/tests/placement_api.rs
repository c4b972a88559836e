//! The API the scheduler and host maintenance use: `pods/binding` places a pod once, and
//! `kubectl cordon`/`drain` mark a host unschedulable and evict its pods (`pods/eviction`).

mod common;

use k8s_openapi::api::core::v1::{Binding, Pod};
use kube::api::{Api, PostParams};

fn binding(pod: &str, node: &str) -> Binding {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }))
    .expect("binding")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pod_is_bound_once() {
    let t = common::start().await;
    t.ok(&["run", "web", "--image=busybox", "--restart=Never"]);
    let pods: Api<Pod> = Api::default_namespaced(t.client().await);
    let bound: kube::core::Status = pods
        .create_subresource("binding", "web", &PostParams::default(), &binding("web", "host-1"))
        .await
        .expect("the first binding wins");
    assert_eq!(bound.code, 201);
    let pod = pods.get("web").await.expect("pod");
    assert_eq!(pod.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some("host-1"));
    let scheduled = pod.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(scheduled.iter().any(|c| c.type_ == "PodScheduled" && c.status == "True"), "{scheduled:?}");
    // A second scheduler loses: 409, and the pod stays where it is.
    let second = pods
        .create_subresource::<_, kube::core::Status>(
            "binding",
            "web",
            &PostParams::default(),
            &binding("web", "host-2"),
        )
        .await;
    match second {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(s.message.contains("already assigned to node \"host-1\""), "{}", s.message);
        }
        other => panic!("expected 409, got {other:?}"),
    }
    let bad = pods
        .create_subresource::<_, kube::core::Status>(
            "binding",
            "missing",
            &PostParams::default(),
            &binding("missing", "host-1"),
        )
        .await;
    assert!(matches!(bad, Err(kube::Error::Api(s)) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_cordons_and_evicts() {
    let t = common::start().await;
    let node = r#"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "host-1"}}"#;
    t.ok_in(&["create", "-f", "-"], node);
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"},
        "spec": {"nodeName": "host-1", "containers": [{"name": "c", "image": "busybox"}]}}"#;
    t.ok_in(&["create", "-f", "-"], pod);
    let out = t.ok(&["drain", "host-1", "--force", "--grace-period=0", "--timeout=20s"]);
    assert!(out.contains("evicted") && out.contains("drained"), "{out}");
    assert_eq!(t.ok(&["get", "node", "host-1", "-o", "jsonpath={.spec.unschedulable}"]), "true");
    assert!(t.fails(&["get", "pod", "app"]).contains("NotFound"));
    t.ok(&["uncordon", "host-1"]);
    assert_eq!(t.ok(&["get", "node", "host-1", "-o", "jsonpath={.spec.unschedulable}"]), "");
}
