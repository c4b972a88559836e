//! Compatibility: several served versions of one kind, server-side apply conflicts, dry runs.

mod common;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 1}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn served_versions_convert() {
    let t = common::start().await;
    t.ok_in(&["apply", "-f", "-"], CRD);
    t.ok(&["wait", "--for", "condition=Established", "crd/gadgets.example.com", "--timeout=20s"]);
    let old = "apiVersion: example.com/v1alpha1\nkind: Gadget\nmetadata: {name: g1}\nspec: {size: 2}\n";
    common::eventually("gadgets are served", || t.kubectl_in(&["apply", "-f", "-"], old).ok).await;
    assert_eq!(t.ok(&["get", "gadgets.v1.example.com", "g1", "-o", "jsonpath={.apiVersion}"]), "example.com/v1");
    assert_eq!(
        t.ok(&["get", "gadgets.v1alpha1.example.com", "g1", "-o", "jsonpath={.apiVersion}"]),
        "example.com/v1alpha1"
    );
    // The preferred (highest) version is what plain `gadgets` resolves to.
    assert_eq!(t.ok(&["get", "gadgets", "g1", "-o", "jsonpath={.apiVersion}"]), "example.com/v1");
    // Defaults from the v1 schema apply to objects written at v1.
    t.ok_in(&["apply", "-f", "-"], "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g2}\nspec: {}\n");
    assert_eq!(t.ok(&["get", "gadget", "g2", "-o", "jsonpath={.spec.size}"]), "1");
    let stored = t.ok(&["get", "crd", "gadgets.example.com", "-o", "jsonpath={.status.storedVersions}"]);
    assert!(stored.contains("v1"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_conflicts_between_managers() {
    let t = common::start().await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: one, b: two}\n";
    t.ok_in(&["apply", "--server-side", "--field-manager", "alice", "-f", "-"], cm);
    let err = t.kubectl_in(
        &["apply", "--server-side", "--field-manager", "bob", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: changed}\n",
    );
    assert!(!err.ok && err.stderr.contains("conflict") && err.stderr.contains("alice"), "{}", err.stderr);
    t.ok_in(
        &["apply", "--server-side", "--force-conflicts", "--field-manager", "bob", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: changed}\n",
    );
    assert_eq!(t.ok(&["get", "cm", "shared", "-o", "jsonpath={.data.a}"]), "changed");
    // alice stops managing b: it is removed, since nobody else owns it.
    t.ok_in(
        &["apply", "--server-side", "--field-manager", "alice", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {}\n",
    );
    assert_eq!(t.ok(&["get", "cm", "shared", "-o", "jsonpath={.data}"]), r#"{"a":"changed"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_changes_nothing() {
    let t = common::start().await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {a: b}\n";
    t.ok_in(&["apply", "--dry-run=server", "-f", "-"], cm);
    assert!(!t.kubectl(&["get", "cm", "dry"]).ok, "a server dry run must not create");
    t.ok_in(&["apply", "-f", "-"], cm);
    t.ok(&["delete", "cm", "dry", "--dry-run=server"]);
    t.ok(&["get", "cm", "dry"]);
}
