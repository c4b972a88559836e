//! Compatibility: CRDs, finalizers, garbage collection, namespace deletion, wait and watch.

mod common;

use serde_json::Value;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, enum: [red, blue]}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_resources() {
    let t = common::start().await;
    t.ok_in(&["apply", "-f", "-"], CRD);
    t.ok(&["wait", "--for", "condition=Established", "crd/widgets.example.com", "--timeout=20s"]);
    let w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, color: red}\n";
    common::eventually("widgets are served", || t.kubectl_in(&["apply", "-f", "-"], w).ok).await;
    let table = t.ok(&["get", "wd"]);
    assert!(table.contains("SIZE") && table.contains('3'), "{table}");
    let err = t.kubectl_in(&["apply", "-f", "-"], &w.replace("size: 3", "size: 0").replace("w1", "w2"));
    assert!(!err.ok && err.stderr.contains("spec.size"), "{}", err.stderr);
    let err = t.kubectl_in(&["apply", "-f", "-"], &w.replace("red", "pink").replace("w1", "w3"));
    assert!(!err.ok && err.stderr.contains("Unsupported value"), "{}", err.stderr);
    // Custom resources take merge patches, and status only through the subresource.
    t.ok(&["patch", "widget", "w1", "--type", "merge", "-p", r#"{"spec":{"size":4},"status":{"ready":true}}"#]);
    let obj: Value = serde_json::from_str(&t.ok(&["get", "widget", "w1", "-o", "json"])).expect("json");
    assert_eq!(obj["spec"]["size"], 4);
    assert!(obj.get("status").is_none(), "status changed through the main resource: {obj}");
    t.ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"ready":true}}"#,
    ]);
    assert_eq!(t.ok(&["get", "widget", "w1", "-o", "jsonpath={.status.ready}"]), "true");
    let explain = t.ok(&["explain", "widgets.spec"]);
    assert!(explain.contains("size"), "{explain}");
    t.ok(&["delete", "crd", "widgets.example.com"]);
    common::eventually("the CRD and its kinds are gone", || !t.kubectl(&["get", "crd", "widgets.example.com"]).ok)
        .await;
    assert!(!t.ok(&["api-resources"]).contains("widgets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finalizers_and_garbage_collection() {
    let t = common::start().await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n";
    t.ok_in(&["apply", "-f", "-"], cm);
    t.ok(&["delete", "cm", "held", "--wait=false"]);
    let ts = t.ok(&["get", "cm", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert!(!ts.is_empty(), "deletionTimestamp should be set");
    t.ok(&["patch", "cm", "held", "--type", "json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
    assert!(!t.kubectl(&["get", "cm", "held"]).ok, "object should be gone once its finalizer is removed");

    t.ok_in(&["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owner}\n");
    let uid = t.ok(&["get", "cm", "owner", "-o", "jsonpath={.metadata.uid}"]);
    let dependent = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dep\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}\n"
    );
    t.ok_in(&["apply", "-f", "-"], &dependent);
    t.ok(&["delete", "cm", "owner"]);
    common::eventually("the dependent is collected", || !t.kubectl(&["get", "secret", "dep"]).ok).await;

    // Orphan propagation keeps the dependent and drops its ownerReference.
    t.ok_in(&["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owner2}\n");
    let uid = t.ok(&["get", "cm", "owner2", "-o", "jsonpath={.metadata.uid}"]);
    let dep2 = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dep2\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner2, uid: {uid}}}\n"
    );
    t.ok_in(&["apply", "-f", "-"], &dep2);
    t.ok(&["delete", "cm", "owner2", "--cascade=orphan"]);
    common::eventually("the owner is gone", || !t.kubectl(&["get", "cm", "owner2"]).ok).await;
    let refs = t.ok(&["get", "secret", "dep2", "-o", "jsonpath={.metadata.ownerReferences}"]);
    assert_eq!(refs, "", "ownerReferences should be removed");

    // Foreground: the owner waits for its dependents.
    t.ok_in(&["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owner3}\n");
    let uid = t.ok(&["get", "cm", "owner3", "-o", "jsonpath={.metadata.uid}"]);
    let dep3 = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dep3\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner3, uid: {uid}}}\n"
    );
    t.ok_in(&["apply", "-f", "-"], &dep3);
    t.ok(&["delete", "cm", "owner3", "--cascade=foreground"]);
    common::eventually("foreground deletion finishes", || {
        !t.kubectl(&["get", "cm", "owner3"]).ok && !t.kubectl(&["get", "secret", "dep3"]).ok
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_namespace_deletes_its_content() {
    let t = common::start().await;
    t.ok(&["create", "namespace", "team-a"]);
    t.ok(&["-n", "team-a", "create", "configmap", "c1", "--from-literal=a=b"]);
    t.ok(&["-n", "team-a", "create", "secret", "generic", "s1", "--from-literal=a=b"]);
    t.ok(&["delete", "namespace", "team-a", "--timeout=30s"]);
    assert!(!t.kubectl(&["get", "ns", "team-a"]).ok);
    assert!(!t.kubectl(&["-n", "team-a", "get", "cm", "c1"]).ok);
    // The name is free again, and empty.
    t.ok(&["create", "namespace", "team-a"]);
    assert_eq!(t.ok(&["-n", "team-a", "get", "cm", "-o", "name"]).trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_watch_streams_changes() {
    let t = common::start().await;
    t.ok(&["create", "configmap", "w0"]);
    let kubeconfig = t.kubeconfig().to_path_buf();
    let home = t.home.clone();
    let watcher = std::process::Command::new("kubectl")
        .env("HOME", &home)
        .env("KUBECONFIG", &kubeconfig)
        .args(["get", "cm", "-w", "--request-timeout=8s", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    t.ok(&["create", "configmap", "w1"]);
    t.ok(&["delete", "configmap", "w0"]);
    let out = tokio::task::spawn_blocking(move || watcher.wait_with_output()).await.expect("join").expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configmap/w0") && text.contains("configmap/w1"), "watch output:\n{text}");
}
