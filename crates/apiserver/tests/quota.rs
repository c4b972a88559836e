//! ResourceQuota admission: race-free under concurrent creates, freed by deletes.

mod common;

use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
    }))
    .expect("pod")
}

async fn used(quotas: &Api<ResourceQuota>, name: &str, resource: &str) -> Option<String> {
    let q = quotas.get(name).await.ok()?;
    q.status?.used?.get(resource).map(|v| v.0.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_exceed_the_quota() {
    let t = common::start().await;
    let client = t.client().await;
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "quota-test"}})).expect("ns");
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "quota-test");
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "small"},
        "spec": {"hard": {"pods": "10", "requests.cpu": "2"}},
    }))
    .expect("quota");
    quotas.create(&PostParams::default(), &quota).await.expect("quota");
    for _ in 0..100 {
        if used(&quotas, "small", "pods").await.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(used(&quotas, "small", "pods").await.as_deref(), Some("0"), "the controller reports usage");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "quota-test");
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let pods = pods.clone();
            tokio::spawn(async move { pods.create(&PostParams::default(), &pod(&format!("p{i}"))).await })
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for a in attempts {
        match a.await.expect("join") {
            Ok(_) => created += 1,
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("exceeded quota: small") => refused += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((created, refused), (10, 40));
    assert_eq!(pods.list(&ListParams::default()).await.expect("list").items.len(), 10);
    assert_eq!(used(&quotas, "small", "pods").await.as_deref(), Some("10"));
    assert_eq!(used(&quotas, "small", "requests.cpu").await.as_deref(), Some("1"));

    // Deleting frees quota once the controller recounts.
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    for n in names.iter().take(3) {
        pods.delete(n, &DeleteParams::default()).await.expect("delete");
    }
    for _ in 0..100 {
        if used(&quotas, "small", "pods").await.as_deref() == Some("7") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(used(&quotas, "small", "pods").await.as_deref(), Some("7"));
    for i in 0..3 {
        pods.create(&PostParams::default(), &pod(&format!("again{i}"))).await.expect("room again");
    }
    let err = pods.create(&PostParams::default(), &pod("one-too-many")).await.expect_err("full again");
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 403 && s.message.contains("requested: pods=1, used: pods=10, limited: pods=10"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limit_ranges_default_and_bound_containers() {
    use k8s_openapi::api::core::v1::LimitRange;
    let t = common::start().await;
    let client = t.client().await;
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), "default");
    let range: LimitRange = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "2"}}]},
    }))
    .expect("limitrange");
    ranges.create(&PostParams::default(), &range).await.expect("create range");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let bare: Pod = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .expect("pod");
    let created = pods.create(&PostParams::default(), &bare).await.expect("create");
    let res = created.spec.expect("spec").containers[0].resources.clone().expect("defaults applied");
    assert_eq!(res.limits.expect("limits")["cpu"].0, "500m");
    assert_eq!(res.requests.expect("requests")["cpu"].0, "100m");
    assert_eq!(created.status.and_then(|s| s.qos_class).as_deref(), Some("Burstable"));
    let big: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "big"}, "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "4"}}}]}})).expect("pod");
    let err = pods.create(&PostParams::default(), &big).await.expect_err("over the max");
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 403 && s.message.contains("maximum cpu usage per Container is 2, but limit is 4"))
    );
}

async fn wait_for_usage(quotas: &Api<ResourceQuota>, name: &str, resource: &str) {
    for _ in 0..100 {
        if used(quotas, name, resource).await.is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("quota {name} never reported {resource}");
}

fn forbidden(result: Result<impl std::fmt::Debug, kube::Error>, needle: &str) {
    match result {
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains(needle) => {}
        other => panic!("expected 403 with {needle:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storage_is_charged_on_create_and_on_growth() {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    let t = common::start().await;
    let client = t.client().await;
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "storage"}})).expect("ns");
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "storage");
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "disk"},
        "spec": {"hard": {"requests.storage": "10Gi", "gold.storageclass.storage.k8s.io/requests.storage": "4Gi"}},
    }))
    .expect("quota");
    quotas.create(&PostParams::default(), &quota).await.expect("quota");
    wait_for_usage(&quotas, "disk", "requests.storage").await;

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "storage");
    let pvc = |name: &str, class: &str, size: &str| -> PersistentVolumeClaim {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        }))
        .expect("pvc")
    };
    pvcs.create(&PostParams::default(), &pvc("a", "gold", "3Gi")).await.expect("3Gi of gold fits");
    forbidden(
        pvcs.create(&PostParams::default(), &pvc("b", "gold", "2Gi")).await,
        "exceeded quota: disk, requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi",
    );
    pvcs.create(&PostParams::default(), &pvc("c", "silver", "6Gi")).await.expect("6Gi of silver fits");
    assert_eq!(used(&quotas, "disk", "requests.storage").await.as_deref(), Some("9Gi"));

    // Growing a claim is charged like a create; shrinking never is refused.
    let grow = serde_json::json!({"spec": {"resources": {"requests": {"storage": "8Gi"}}}});
    forbidden(
        pvcs.patch("c", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&grow)).await,
        "exceeded quota: disk, requested: requests.storage=2Gi, used: requests.storage=9Gi, limited: requests.storage=10Gi",
    );
    let current = pvcs.get("c").await.expect("c");
    assert_eq!(current.spec.and_then(|s| s.resources).and_then(|r| r.requests).expect("requests")["storage"].0, "6Gi");
    let fits = serde_json::json!({"spec": {"resources": {"requests": {"storage": "7Gi"}}}});
    pvcs.patch("c", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&fits)).await.expect("1Gi more fits");
    assert_eq!(used(&quotas, "disk", "requests.storage").await.as_deref(), Some("10Gi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracked_compute_resources_must_be_specified() {
    let t = common::start().await;
    let client = t.client().await;
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "limits"}})).expect("ns");
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("namespace");
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "limits");
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "compute"},
        "spec": {"hard": {"limits.cpu": "4", "limits.memory": "4Gi"}},
    }))
    .expect("quota");
    quotas.create(&PostParams::default(), &quota).await.expect("quota");
    wait_for_usage(&quotas, "compute", "limits.cpu").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "limits");
    // pod() sets requests only.
    forbidden(
        pods.create(&PostParams::default(), &pod("no-limits")).await,
        "failed quota: compute: must specify limits.cpu for: c; limits.memory for: c",
    );
    let mut with_limits = pod("with-limits");
    let resources = with_limits.spec.as_mut().expect("spec").containers[0].resources.as_mut().expect("resources");
    resources.limits = Some(serde_json::from_value(serde_json::json!({"cpu": "1", "memory": "1Gi"})).expect("limits"));
    pods.create(&PostParams::default(), &with_limits).await.expect("a pod with limits is admitted");
    assert_eq!(used(&quotas, "compute", "limits.cpu").await.as_deref(), Some("1"));
}
