//! Kubeconfig login and logout: naming, merging, round trips, and (when present) real kubectl.

use std::process::Command;

use canopy_identity::kubeconfig::{Config, user_token};
use canopy_identity::{KubeconfigError, LoginEntries, login_kubeconfig, logout_kubeconfig};
use serde_json::{Value, json};

const SERVER: &str = "https://127.0.0.1:6443";
const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";
const USER_ENTRY: &str = "alice@vsphere.local@canopy-127.0.0.1-6443";

fn namespaces(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn login(existing: Option<&str>, token: &str, ns: &[&str]) -> String {
    login_kubeconfig(existing, SERVER, CA, "alice@vsphere.local", token, &namespaces(ns), None).expect("login")
}

/// The YAML as generic JSON, to compare structure.
fn structure(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).expect("valid YAML")
}

/// A kubeconfig as someone else (kubectl, another login) left it.
const FOREIGN: &str = r#"
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: prod
  cluster:
    server: https://prod.example.com
    insecure-skip-tls-verify: true
- name: canopy-127.0.0.1-6443
  cluster:
    server: https://old.example.com
users:
- name: bob
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: alice@vsphere.local@canopy-127.0.0.1-6443
  user:
    token: old-token
contexts:
- name: prod
  context:
    cluster: prod
    user: bob
    namespace: default
- name: team-a
  context:
    cluster: prod
    user: bob
- name: gone
  context:
    cluster: canopy-127.0.0.1-6443
    user: alice@vsphere.local@canopy-127.0.0.1-6443
    namespace: gone
current-context: prod
extensions:
- name: vendor
  extension:
    answer: 42
"#;

#[test]
fn entry_names_follow_kubectl_vsphere() {
    let entries =
        LoginEntries::new(SERVER, "alice@vsphere.local", &namespaces(&["team-a", "team-b", "team-a"])).expect("valid");
    assert_eq!(entries.cluster, "canopy-127.0.0.1-6443");
    assert_eq!(entries.user, USER_ENTRY);
    assert_eq!(entries.server_context, "127.0.0.1:6443");
    assert_eq!(entries.contexts().collect::<Vec<_>>(), ["127.0.0.1:6443", "team-a", "team-b"]);

    let vip = LoginEntries::new("https://10.0.0.5/", "bob", &[]).expect("valid");
    assert_eq!(
        (vip.cluster.as_str(), vip.server_context.as_str(), vip.server.as_str()),
        ("canopy-10.0.0.5-443", "10.0.0.5", "https://10.0.0.5")
    );
    let v6 = LoginEntries::new("https://[::1]:6443", "bob", &[]).expect("valid");
    assert_eq!((v6.cluster.as_str(), v6.server_context.as_str()), ("canopy-::1-6443", "[::1]:6443"));
    let named = LoginEntries::new("HTTPS://Canopy.Example.com:8443/base", "bob", &[]).expect("valid");
    assert_eq!(named.cluster, "canopy-canopy.example.com-8443");

    for bad in [
        "http://127.0.0.1:6443",
        "127.0.0.1:6443",
        "https://",
        "https://:6443",
        "https://h:0",
        "https://h:99999",
        "https://u@h",
        "https://h x",
        "https://[zz]:1",
    ] {
        assert_eq!(LoginEntries::new(bad, "bob", &[]), Err(KubeconfigError::InvalidServer(bad.to_string())), "{bad}");
    }
    assert_eq!(LoginEntries::new(SERVER, " ", &[]), Err(KubeconfigError::EmptyUser));
    assert_eq!(
        LoginEntries::new(SERVER, "bob", &namespaces(&["Team_A"])),
        Err(KubeconfigError::InvalidNamespace("Team_A".to_string()))
    );
}

