//! Tenant isolation: for two tenants, every verb on every namespaced resource of the other
//! tenant's namespace is 403, cluster-wide reads and cluster-scoped writes are 403, and what a
//! tenant can list or watch holds only its own namespace's objects.

mod common;

use serde_json::{Value, json};

async fn as_user(t: &common::TestServer, user: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(t.kubeconfig()).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    config.auth_info.impersonate = Some(user.to_string());
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

async fn status_of(client: &kube::Client, method: &str, path: &str, body: Option<Value>) -> u16 {
    let mut req = http::Request::builder().method(method).uri(path);
    let body = match body {
        Some(b) => {
            let ctype = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
            req = req.header("content-type", ctype);
            serde_json::to_vec(&b).expect("json")
        }
        None => Vec::new(),
    };
    match client.request_text(req.body(body).expect("request")).await {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_cannot_touch_each_other() {
    let t = common::start().await;
    for (ns, user) in [("team-a", "alice"), ("team-b", "bob")] {
        t.ok(&["create", "namespace", ns]);
        t.ok(&["-n", ns, "create", "rolebinding", "owner", "--clusterrole=admin", &format!("--user={user}")]);
        t.ok(&["-n", ns, "create", "configmap", "data", "--from-literal=k=v"]);
    }
    let alice = as_user(&t, "alice").await;

    // Every namespaced resource the server serves, from discovery.
    let discovery: Value = serde_json::from_str(&t.ok(&["get", "--raw", "/api/v1"])).expect("json");
    let mut paths: Vec<(String, String)> = discovery["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["namespaced"] == true && !r["name"].as_str().unwrap_or_default().contains('/'))
        .map(|r| ("/api/v1".to_string(), r["name"].as_str().unwrap_or_default().to_string()))
        .collect();
    let groups: Value = serde_json::from_str(&t.ok(&["get", "--raw", "/apis"])).expect("json");
    for g in groups["groups"].as_array().expect("groups") {
        let gv = g["preferredVersion"]["groupVersion"].as_str().unwrap_or_default();
        let list: Value = serde_json::from_str(&t.ok(&["get", "--raw", &format!("/apis/{gv}")])).expect("json");
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default();
            if r["namespaced"] == true && !name.contains('/') {
                paths.push((format!("/apis/{gv}"), name.to_string()));
            }
        }
    }
    assert!(paths.len() >= 12, "too few namespaced resources found: {paths:?}");

    let mut allowed = Vec::new();
    for (prefix, resource) in &paths {
        let base = format!("{prefix}/namespaces/team-b/{resource}");
        let body = json!({"metadata": {"name": "x"}});
        let attempts = [
            ("GET", base.clone(), None),
            ("GET", format!("{base}?watch=1&timeoutSeconds=1"), None),
            ("GET", format!("{base}/data"), None),
            ("POST", base.clone(), Some(body.clone())),
            ("PUT", format!("{base}/data"), Some(body.clone())),
            ("PATCH", format!("{base}/data"), Some(json!({"metadata": {"labels": {"x": "y"}}}))),
            ("DELETE", format!("{base}/data"), None),
            ("DELETE", base.clone(), None),
        ];
        for (method, path, body) in attempts {
            let code = status_of(&alice, method, &path, body).await;
            if code != 403 {
                allowed.push(format!("{method} {path} -> {code}"));
            }
        }
        // Across all namespaces is the other tenant's data too.
        let code = status_of(&alice, "GET", &format!("{prefix}/{resource}"), None).await;
        if code != 403 {
            allowed.push(format!("GET {prefix}/{resource} (all namespaces) -> {code}"));
        }
    }
    assert!(allowed.is_empty(), "not denied:\n{}", allowed.join("\n"));

    // In its own namespace the tenant works, and sees only its own objects.
    assert_eq!(status_of(&alice, "GET", "/api/v1/namespaces/team-a/configmaps/data", None).await, 200);
    let own = alice
        .request_text(http::Request::get("/api/v1/namespaces/team-a/configmaps").body(Vec::new()).expect("request"))
        .await
        .expect("own list");
    let own: Value = serde_json::from_str(&own).expect("json");
    assert!(own["items"].as_array().expect("items").iter().all(|i| i["metadata"]["namespace"] == "team-a"));

    // No cluster-scoped writes, no reading other namespaces' existence details.
    for (path, body) in [
        ("/api/v1/namespaces", json!({"metadata": {"name": "mine"}})),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", json!({"metadata": {"name": "mine"}, "rules": []})),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"metadata": {"name": "mine"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "alice"}]}),
        ),
    ] {
        assert_eq!(status_of(&alice, "POST", path, Some(body)).await, 403, "POST {path}");
    }
    // An owner cannot lift itself to cluster-admin inside its namespace either.
    let escalate = json!({"metadata": {"name": "root"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "alice"}]});
    assert_eq!(
        status_of(&alice, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", Some(escalate))
            .await,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anonymous_and_bad_tokens_are_rejected() {
    let t = common::start().await;
    // No credentials at all: 401 for everything but the public endpoints.
    let mut config = kube::Config::new(t.server.url.parse().expect("url"));
    config.root_cert =
        Some(rustls_pemfile::certs(&mut t.server.ca_pem.as_bytes()).map(|c| c.expect("pem").to_vec()).collect());
    config.default_retry = false;
    let anonymous = kube::Client::try_from(config).expect("client");
    assert_eq!(status_of(&anonymous, "GET", "/api/v1/namespaces", None).await, 401);
    assert_eq!(status_of(&anonymous, "GET", "/apis", None).await, 401);
    assert_eq!(status_of(&anonymous, "GET", "/version", None).await, 200);
    // Forged, malformed and foreign tokens.
    for token in ["canopy.e30.AAAA", "garbage", "canopy.eyJ1c2VyIjoiYWRtaW4ifQ.c2lnbmF0dXJl"] {
        let out = t.kubectl(&["--token", token, "get", "ns"]);
        assert!(!out.ok && out.stderr.contains("provide credentials"), "{token}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_tokens_are_rejected() {
    use canopy_identity::{Subject, TokenIssuer};
    use std::time::{Duration, SystemTime};
    let t = common::start().await;
    let hash = canopy_identity::hash_password("carol's password").expect("hash");
    let user = serde_json::json!({"apiVersion": "iam.canopy.io/v1alpha1", "kind": "User", "metadata": {"name": "carol.vsphere.local"}, "spec": {"name": "carol@vsphere.local", "passwordHash": hash}});
    t.ok_in(&["create", "-f", "-"], &user.to_string());
    // Tokens signed with the server's own key: one current, one whose 10 hours have passed.
    let key = std::fs::read_to_string(t.dir.path().join("data/pki/token.key")).expect("the signing key");
    let issuer = TokenIssuer::new(TokenIssuer::decode_key(&key).expect("key"));
    let subject = Subject::new("carol@vsphere.local", Vec::<String>::new());
    let ten_hours = Duration::from_secs(10 * 3600);
    let current = issuer.issue(&subject, ten_hours, SystemTime::now()).token;
    let stale = issuer.issue(&subject, ten_hours, SystemTime::now() - ten_hours - Duration::from_secs(60)).token;
    let out = t.kubectl(&["--token", &current, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(out.ok && out.stdout == "carol@vsphere.local", "{}", out.stderr);
    let out = t.kubectl(&["--token", &stale, "auth", "whoami"]);
    assert!(!out.ok && out.stderr.contains("Unauthorized"), "{}", out.stderr);
}
