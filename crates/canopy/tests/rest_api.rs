//! The vSphere-Automation-shaped REST API end to end: a session from `POST /api/session`, then
//! namespaces created, read, updated and given access through `/api/vcenter/namespaces/...`,
//! realised by the namespace controller, and seen by kubectl.

mod common;

use common::call;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespaces_through_the_rest_api() {
    let p = common::platform().await;
    let admin = p.admin.clone();
    // An SSO administrator: a directory user bound to cluster-admin.
    p.add_user("root@vsphere.local", "administrator password", true).await;
    let session = p.session("root@vsphere.local", "administrator password").await;
    let rest = p.anonymous();
    let s = Some(session.as_str());

    assert_eq!(call(&rest, "GET", "/api/vcenter/namespaces/instances", None, None).await.0, 401);
    let create = json!({
        "namespace": "team-a", "description": "Team A",
        "resource_spec": {"cpu_limit": 4000, "memory_limit": 8192, "pod_count": 10},
        "access_list": [{"subject_type": "USER", "subject": "alice", "domain": "vsphere.local", "role": "EDIT"}],
    });
    let (code, body) = call(&rest, "POST", "/api/vcenter/namespaces/instances", s, Some(create)).await;
    assert_eq!(code, 204, "{body}");
    let (code, body) =
        call(&rest, "POST", "/api/vcenter/namespaces/instances", s, Some(json!({"namespace": "team-a"}))).await;
    assert_eq!((code, body["error_type"].as_str()), (400, Some("ALREADY_EXISTS")), "{body}");
    let (code, body) =
        call(&rest, "POST", "/api/vcenter/namespaces/instances", s, Some(json!({"namespace": "Bad_Name"}))).await;
    assert_eq!(code, 400, "{body}");

    // The controller realises it: RUNNING, with the quota in place.
    let mut info = Value::Null;
    for _ in 0..100 {
        info = call(&rest, "GET", "/api/vcenter/namespaces/instances/team-a", s, None).await.1;
        if info["config_status"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(info["config_status"], "RUNNING", "{info}");
    assert_eq!(info["resource_spec"]["cpu_limit"], 4000);
    assert_eq!(info["resource_spec"]["memory_limit"], 8192);
    assert_eq!(info["access_list"][0]["subject"], "alice");
    let quotas: kube::Api<k8s_openapi::api::core::v1::ResourceQuota> = kube::Api::namespaced(admin.clone(), "team-a");
    let mut hard = None;
    for _ in 0..100 {
        if let Ok(q) = quotas.get("canopy-quota").await {
            hard = q.spec.and_then(|s| s.hard);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let hard = hard.expect("the namespace has its quota");
    assert_eq!(hard.get("pods").map(|q| q.0.as_str()), Some("10"));

    // PATCH updates what it names; PUT sets everything.
    let (code, body) = call(
        &rest,
        "PATCH",
        "/api/vcenter/namespaces/instances/team-a",
        s,
        Some(json!({"description": "Team A, renamed"})),
    )
    .await;
    assert_eq!(code, 204, "{body}");
    let info = call(&rest, "GET", "/api/vcenter/namespaces/instances/team-a", s, None).await.1;
    assert_eq!(
        (info["description"].as_str(), info["resource_spec"]["pod_count"].as_i64()),
        (Some("Team A, renamed"), Some(10))
    );
    // Access entries.
    let access = "/api/vcenter/namespaces/instances/team-a/access/vsphere.local/bob?type=USER";
    assert_eq!(call(&rest, "POST", access, s, Some(json!({"role": "VIEW"}))).await.0, 204);
    assert_eq!(call(&rest, "POST", access, s, Some(json!({"role": "VIEW"}))).await.0, 400);
    assert_eq!(call(&rest, "GET", access, s, None).await.1["role"], "VIEW");
    assert_eq!(call(&rest, "PUT", access, s, Some(json!({"role": "EDIT"}))).await.0, 204);
    assert_eq!(call(&rest, "DELETE", access, s, None).await.0, 204);
    assert_eq!(call(&rest, "GET", access, s, None).await.0, 404);
    let list = call(&rest, "GET", "/api/vcenter/namespaces/instances", s, None).await.1;
    assert!(list.as_array().is_some_and(|l| l.iter().any(|n| n["namespace"] == "team-a")), "{list}");
    // kubectl sees the same object.
    let configs: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        admin.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("tenancy.canopy.io", "v1alpha1", "NamespaceConfig"),
            "namespaceconfigs",
        ),
    );
    let obj = configs.get("team-a").await.expect("NamespaceConfig");
    assert_eq!(obj.data["spec"]["description"], "Team A, renamed");

    assert_eq!(call(&rest, "DELETE", "/api/vcenter/namespaces/instances/team-a", s, None).await.0, 204);
    assert_eq!(call(&rest, "GET", "/api/vcenter/namespaces/instances/team-a", s, None).await.0, 404);
    // Ending the session ends its access.
    assert_eq!(call(&rest, "DELETE", "/api/session", s, None).await.0, 204);
    assert_eq!(call(&rest, "GET", "/api/vcenter/namespaces/instances", s, None).await.0, 401);
    p.stop().await;
}