#[test]
fn fresh_login_has_the_shape_kubectl_expects() {
    let yaml = login(None, "canopy.tok.sig", &["team-a", "team-b"]);
    assert_eq!(
        structure(&yaml),
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "canopy-127.0.0.1-6443", "cluster": {
                "server": SERVER,
                "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="}}],
            "users": [{"name": USER_ENTRY, "user": {"token": "canopy.tok.sig"}}],
            "contexts": [
                {"name": "127.0.0.1:6443", "context": {"cluster": "canopy-127.0.0.1-6443", "user": USER_ENTRY}},
                {"name": "team-a", "context": {"cluster": "canopy-127.0.0.1-6443", "user": USER_ENTRY, "namespace": "team-a"}},
                {"name": "team-b", "context": {"cluster": "canopy-127.0.0.1-6443", "user": USER_ENTRY, "namespace": "team-b"}},
            ],
            "current-context": "127.0.0.1:6443",
        })
    );
    // Parsing our own output and writing it again changes nothing.
    assert_eq!(Config::parse(&yaml).expect("parse").to_yaml().expect("render"), yaml);
}

#[test]
fn merge_keeps_foreign_entries_and_replaces_ours() {
    let yaml = login(Some(FOREIGN), "new-token", &["team-a", "team-b"]);
    let config = Config::parse(&yaml).expect("parse");

    let clusters: Vec<&str> = config.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(clusters, ["prod", "canopy-127.0.0.1-6443"]);
    assert_eq!(config.cluster("canopy-127.0.0.1-6443").expect("ours").cluster.server, SERVER);
    assert_eq!(config.cluster("prod").expect("foreign").cluster.extra["insecure-skip-tls-verify"], json!(true));

    let users: Vec<&str> = config.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(users, ["bob", USER_ENTRY]);
    assert_eq!(config.user(USER_ENTRY).expect("ours").user.token.as_deref(), Some("new-token"));
    assert_eq!(config.user("bob").expect("foreign").user.extra["client-key-data"], json!("a2V5"));

    // Foreign "prod" stays; foreign "team-a" is replaced by ours; our stale "gone" is dropped.
    let contexts: Vec<&str> = config.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(contexts, ["prod", "127.0.0.1:6443", "team-a", "team-b"]);
    assert_eq!(config.context("team-a").expect("ours").context.user, USER_ENTRY);
    assert_eq!(config.context("prod").expect("foreign").context.namespace.as_deref(), Some("default"));

    assert_eq!(config.current_context, "prod", "a valid current context is kept");
    assert_eq!(config.preferences["colors"], json!(true));
    assert_eq!(config.extra["extensions"][0]["extension"]["answer"], json!(42));
}

#[test]
fn current_context_is_switched_on_request_and_checked() {
    let switched = login_kubeconfig(
        Some(FOREIGN),
        SERVER,
        CA,
        "alice@vsphere.local",
        "t",
        &namespaces(&["team-b"]),
        Some("team-b"),
    )
    .expect("login");
    assert_eq!(Config::parse(&switched).expect("parse").current_context, "team-b");
    assert_eq!(
        login_kubeconfig(Some(FOREIGN), SERVER, CA, "alice@vsphere.local", "t", &[], Some("nope")),
        Err(KubeconfigError::UnknownContext("nope".to_string()))
    );
    let dangling = FOREIGN.replace("current-context: prod", "current-context: deleted");
    let yaml = login(Some(&dangling), "t", &[]);
    assert_eq!(Config::parse(&yaml).expect("parse").current_context, "127.0.0.1:6443");
}

#[test]
fn json_and_empty_existing_files_are_accepted() {
    let json = r#"{"apiVersion":"v1","kind":"Config","clusters":null,"users":null,"contexts":null,"current-context":"","preferences":{}}"#;
    let from_json = login(Some(json), "t", &["team-a"]);
    assert_eq!(from_json, login(None, "t", &["team-a"]));
    assert_eq!(login(Some(""), "t", &["team-a"]), from_json);
    assert_eq!(login(Some("# nothing yet\n"), "t", &["team-a"]), from_json);
}

