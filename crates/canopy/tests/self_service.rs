//! Self-service namespaces: a user the namespace template grants creates a namespace with
//! kubectl, becomes its owner and gets the template's limits; others are refused.

use std::process::Command;

fn kubectl(kubeconfig: &std::path::Path, home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn granted_users_create_their_own_namespaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(canopy_apiserver::ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server");
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("config");
    let controllers = canopy_controllers::namespace_config::start(kube::Client::try_from(config).expect("client"))
        .await
        .expect("controller");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let (kcfg, home2) = (server.kubeconfig.clone(), home.clone());

    tokio::task::spawn_blocking(move || {
        let k = |args: &[&str]| kubectl(&kcfg, &home2, args);
        let template = r#"{"apiVersion": "tenancy.canopy.io/v1alpha1", "kind": "NamespaceTemplate", "metadata": {"name": "default"},
            "spec": {"permissions": [{"subjectType": "GROUP", "subject": "devs"}], "resourceSpec": {"podCount": 5}}}"#;
        let path = home2.join("template.json");
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
        // Someone the template does not name is refused as before.
        let (ok, _, err) = k(&["--as", "mallory@vsphere.local", "create", "namespace", "mallory-ns"]);
        assert!(!ok && err.contains("forbidden"), "{err}");
    })
    .await
    .expect("script");
    controllers.shutdown().await.expect("stop");
}
