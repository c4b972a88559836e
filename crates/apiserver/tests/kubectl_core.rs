//! Compatibility: the real kubectl against a real server, for the everyday verbs.

mod common;

use serde_json::Value;

const CM: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  labels: {app: web}
data:
  color: blue
"#;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_and_namespaces() {
    let t = common::start().await;
    let out = t.ok(&["get", "namespaces"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(ns), "{ns} missing from:\n{out}");
    }
    assert!(out.contains("STATUS") && out.contains("Active"), "table columns missing:\n{out}");
    let res = t.ok(&["api-resources"]);
    for r in ["configmaps", "deployments", "customresourcedefinitions", "leases", "clusterrolebindings"] {
        assert!(res.contains(r), "{r} missing from api-resources:\n{res}");
    }
    let version = t.ok(&["version", "-o", "json"]);
    assert_eq!(json(&version)["serverVersion"]["minor"], "32");
    let explain = t.ok(&["explain", "pods.spec.containers"]);
    assert!(explain.contains("image"), "explain output:\n{explain}");
    assert!(t.ok(&["get", "--raw", "/healthz"]).contains("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn configmap_lifecycle() {
    let t = common::start().await;
    t.ok_in(&["apply", "-f", "-"], CM);
    let obj = json(&t.ok(&["get", "cm", "demo", "-o", "json"]));
    assert_eq!(obj["data"]["color"], "blue");
    assert!(obj["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(obj["metadata"]["resourceVersion"].as_str().is_some());
    let yaml = t.ok(&["get", "configmap", "demo", "-o", "yaml"]);
    assert!(yaml.contains("color: blue"), "{yaml}");
    assert_eq!(t.ok(&["get", "cm", "demo", "-o", "jsonpath={.data.color}"]), "blue");
    let wide = t.ok(&["get", "cm", "-o", "wide"]);
    assert!(wide.contains("DATA") && wide.contains("demo"), "{wide}");

    // Re-apply with a change: client-side apply sends a strategic merge patch.
    t.ok_in(&["apply", "-f", "-"], &CM.replace("blue", "green"));
    assert_eq!(t.ok(&["get", "cm", "demo", "-o", "jsonpath={.data.color}"]), "green");

    t.ok(&["label", "cm", "demo", "tier=front"]);
    t.ok(&["annotate", "cm", "demo", "note=hello"]);
    let obj = json(&t.ok(&["get", "cm", "demo", "-o", "json"]));
    assert_eq!(obj["metadata"]["labels"]["tier"], "front");
    assert_eq!(obj["metadata"]["annotations"]["note"], "hello");
    let selected = t.ok(&["get", "cm", "-l", "tier=front", "-o", "name"]);
    assert_eq!(selected.trim(), "configmap/demo");
    assert_eq!(t.ok(&["get", "cm", "-l", "tier!=front", "-o", "name"]).trim(), "");

    t.ok(&["patch", "cm", "demo", "--type", "merge", "-p", r#"{"data":{"size":"L"}}"#]);
    t.ok(&["patch", "cm", "demo", "--type", "json", "-p", r#"[{"op":"replace","path":"/data/color","value":"red"}]"#]);
    t.ok(&["patch", "cm", "demo", "-p", r#"{"data":{"shape":"round"}}"#]);
    let obj = json(&t.ok(&["get", "cm", "demo", "-o", "json"]));
    assert_eq!(obj["data"], serde_json::json!({"color": "red", "size": "L", "shape": "round"}));

    let mut replaced = obj.clone();
    replaced["data"] = serde_json::json!({"only": "this"});
    t.ok_in(&["replace", "-f", "-"], &replaced.to_string());
    assert_eq!(t.ok(&["get", "cm", "demo", "-o", "jsonpath={.data}"]), r#"{"only":"this"}"#);
    // A replace with the stale resourceVersion is a conflict.
    let err = t.kubectl_in(&["replace", "-f", "-"], &replaced.to_string());
    assert!(!err.ok && err.stderr.contains("the object has been modified"), "{}", err.stderr);

    t.ok(&["delete", "cm", "demo"]);
    let err = t.fails(&["get", "cm", "demo"]);
    assert!(err.contains(r#"configmaps "demo" not found"#), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_are_kubernetes_statuses() {
    let t = common::start().await;
    let err = t.fails(&["get", "pods", "nope"]);
    assert!(err.contains(r#"pods "nope" not found"#), "{err}");
    t.ok_in(&["create", "-f", "-"], CM);
    let err = t.kubectl_in(&["create", "-f", "-"], CM);
    assert!(!err.ok && err.stderr.contains("already exists"), "{}", err.stderr);
    let bad = CM.replace("name: demo", "name: Bad_Name");
    let err = t.kubectl_in(&["create", "-f", "-"], &bad);
    assert!(!err.ok && err.stderr.contains("RFC 1123"), "{}", err.stderr);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    bogusField: 1\n";
    let err = t.kubectl_in(&["create", "-f", "-"], pod);
    assert!(!err.ok && err.stderr.contains("bogusField"), "{}", err.stderr);
    let err = t.fails(&["get", "cm", "-n", "no-such-ns", "x"]);
    assert!(err.contains("not found"), "{err}");
    let err = t.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?resourceVersion=999999&resourceVersionMatch=NotOlderThan",
    ]);
    assert!(err.contains("Too large resource version"), "{err}");
    let err = t.kubectl_in(&["create", "-n", "no-such-ns", "-f", "-"], CM);
    assert!(!err.ok && err.stderr.contains(r#"namespaces "no-such-ns" not found"#), "{}", err.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_kubectl_minor_works() {
    let t = common::start().await;
    let out = t.kubectl_bin("kubectl.1.31", &["apply", "-f", "-"], Some(CM));
    assert!(out.ok, "kubectl 1.31 apply: {}", out.stderr);
    let out = t.kubectl_bin("kubectl.1.31", &["get", "cm", "demo", "-o", "jsonpath={.data.color}"], None);
    assert_eq!(out.stdout, "blue", "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployments_pods_and_describe() {
    let t = common::start().await;
    let deploy = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}]
"#;
    t.ok_in(&["apply", "-f", "-"], deploy);
    let table = t.ok(&["get", "deploy", "-o", "wide"]);
    assert!(table.contains("READY") && table.contains("nginx:1.27"), "{table}");
    // Strategic merge: containers merge by name, env by name.
    t.ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"B","value":"2"}]}]}}}}"#,
    ]);
    let obj = json(&t.ok(&["get", "deploy", "web", "-o", "json"]));
    let c = &obj["spec"]["template"]["spec"]["containers"];
    assert_eq!(c.as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c[0]["image"], "nginx:1.27");
    assert_eq!(c[0]["env"].as_array().map(Vec::len), Some(2), "{c}");
    assert_eq!(obj["metadata"]["generation"], 2);
    t.ok(&["scale", "deploy", "web", "--replicas", "5"]);
    assert_eq!(t.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "5");
    let d = t.ok(&["describe", "deploy", "web"]);
    assert!(d.contains("nginx:1.27"), "{d}");

    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p1}\nspec:\n  containers:\n  - {name: c, image: busybox}\n";
    t.ok_in(&["apply", "-f", "-"], pod);
    let pods = t.ok(&["get", "pods"]);
    assert!(pods.contains("READY") && pods.contains("0/1") && pods.contains("Pending"), "{pods}");
    assert!(t.ok(&["get", "pods", "--field-selector", "status.phase=Pending", "-o", "name"]).contains("pod/p1"));
    let d = t.ok(&["describe", "pod", "p1"]);
    assert!(d.contains("busybox"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_side_apply() {
    let t = common::start().await;
    t.ok_in(&["apply", "--server-side", "-f", "-"], CM);
    assert_eq!(t.ok(&["get", "cm", "demo", "-o", "jsonpath={.data.color}"]), "blue");
    t.ok_in(&["apply", "--server-side", "-f", "-"], &CM.replace("blue", "teal"));
    assert_eq!(t.ok(&["get", "cm", "demo", "-o", "jsonpath={.data.color}"]), "teal");
    let obj = json(&t.ok(&["get", "cm", "demo", "-o", "json", "--show-managed-fields"]));
    let managers: Vec<&str> = obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "managedFields: {}", obj["metadata"]["managedFields"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whoami_and_can_i() {
    let t = common::start().await;
    let who = t.ok(&["auth", "whoami", "-o", "json"]);
    let who = json(&who);
    assert_eq!(who["status"]["userInfo"]["username"], "canopy-admin");
    assert!(who["status"]["userInfo"]["groups"].as_array().is_some_and(|g| g.iter().any(|x| x == "system:masters")));
    assert_eq!(t.ok(&["auth", "can-i", "create", "deployments"]).trim(), "yes");
    assert_eq!(t.ok(&["auth", "can-i", "get", "/healthz"]).trim(), "yes");
    let list = t.ok(&["auth", "can-i", "--list"]);
    assert!(list.contains("*.*"), "{list}");
    // Without the token nothing but the public endpoints answers.
    let out = t.kubectl(&["--token", "not-the-token", "get", "ns"]);
    assert!(!out.ok && out.stderr.contains("Unauthorized"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn impersonation_and_forbidden() {
    let t = common::start().await;
    // The admin may act as anyone; alice holds no permission (RBAC grants come with tenancy).
    let err = t.fails(&["--as", "alice", "get", "configmaps", "-n", "default"]);
    assert!(
        err.contains(r#"configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default""#),
        "{err}"
    );
    let who = json(&t.ok(&["--as", "alice", "--as-group", "devs", "auth", "whoami", "-o", "json"]));
    assert_eq!(who["status"]["userInfo"]["username"], "alice");
    let groups = &who["status"]["userInfo"]["groups"];
    assert!(
        groups
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == "devs") && g.iter().any(|x| x == "system:authenticated")),
        "{groups}"
    );
    assert_eq!(t.kubectl(&["--as", "alice", "auth", "can-i", "list", "pods"]).stdout.trim(), "no");
    // Masters stay masters when impersonated as such.
    assert_eq!(
        t.ok(&["--as", "bob", "--as-group", "system:masters", "auth", "can-i", "delete", "nodes"]).trim(),
        "yes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rbac_grants_and_escalation() {
    let t = common::start().await;
    for r in ["cluster-admin", "admin", "edit", "view"] {
        t.ok(&["get", "clusterrole", r]);
    }
    t.ok(&["create", "namespace", "team-a"]);
    t.ok(&["-n", "team-a", "create", "configmap", "c1", "--from-literal=a=b"]);
    t.ok(&["-n", "team-a", "create", "secret", "generic", "s1", "--from-literal=a=b"]);
    t.ok(&["-n", "team-a", "create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice"]);
    t.ok(&["-n", "team-a", "create", "rolebinding", "bob-edit", "--clusterrole=edit", "--group=devs"]);

    // view: read in its namespace only, no secrets, no writes.
    assert!(t.ok(&["--as", "alice", "-n", "team-a", "get", "cm", "-o", "name"]).contains("configmap/c1"));
    let err = t.fails(&["--as", "alice", "-n", "default", "get", "cm"]);
    assert!(
        err.contains(r#"User "alice" cannot list resource "configmaps" in API group "" in the namespace "default""#),
        "{err}"
    );
    let err = t.fails(&["--as", "alice", "-n", "team-a", "get", "secret", "s1"]);
    assert!(err.contains("forbidden"), "{err}");
    let err = t.fails(&["--as", "alice", "-n", "team-a", "create", "configmap", "c2"]);
    assert!(err.contains("forbidden"), "{err}");
    assert_eq!(t.kubectl(&["--as", "alice", "-n", "team-a", "auth", "can-i", "watch", "pods"]).stdout.trim(), "yes");
    assert_eq!(t.kubectl(&["--as", "alice", "-n", "team-a", "auth", "can-i", "delete", "pods"]).stdout.trim(), "no");
    let rules = t.ok(&["--as", "alice", "-n", "team-a", "auth", "can-i", "--list"]);
    assert!(rules.contains("configmaps") && rules.contains("selfsubjectaccessreviews"), "{rules}");
    // Discovery is open to every authenticated user (system:discovery).
    t.ok(&["--as", "alice", "api-resources"]);

    // edit (through a group): writes, but may not grant admin (escalation), nor touch RBAC.
    t.ok(&["--as", "bob", "--as-group", "devs", "-n", "team-a", "create", "configmap", "c3"]);
    let err = t.fails(&[
        "--as",
        "bob",
        "--as-group",
        "devs",
        "-n",
        "team-a",
        "create",
        "rolebinding",
        "bob-admin",
        "--clusterrole=admin",
        "--user=bob",
    ]);
    assert!(err.contains("forbidden"), "{err}");

    // admin in the namespace may bind edit to someone (holds every rule of it), not cluster-admin.
    t.ok(&["-n", "team-a", "create", "rolebinding", "carol-admin", "--clusterrole=admin", "--user=carol"]);
    t.ok(&["--as", "carol", "-n", "team-a", "create", "rolebinding", "dave-edit", "--clusterrole=edit", "--user=dave"]);
    let err = t.fails(&[
        "--as",
        "carol",
        "-n",
        "team-a",
        "create",
        "rolebinding",
        "dave-root",
        "--clusterrole=cluster-admin",
        "--user=dave",
    ]);
    assert!(err.contains("attempting to grant RBAC permissions not currently held"), "{err}");
    assert!(t.ok(&["--as", "dave", "-n", "team-a", "get", "cm", "-o", "name"]).contains("c1"));

    // Revoking takes effect at once.
    t.ok(&["-n", "team-a", "delete", "rolebinding", "alice-view"]);
    assert!(!t.kubectl(&["--as", "alice", "-n", "team-a", "get", "cm"]).ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn service_account_tokens() {
    let t = common::start().await;
    t.ok(&["create", "namespace", "robots"]);
    t.ok(&["-n", "robots", "create", "serviceaccount", "builder"]);
    t.ok(&[
        "-n",
        "robots",
        "create",
        "rolebinding",
        "builder-view",
        "--clusterrole=view",
        "--serviceaccount=robots:builder",
    ]);
    let token = t.ok(&["-n", "robots", "create", "token", "builder", "--duration=20m"]).trim().to_string();
    assert!(token.starts_with("canopy."), "{token}");
    let who = t.ok(&["--token", &token, "auth", "whoami"]);
    assert!(
        who.contains("system:serviceaccount:robots:builder") && who.contains("system:serviceaccounts:robots"),
        "{who}"
    );
    t.ok(&["--token", &token, "-n", "robots", "get", "configmaps"]);
    assert!(!t.kubectl(&["--token", &token, "-n", "default", "get", "configmaps"]).ok);
    let err = t.fails(&["-n", "robots", "create", "token", "builder", "--duration=1m"]);
    assert!(err.contains("less than 10 minutes"), "{err}");
    // The token is bound to this account: deleting it (even recreating the name) ends the token.
    t.ok(&["-n", "robots", "delete", "serviceaccount", "builder"]);
    t.ok(&["-n", "robots", "create", "serviceaccount", "builder"]);
    let out = t.kubectl(&["--token", &token, "-n", "robots", "get", "configmaps"]);
    assert!(!out.ok && out.stderr.contains("Unauthorized"), "{}", out.stderr);
}
