//! What the canopy end-to-end tests share: a server with its namespace controller, an admin
//! client, directory users, kubectl and the vAPI REST calls.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

pub struct Platform {
    pub dir: tempfile::TempDir,
    pub server: canopy_apiserver::RunningServer,
    pub admin: kube::Client,
    pub admin_config: kube::Config,
    pub home: PathBuf,
    controllers: Option<canopy_controllers::namespace_config::Running>,
}

/// A server in a temporary directory, with the namespace controller running against it.
pub async fn platform() -> Platform {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(canopy_apiserver::ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server");
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let admin_config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    let admin = kube::Client::try_from(admin_config.clone()).expect("client");
    let controllers = canopy_controllers::namespace_config::start(admin.clone()).await.expect("controller");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    Platform { dir, server, admin, admin_config, home, controllers: Some(controllers) }
}

impl Platform {
    pub async fn stop(mut self) {
        if let Some(c) = self.controllers.take() {
            c.shutdown().await.expect("the controller stops");
        }
    }

    /// A directory user with a password, optionally bound to cluster-admin (an SSO administrator).
    pub async fn add_user(&self, name: &str, password: &str, cluster_admin: bool) {
        let users: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
            self.admin.clone(),
            &kube::api::ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk("iam.canopy.io", "v1alpha1", "User"),
                "users",
            ),
        );
        let hash = canopy_identity::hash_password(password).expect("hash");
        let object = canopy_identity::directory::object_name(name);
        let user = json!({"apiVersion": "iam.canopy.io/v1alpha1", "kind": "User", "metadata": {"name": object}, "spec": {"name": name, "passwordHash": hash}});
        users.create(&Default::default(), &serde_json::from_value(user).expect("user")).await.expect("create user");
        if cluster_admin {
            let crbs: kube::Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = kube::Api::all(self.admin.clone());
            let crb = json!({"metadata": {"name": format!("{object}-admin")}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}]});
            crbs.create(&Default::default(), &serde_json::from_value(crb).expect("crb")).await.expect("binding");
        }
    }

    /// A client that trusts the server's CA and carries no credentials of its own.
    pub fn anonymous(&self) -> kube::Client {
        kube::Client::try_from(self.bare_config()).expect("client")
    }

    fn bare_config(&self) -> kube::Config {
        let mut config = kube::Config::new(self.server.url.parse().expect("url"));
        config.root_cert = self.admin_config.root_cert.clone();
        config.default_retry = false;
        config
    }

    /// `POST /api/session` with Basic auth: the vmware-api-session-id.
    pub async fn session(&self, user: &str, password: &str) -> String {
        let mut basic = self.bare_config();
        basic.auth_info.username = Some(user.into());
        basic.auth_info.password = Some(password.to_string().into());
        let (code, session) =
            call(&kube::Client::try_from(basic).expect("client"), "POST", "/api/session", None, None).await;
        assert_eq!(code, 201, "{session}");
        session.as_str().expect("the session id is a JSON string").to_string()
    }

    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        kubectl(&self.server.kubeconfig, &self.home, args)
    }
}

pub fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .env("HOME", home)
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One vAPI call: the status and the JSON answer (null when empty).
pub async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    use http_body_util::BodyExt;
    let mut req = http::Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(s) = session {
        req = req.header("vmware-api-session-id", s);
    }
    let body = body.map(|b| serde_json::to_vec(&b).expect("json")).unwrap_or_default();
    let resp = client.send(req.body(kube::client::Body::from(body)).expect("request")).await.expect("sent");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (code, value)
}

/// Polls `check` every 100 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}