#[test]
fn bad_inputs_are_refused() {
    let ns = namespaces(&["team-a"]);
    let err = |existing, ca, token| login_kubeconfig(existing, SERVER, ca, "alice", token, &ns, None);
    assert_eq!(err(None, "not pem", "t"), Err(KubeconfigError::InvalidCa));
    assert_eq!(err(None, CA, ""), Err(KubeconfigError::InvalidToken));
    assert_eq!(err(None, CA, "two words"), Err(KubeconfigError::InvalidToken));
    assert_eq!(err(None, CA, "line\nbreak"), Err(KubeconfigError::InvalidToken));
    assert!(matches!(err(Some("- a list\n- not a config"), CA, "t"), Err(KubeconfigError::Parse(_))));
    assert!(matches!(err(Some("clusters: 5"), CA, "t"), Err(KubeconfigError::Parse(_))));
    assert!(matches!(err(Some("{not json"), CA, "t"), Err(KubeconfigError::Parse(_))));
    let no_ca = login_kubeconfig(None, SERVER, "", "alice", "t", &ns, None).expect("system roots");
    assert!(!no_ca.contains("certificate-authority-data"));
}

#[test]
fn parse_errors_do_not_echo_the_file() {
    let secret = "users:\n- name: x\n  user:\n    token: s3cret\n  : [\n";
    let Err(KubeconfigError::Parse(message)) = Config::parse(secret) else { panic!("must not parse") };
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn logout_removes_only_that_token() {
    let yaml = login(Some(FOREIGN), "new-token", &["team-a"]);
    assert_eq!(user_token(&yaml, USER_ENTRY), Ok(Some("new-token".to_string())));
    let out = logout_kubeconfig(&yaml, USER_ENTRY).expect("logout");
    let config = Config::parse(&out).expect("parse");
    assert_eq!(config.user(USER_ENTRY).expect("entry stays").user.token, None);
    assert!(config.user("bob").expect("foreign").user.extra.contains_key("client-certificate-data"));
    assert_eq!(config.contexts.len(), Config::parse(&yaml).expect("parse").contexts.len());
    assert!(!out.contains("new-token"));
    assert_eq!(user_token(&out, USER_ENTRY), Ok(None));
    assert_eq!(logout_kubeconfig(&out, USER_ENTRY), Ok(out.clone()), "logging out twice is fine");
    assert_eq!(logout_kubeconfig(&out, "nobody"), Ok(out.clone()));
}

/// Runs the real kubectl on a kubeconfig, when one is installed.
fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args).output().ok()?;
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).expect("utf8"))
}

#[test]
fn real_kubectl_reads_the_merged_file_and_we_read_kubectls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config");
    // Namespaces YAML 1.1 would read as booleans, numbers or null must stay strings.
    std::fs::write(&path, login(Some(FOREIGN), "canopy.tok.sig", &["team-a", "yes", "on", "n", "123", "null"]))
        .expect("write");
    let Some(view) = kubectl(&path, &["config", "view", "--raw", "-o", "json"]) else {
        eprintln!("kubectl not found; skipping");
        return;
    };
    let view: Value = serde_json::from_str(&view).expect("kubectl prints JSON");
    assert_eq!(view["current-context"], "prod");
    let ns: Vec<&Value> =
        view["contexts"].as_array().expect("contexts").iter().map(|c| &c["context"]["namespace"]).collect();
    for name in ["team-a", "yes", "on", "n", "123", "null"] {
        assert!(ns.contains(&&json!(name)), "{name} missing from {ns:?}");
    }
    let user = view["users"].as_array().expect("users").iter().find(|u| u["name"] == USER_ENTRY).expect("our user");
    assert_eq!(user["user"]["token"], "canopy.tok.sig");

    // kubectl rewrites the file in its own style; a second login still merges into it.
    kubectl(&path, &["config", "use-context", "yes"]);
    kubectl(&path, &["config", "set-context", "mine", "--cluster=prod", "--user=bob"]);
    let rewritten = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, login(Some(&rewritten), "second", &["team-a"])).expect("write");
    let contexts = kubectl(&path, &["config", "get-contexts", "-o", "name"]).expect("kubectl");
    let mut contexts: Vec<&str> = contexts.lines().collect();
    contexts.sort_unstable();
    assert_eq!(contexts, ["127.0.0.1:6443", "mine", "prod", "team-a"]);
    let current = kubectl(&path, &["config", "current-context"]).expect("kubectl");
    assert_eq!(current.trim(), "127.0.0.1:6443", "the old current context `yes` is gone");
}
