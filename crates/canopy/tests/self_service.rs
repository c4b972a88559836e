//! Self-service namespaces: a user the namespace template grants creates a namespace with
//! kubectl, becomes its owner, gets the template's limits and may delete it; others are refused.
//! The template and the service are also driven through the vAPI endpoints.

mod common;

use common::call;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn granted_users_create_their_own_namespaces() {
    let p = common::platform().await;
    let (kcfg, home) = (p.server.kubeconfig.clone(), p.home.clone());
    tokio::task::spawn_blocking(move || {
        let k = |args: &[&str]| common::kubectl(&kcfg, &home, args);
        let template = r#"{"apiVersion": "tenancy.canopy.io/v1alpha1", "kind": "NamespaceTemplate", "metadata": {"name": "default"},
            "spec": {"permissions": [{"subjectType": "GROUP", "subject": "devs"}], "resourceSpec": {"podCount": 5}}}"#;
        let path = home.join("template.json");
        std::fs::write(&path, template).expect("write");
        let (ok, _, err) = k(&["apply", "-f", path.to_str().expect("path")]);
        assert!(ok, "{err}");

        let alice = ["--as", "alice@vsphere.local", "--as-group", "devs@vsphere.local"];
        let (ok, _, err) = k(&[&alice[..], &["create", "namespace", "alice-sandbox"]].concat());
        assert!(ok, "a granted user creates a namespace: {err}");
        // The controller makes alice its owner and applies the template's limits.
        let mut owner = false;
        for _ in 0..100 {
            if k(&[&alice[..], &["-n", "alice-sandbox", "create", "configmap", "mine"]].concat()).0 {
                owner = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(owner, "alice becomes owner of her namespace");
        let (ok, out, err) = k(&["-n", "alice-sandbox", "get", "resourcequota", "canopy-quota", "-o", "jsonpath={.spec.hard.pods}"]);
        assert!(ok && out == "5", "template limits apply: {out} {err}");
        // She owns only that one: no access to other namespaces, no cluster-wide powers.
        assert!(!k(&[&alice[..], &["-n", "default", "get", "configmaps"]].concat()).0);
        assert!(!k(&[&alice[..], &["delete", "namespace", "default"]].concat()).0, "she may not delete others'");
        // Someone the template does not name is refused as before, and may not delete hers.
        let (ok, _, err) = k(&["--as", "mallory@vsphere.local", "create", "namespace", "mallory-ns"]);
        assert!(!ok && err.contains("forbidden"), "{err}");
        let (ok, _, err) = k(&["--as", "mallory@vsphere.local", "delete", "namespace", "alice-sandbox"]);
        assert!(!ok && err.contains("forbidden"), "{err}");
        // The owner deletes her namespace, and it stays gone.
        let (ok, _, err) = k(&[&alice[..], &["delete", "namespace", "alice-sandbox", "--wait=false"]].concat());
        assert!(ok, "the owner deletes her self-service namespace: {err}");
        let mut gone = false;
        for _ in 0..100 {
            let (ok, _, err) = k(&["get", "namespace", "alice-sandbox"]);
            if !ok && err.contains("NotFound") {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(gone, "the namespace is deleted and not recreated");
        let (ok, _, _) = k(&["get", "namespaceconfig", "alice-sandbox"]);
        assert!(!ok, "its configuration went with it");
    })
    .await
    .expect("script");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_service_through_the_rest_api() {
    let p = common::platform().await;
    p.add_user("root@vsphere.local", "administrator password", true).await;
    p.add_user("dana@vsphere.local", "dana's password", false).await;
    let root = p.session("root@vsphere.local", "administrator password").await;
    let dana = p.session("dana@vsphere.local", "dana's password").await;
    let rest = p.anonymous();
    let (r, d) = (Some(root.as_str()), Some(dana.as_str()));

    // Nothing to activate before a template exists; a tenant may not touch the service.
    let (code, body) = call(&rest, "GET", "/api/vcenter/namespace-self-service/canopy", r, None).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("DEACTIVATED")), "{body}");
    let (code, body) = call(&rest, "POST", "/api/vcenter/namespace-self-service/canopy?action=activate", r, None).await;
    assert_eq!((code, body["error_type"].as_str()), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{body}");
    let (code, _) = call(&rest, "POST", "/api/vcenter/namespace-self-service/canopy?action=deactivate", d, None).await;
    assert_eq!(code, 403);
    assert_eq!(call(&rest, "GET", "/api/vcenter/namespace-self-service/elsewhere", r, None).await.0, 404);

    let spec = json!({
        "template": "tenants",
        "permissions": [{"subject_type": "USER", "subject": "dana", "domain": "vsphere.local"}],
        "resource_spec": {"pod_count": 3, "memory_limit": 2048},
    });
    let (code, body) =
        call(&rest, "POST", "/api/vcenter/namespace-self-service/canopy?action=activateWithTemplate", r, Some(spec))
            .await;
    assert_eq!(code, 204, "{body}");
    let (_, body) = call(&rest, "GET", "/api/vcenter/namespace-self-service", r, None).await;
    assert_eq!(body[0]["status"], "RUNNING", "{body}");
    let (_, list) = call(&rest, "GET", "/api/vcenter/namespace-templates/clusters/canopy", r, None).await;
    assert_eq!(list, json!([{"cluster": "canopy", "template": "tenants"}]));
    let (code, body) =
        call(&rest, "POST", "/api/vcenter/namespace-templates/clusters/canopy", r, Some(json!({"template": "second"})))
            .await;
    assert_eq!((code, body["error_type"].as_str()), (400, Some("ALREADY_EXISTS")), "one template per Supervisor");
    let template = "/api/vcenter/namespace-templates/clusters/canopy/templates/tenants";
    let (code, body) = call(&rest, "PATCH", template, r, Some(json!({"resource_spec": {"pod_count": 4}}))).await;
    assert_eq!(code, 204, "{body}");
    let (_, info) = call(&rest, "GET", template, r, None).await;
    assert_eq!(info["resource_spec"]["pod_count"], 4, "{info}");
    assert_eq!(info["resource_spec"]["memory_limit"], 2048, "PATCH keeps what it does not name: {info}");
    assert_eq!(info["permissions"][0]["subject"], "dana");

    // Dana creates her namespace with kubectl (impersonated here by the admin's kubeconfig).
    let (kcfg, home) = (p.server.kubeconfig.clone(), p.home.clone());
    let k = move |args: Vec<&'static str>| {
        let (kcfg, home) = (kcfg.clone(), home.clone());
        tokio::task::spawn_blocking(move || common::kubectl(&kcfg, &home, &args))
    };
    let (ok, _, err) = k(vec!["--as", "dana@vsphere.local", "create", "namespace", "dana-dev"]).await.expect("kubectl");
    assert!(ok, "{err}");
    let path = "/api/vcenter/namespaces/instances/dana-dev";
    common::eventually("the namespace to be RUNNING", || async {
        call(&rest, "GET", path, r, None).await.1["config_status"] == "RUNNING"
    })
    .await;
    let (_, info) = call(&rest, "GET", path, r, None).await;
    assert_eq!(info["self_service_namespace"], true, "{info}");
    assert_eq!(info["resource_spec"]["pod_count"], 4);
    assert_eq!(
        info["access_list"][0],
        json!({"subject_type": "USER", "subject": "dana", "domain": "vsphere.local", "role": "OWNER"})
    );
    // The v2 shapes say supervisor; a tenant's own listing shows her namespace.
    let (_, v2) = call(&rest, "GET", "/api/vcenter/namespaces/instances/v2/dana-dev", r, None).await;
    assert_eq!((v2["supervisor"].as_str(), v2.get("cluster")), (Some("canopy"), None), "{v2}");
    let (code, mine) = call(&rest, "GET", "/api/vcenter/namespaces/user/instances", d, None).await;
    assert_eq!(code, 200, "{mine}");
    let names: Vec<&str> = mine.as_array().expect("list").iter().filter_map(|n| n["namespace"].as_str()).collect();
    assert_eq!(names, ["dana-dev"]);
    assert_eq!(call(&rest, "GET", "/api/vcenter/namespaces/instances", d, None).await.0, 403, "admins only");

    // Deactivated, the template no longer grants anything.
    let (code, _) = call(&rest, "POST", "/api/vcenter/namespace-self-service/canopy?action=deactivate", r, None).await;
    assert_eq!(code, 204);
    let (ok, _, err) = k(vec!["--as", "dana@vsphere.local", "create", "namespace", "dana-two"]).await.expect("kubectl");
    assert!(!ok && err.contains("forbidden"), "{err}");
    p.stop().await;
}
