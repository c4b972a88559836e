//! The namespace-config controller against a real API server: realisation, updates, stats,
//! enforced permissions, deletion through garbage collection, pre-existing namespaces, and
//! invalid specs.

mod common;

use std::collections::BTreeMap;

use canopy_controllers::namespace_config::{ConfigStatus, NamespaceConfig, Severity};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const MANAGED: &str = "tenancy.canopy.io/managed-by=namespace-config";

fn running(c: &NamespaceConfig) -> bool {
    c.status.as_ref().and_then(|s| s.config_status) == Some(ConfigStatus::Running)
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}}}]},
    }))
    .expect("pod")
}

async fn hard_keys(quotas: &Api<ResourceQuota>) -> Option<Vec<String>> {
    let q = quotas.get_opt("canopy-quota").await.ok()??;
    Some(q.spec?.hard?.into_keys().collect())
}

async fn bindings(api: &Api<RoleBinding>) -> BTreeMap<String, (String, Vec<String>)> {
    let list = api.list(&ListParams::default().labels(MANAGED)).await.expect("list bindings");
    list.items
        .into_iter()
        .map(|rb| {
            let subjects = rb.subjects.iter().flatten().map(|s| format!("{}:{}", s.kind, s.name)).collect();
            (rb.name_any(), (rb.role_ref.name, subjects))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_config_is_realised_and_follows_updates() {
    let env = common::start().await;
    let config = env
        .create_config(json!({
            "metadata": {"name": "team-a"},
            "spec": {
                "description": "Team A",
                "resourceSpec": {
                    "cpuLimit": 4, "memoryLimit": "8Gi",
                    "cpuRequestDefault": "100m", "cpuLimitDefault": "500m",
                    "memoryRequestDefault": "64Mi", "memoryLimitDefault": "256Mi",
                    "podCount": 3, "secretCount": 10, "virtualMachineCount": 2,
                },
                "storageSpecs": [{"policy": "vSAN Default", "limit": "100Gi"}, {"policy": "gold"}],
                "vmServiceSpec": {"vmClasses": ["best-effort-small"]},
                "accessList": [
                    {"subjectType": "USER", "subject": "alice", "role": "OWNER"},
                    {"subjectType": "GROUP", "subject": "devs", "domain": "corp.example", "role": "EDIT"},
                    {"subjectType": "USER", "subject": "bob", "role": "VIEW"},
                ],
            },
        }))
        .await;
    let c = env.config_where("team-a", "team-a RUNNING", running).await;
    assert!(c.status.as_ref().is_some_and(|s| s.messages.is_empty()), "{:?}", c.status);

    let ns = env.all::<Namespace>().get("team-a").await.expect("namespace created");
    let owners = ns.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (owners[0].kind.as_str(), Some(owners[0].uid.clone())),
        ("NamespaceConfig", config.metadata.uid.clone())
    );

    let quotas: Api<ResourceQuota> = env.namespaced("team-a");
    assert_eq!(
        hard_keys(&quotas).await.expect("quota"),
        [
            "count/virtualmachines.vmoperator.vmware.com",
            "limits.cpu",
            "limits.memory",
            "pods",
            "secrets",
            "vsan-default.storageclass.storage.k8s.io/requests.storage",
        ]
    );
    let quota = quotas.get("canopy-quota").await.expect("quota");
    assert_eq!(
        quota.spec.and_then(|s| s.hard).and_then(|h| h.get("limits.cpu").cloned()).map(|q| q.0),
        Some("4".into())
    );

    let lr = env.namespaced::<LimitRange>("team-a").get("canopy-defaults").await.expect("limit range");
    let item = lr.spec.expect("spec").limits.remove(0);
    let text = |m: Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
        m.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={}", v.0)).collect::<Vec<_>>()
    };
    assert_eq!(item.type_, "Container");
    assert_eq!(text(item.default), ["cpu=500m", "memory=256Mi"]);
    assert_eq!(text(item.default_request), ["cpu=100m", "memory=64Mi"]);

    let rbs: Api<RoleBinding> = env.namespaced("team-a");
    let want: BTreeMap<String, (String, Vec<String>)> = [
        ("canopy-access-owner-user-alice-vsphere-local", "admin", "User:alice@vsphere.local"),
        ("canopy-access-edit-group-devs-corp-example", "edit", "Group:devs@corp.example"),
        ("canopy-access-view-user-bob-vsphere-local", "view", "User:bob@vsphere.local"),
    ]
    .into_iter()
    .map(|(n, r, s)| (n.to_string(), (r.to_string(), vec![s.to_string()])))
    .collect();
    assert_eq!(bindings(&rbs).await, want);

    // Stats follow the quota's usage.
    env.config_where("team-a", "stats counted", |c| {
        c.status.as_ref().and_then(|s| s.stats.as_ref()).and_then(|s| s.pod_count) == Some(0)
    })
    .await;
    let pods: Api<Pod> = env.namespaced("team-a");
    for name in ["p1", "p2"] {
        pods.create(&PostParams::default(), &pod(name)).await.expect("pod within quota");
    }
    let c = env
        .config_where("team-a", "stats show two pods", |c| {
            c.status.as_ref().and_then(|s| s.stats.as_ref()).and_then(|s| s.pod_count) == Some(2)
        })
        .await;
    let stats = c.status.and_then(|s| s.stats).expect("stats");
    // The server prints quantities canonically in bytes (upstream would say 128Mi).
    assert_eq!((stats.cpu_used.as_deref(), stats.memory_used.as_deref()), (Some("500m"), Some("128Mi")));
    assert_eq!(stats.storage_used, None, "storage is not limited as a whole");

    // Update: drop the memory limit, make bob an editor, remove the group.
    let patch = json!({"spec": {
        "resourceSpec": {"memoryLimit": null},
        "accessList": [
            {"subjectType": "USER", "subject": "alice", "role": "OWNER"},
            {"subjectType": "USER", "subject": "bob", "role": "EDIT"},
        ],
    }});
    env.configs().patch("team-a", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update");
    env.config_where("team-a", "update applied", running).await;
    let keys = hard_keys(&quotas).await.expect("quota");
    assert!(!keys.iter().any(|k| k == "limits.memory") && keys.iter().any(|k| k == "limits.cpu"), "{keys:?}");
    let names: Vec<String> = bindings(&rbs).await.into_keys().collect();
    assert_eq!(names, ["canopy-access-edit-user-bob-vsphere-local", "canopy-access-owner-user-alice-vsphere-local"]);

    // Nothing limited any more: no quota at all; the defaults stay.
    let patch = json!({"spec": {
        "resourceSpec": {"cpuLimit": null, "podCount": null, "secretCount": null, "virtualMachineCount": null},
        "storageSpecs": [{"policy": "vSAN Default"}],
    }});
    env.configs().patch("team-a", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update");
    let c = env.config_where("team-a", "unlimited", running).await;
    assert_eq!(hard_keys(&quotas).await, None, "an unlimited namespace has no quota");
    assert_eq!(c.status.and_then(|s| s.stats), None);
    assert!(env.namespaced::<LimitRange>("team-a").get_opt("canopy-defaults").await.expect("get").is_some());

    // Drift is repaired: a deleted binding comes back.
    rbs.delete("canopy-access-owner-user-alice-vsphere-local", &DeleteParams::default()).await.expect("delete");
    common::eventually("binding restored", || async {
        rbs.get_opt("canopy-access-owner-user-alice-vsphere-local").await.ok().flatten()
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespace_permissions_are_enforced() {
    let env = common::start().await;
    env.create_config(json!({
        "metadata": {"name": "shared"},
        "spec": {"accessList": [
            {"subjectType": "USER", "subject": "alice", "role": "VIEW"},
            {"subjectType": "USER", "subject": "carol", "role": "EDIT"},
        ]},
    }))
    .await;
    env.config_where("shared", "shared RUNNING", running).await;
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "b"}})).expect("cm");

    let alice: Api<ConfigMap> =
        Api::namespaced(common::client(&env.server, Some("alice@vsphere.local")).await, "shared");
    alice.list(&ListParams::default()).await.expect("a viewer lists configmaps");
    match alice.create(&PostParams::default(), &cm).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("a viewer must not create configmaps: {other:?}"),
    }

    let carol: Api<ConfigMap> =
        Api::namespaced(common::client(&env.server, Some("carol@vsphere.local")).await, "shared");
    carol.create(&PostParams::default(), &cm).await.expect("an editor creates configmaps");
    assert_eq!(alice.list(&ListParams::default()).await.expect("list").items.len(), 1);

    let mallory: Api<ConfigMap> =
        Api::namespaced(common::client(&env.server, Some("mallory@vsphere.local")).await, "shared");
    match mallory.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("someone not in the access list must not list: {other:?}"),
    }
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_config_deletes_its_namespace() {
    let env = common::start().await;
    env.create_config(json!({"metadata": {"name": "doomed"}, "spec": {"resourceSpec": {"podCount": 5}}})).await;
    env.config_where("doomed", "doomed RUNNING", running).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "data"}})).expect("cm");
    env.namespaced::<ConfigMap>("doomed").create(&PostParams::default(), &cm).await.expect("configmap");

    env.configs().delete("doomed", &DeleteParams::default()).await.expect("delete config");
    let namespaces = env.all::<Namespace>();
    common::eventually("namespace garbage collected", || async {
        matches!(namespaces.get_opt("doomed").await, Ok(None)).then_some(())
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn foreground_deletion_reports_removing_until_the_namespace_is_gone() {
    let env = common::start().await;
    env.create_config(json!({"metadata": {"name": "slow"}, "spec": {}})).await;
    env.config_where("slow", "slow RUNNING", running).await;
    // A finalizer inside the namespace holds its termination, so REMOVING can be observed.
    let held: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["test.canopy.io/hold"]}}))
            .expect("cm");
    let cms: Api<ConfigMap> = env.namespaced("slow");
    cms.create(&PostParams::default(), &held).await.expect("configmap");

    env.configs().delete("slow", &DeleteParams::foreground()).await.expect("delete config");
    let configs = env.configs();
    common::eventually("REMOVING", || async {
        let c = configs.get_opt("slow").await.ok().flatten()?;
        (c.status?.config_status? == ConfigStatus::Removing).then_some(())
    })
    .await;
    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .expect("release");
    let namespaces = env.all::<Namespace>();
    common::eventually("config and namespace gone", || async {
        let ns_gone = matches!(namespaces.get_opt("slow").await, Ok(None));
        let config_gone = matches!(configs.get_opt("slow").await, Ok(None));
        (ns_gone && config_gone).then_some(())
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pre_existing_namespace_is_configured_and_kept() {
    let env = common::start().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "legacy"}})).expect("ns");
    env.all::<Namespace>().create(&PostParams::default(), &ns).await.expect("namespace");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "precious"}})).expect("cm");
    let cms: Api<ConfigMap> = env.namespaced("legacy");
    cms.create(&PostParams::default(), &cm).await.expect("configmap");

    env.create_config(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "resourceSpec": {"configMapCount": 10, "cpuRequestDefault": "50m"},
            "accessList": [{"subjectType": "USER", "subject": "dave", "role": "EDIT"}],
        },
    }))
    .await;
    let c = env.config_where("legacy", "legacy RUNNING", running).await;
    let messages = c.status.map(|s| s.messages).unwrap_or_default();
    assert!(
        messages.iter().any(|m| m.severity == Severity::Info && m.details.contains("existed before")),
        "{messages:?}"
    );
    let ns = env.all::<Namespace>().get("legacy").await.expect("namespace");
    assert_eq!(ns.metadata.owner_references, None, "a pre-existing namespace is not taken over");
    let quotas: Api<ResourceQuota> = env.namespaced("legacy");
    assert_eq!(hard_keys(&quotas).await.expect("quota"), ["configmaps"]);

    env.configs().delete("legacy", &DeleteParams::default()).await.expect("delete config");
    let rbs: Api<RoleBinding> = env.namespaced("legacy");
    let lrs: Api<LimitRange> = env.namespaced("legacy");
    common::eventually("managed objects garbage collected", || async {
        let quota_gone = matches!(quotas.get_opt("canopy-quota").await, Ok(None));
        let lr_gone = matches!(lrs.get_opt("canopy-defaults").await, Ok(None));
        let rbs_gone = rbs.list(&ListParams::default().labels(MANAGED)).await.ok()?.items.is_empty();
        (quota_gone && lr_gone && rbs_gone).then_some(())
    })
    .await;
    let ns = env.all::<Namespace>().get("legacy").await.expect("the namespace stays");
    assert!(ns.metadata.deletion_timestamp.is_none());
    cms.get("precious").await.expect("its content stays");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_configs_are_refused_or_reported() {
    let env = common::start().await;
    // The schema refuses a malformed quantity and an unknown role at admission.
    let raw: Api<DynamicObject> = Api::all_with(env.client.clone(), &ApiResource::erase::<NamespaceConfig>(&()));
    for spec in [
        json!({"resourceSpec": {"cpuLimit": "4 cores"}}),
        json!({"accessList": [{"subjectType": "USER", "subject": "x", "role": "ADMIN"}]}),
    ] {
        let config: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "tenancy.canopy.io/v1alpha1", "kind": "NamespaceConfig",
            "metadata": {"name": "bad"}, "spec": spec,
        }))
        .expect("config");
        match raw.create(&PostParams::default(), &config).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 422, "{s:?}"),
            other => panic!("{spec} must be refused: {other:?}"),
        }
    }
    // A name that is not a namespace name is reported, and nothing is created.
    env.create_config(json!({"metadata": {"name": "team.a"}, "spec": {"resourceSpec": {"podCount": 1}}})).await;
    let c = env
        .config_where("team.a", "ERROR", |c| {
            c.status.as_ref().and_then(|s| s.config_status) == Some(ConfigStatus::Error)
        })
        .await;
    let messages = c.status.map(|s| s.messages).unwrap_or_default();
    assert!(messages.iter().any(|m| m.severity == Severity::Error && m.details.contains("not a valid namespace name")));
    assert!(matches!(env.all::<Namespace>().get_opt("team.a").await, Ok(None)));
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_config_in_place_writes_nothing() {
    let env = common::start().await;
    env.create_config(json!({
        "metadata": {"name": "steady"},
        "spec": {
            "resourceSpec": {"podCount": 5, "cpuLimit": "2", "memoryLimitDefault": "128Mi"},
            "accessList": [{"subjectType": "USER", "subject": "erin", "role": "EDIT"}],
        },
    }))
    .await;
    env.config_where("steady", "steady RUNNING with stats", |c| {
        running(c) && c.status.as_ref().and_then(|s| s.stats.as_ref()).is_some()
    })
    .await;
    let versions = || async {
        let rv = |m: &kube::core::ObjectMeta| m.resource_version.clone().unwrap_or_default();
        let q = env.namespaced::<ResourceQuota>("steady").get("canopy-quota").await.expect("quota");
        let l = env.namespaced::<LimitRange>("steady").get("canopy-defaults").await.expect("limit range");
        let b = env.namespaced::<RoleBinding>("steady").get("canopy-access-edit-user-erin-vsphere-local").await;
        let c = env.configs().get("steady").await.expect("config");
        (rv(&q.metadata), rv(&l.metadata), rv(&b.expect("binding").metadata), c.status)
    };
    let before = versions().await;
    // A metadata-only change triggers a reconcile without changing what is wanted.
    let touch = json!({"metadata": {"annotations": {"example.com/touched": "yes"}}});
    env.configs().patch("steady", &PatchParams::default(), &Patch::Merge(&touch)).await.expect("touch");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(versions().await, before, "a reconcile of a config in place changes nothing");
    env.shutdown().await;
}
