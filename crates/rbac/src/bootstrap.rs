//! The built-in ClusterRoles and ClusterRoleBindings, as upstream's bootstrap policy
//! (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`, rendered in its
//! `testdata/cluster-roles.yaml`) creates them, as API JSON ready to store.
//!
//! `admin`, `edit` and `view` carry upstream's `aggregationRule`s and labels (`edit` aggregates
//! into `admin`, `view` into `edit`; a CRD's roles join with
//! `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}: "true"`), and ship with their rules
//! already expanded from `system:aggregate-to-{admin,edit,view}`, exactly as the aggregation
//! controller would leave them. The rules name every upstream kind, including ones Canopy does
//! not serve yet (they match nothing until it does).
//!
//! Owns the objects; creating them on first start is the API server's.

use serde_json::{Map, Value, json};

use crate::aggregate::effective_rules;
use crate::objects::{Kind, RoleObject};
use crate::rule::PolicyRule;
use crate::user::{ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, SYSTEM_MASTERS};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// Label key that makes a ClusterRole part of `admin`.
pub const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
/// Label key that makes a ClusterRole part of `edit` (and so of `admin`).
pub const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
/// Label key that makes a ClusterRole part of `view` (and so of `edit` and `admin`).
pub const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// A rule with its lists sorted, as upstream's rule builder stores them.
fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let mut r = PolicyRule::new(verbs).groups(groups).resources(resources);
    r.verbs.sort();
    r.api_groups.sort();
    r.resources.sort();
    r
}

fn urls(verbs: &[&str], paths: &[&str]) -> PolicyRule {
    let mut r = PolicyRule::new(verbs).urls(paths);
    r.non_resource_urls.sort();
    r
}

fn metadata(name: &str, extra_labels: &[&str]) -> Value {
    let mut labels = Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    for label in extra_labels {
        labels.insert((*label).into(), "true".into());
    }
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role_json(name: &str, labels: &[&str], rules: &[PolicyRule], aggregate_from: Option<&str>) -> Value {
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "rules": rules.iter().map(PolicyRule::to_json).collect::<Vec<_>>(),
    });
    if let Some(label) = aggregate_from {
        role["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
    }
    role
}

/// `cluster-admin`: everything, everywhere.
pub fn cluster_admin() -> Value {
    let rules = [rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])];
    cluster_role_json("cluster-admin", &[], &rules, None)
}

/// `system:basic-user`: a user may ask what they may do and who they are.
pub fn basic_user() -> Value {
    let rules = [
        rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]),
    ];
    cluster_role_json("system:basic-user", &[], &rules, None)
}

/// `system:discovery`: API discovery, OpenAPI, version and health.
pub fn discovery() -> Value {
    let paths = [
        "/livez",
        "/readyz",
        "/healthz",
        "/version",
        "/version/",
        "/openapi",
        "/openapi/*",
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
    ];
    cluster_role_json("system:discovery", &[], &[urls(&["get"], &paths)], None)
}

/// `system:public-info-viewer`: version and health, also for anonymous users.
pub fn public_info_viewer() -> Value {
    let rules = [urls(&["get"], &["/livez", "/readyz", "/healthz", "/version", "/version/"])];
    cluster_role_json("system:public-info-viewer", &[], &rules, None)
}

/// The group host agents authenticate in, and the user the scheduler runs as.
pub const NODES_GROUP: &str = "system:nodes";
pub const SCHEDULER_USER: &str = "system:kube-scheduler";

/// `system:node`: what a host agent needs to register its Node, heartbeat its Lease, run the
/// pods bound to it and report on them (upstream's role, without the node authorizer's
/// per-node narrowing).
pub fn node() -> Value {
    let rules = [
        rule(&["create", "delete", "get", "list", "patch", "update", "watch"], &[""], &["nodes"]),
        rule(&["patch", "update"], &[""], &["nodes/status", "pods/status"]),
        rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
        rule(&["create"], &[""], &["pods/eviction", "serviceaccounts/token"]),
        rule(READ, &[""], &["configmaps", "secrets", "services", "persistentvolumeclaims", "persistentvolumes"]),
        rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
        rule(&["create", "delete", "get", "patch", "update"], &["coordination.k8s.io"], &["leases"]),
    ];
    cluster_role_json("system:node", &[], &rules, None)
}

/// `system:kube-scheduler`: watch pods and hosts, bind pods, report why one cannot be placed,
/// and hold the leader Lease.
pub fn scheduler() -> Value {
    let rules = [
        rule(READ, &[""], &["pods", "nodes", "namespaces"]),
        rule(&["create"], &[""], &["pods/binding", "bindings"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
        rule(&["create", "get", "list", "update", "watch"], &["coordination.k8s.io"], &["leases"]),
    ];
    cluster_role_json("system:kube-scheduler", &[], &rules, None)
}

fn aggregate_to_admin_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews"]),
        rule(READ_WRITE, &["rbac.authorization.k8s.io"], &["roles", "rolebindings"]),
    ]
}

fn aggregate_to_edit_rules() -> Vec<PolicyRule> {
    vec![
        // Read on escalating resources.
        rule(READ, &[""], &["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"]),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(WRITE, &[""], &["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(
            WRITE,
            &[""],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["jobs", "cronjobs"]),
        rule(
            WRITE,
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "ingresses",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(WRITE, &["networking.k8s.io"], &["networkpolicies", "ingresses"]),
        rule(READ_WRITE, &["coordination.k8s.io"], &["leases"]),
    ]
}

fn aggregate_to_view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        // Reading namespaces at the namespace scope means reading *this* namespace.
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        rule(READ, &["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, &["batch"], &["jobs", "cronjobs", "cronjobs/status", "jobs/status"]),
        rule(
            READ,
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
        ),
        rule(READ, &["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, &["networking.k8s.io"], &["networkpolicies", "ingresses", "ingresses/status"]),
    ]
}

/// `system:aggregate-to-admin`: what `admin` adds to `edit` (granting roles in the namespace).
pub fn aggregate_to_admin() -> Value {
    cluster_role_json("system:aggregate-to-admin", &[AGGREGATE_TO_ADMIN], &aggregate_to_admin_rules(), None)
}

/// `system:aggregate-to-edit`: what `edit` adds to `view` (writes, secrets, exec).
pub fn aggregate_to_edit() -> Value {
    cluster_role_json("system:aggregate-to-edit", &[AGGREGATE_TO_EDIT], &aggregate_to_edit_rules(), None)
}

/// `system:aggregate-to-view`: reads of non-escalating resources.
pub fn aggregate_to_view() -> Value {
    cluster_role_json("system:aggregate-to-view", &[AGGREGATE_TO_VIEW], &aggregate_to_view_rules(), None)
}

/// `admin`, `edit` and `view` with their rules expanded, in that order.
fn user_facing_roles() -> [Value; 3] {
    let shells = [
        cluster_role_json("admin", &[], &[], Some(AGGREGATE_TO_ADMIN)),
        cluster_role_json("edit", &[AGGREGATE_TO_ADMIN], &[], Some(AGGREGATE_TO_EDIT)),
        cluster_role_json("view", &[AGGREGATE_TO_EDIT], &[], Some(AGGREGATE_TO_VIEW)),
    ];
    let sources = [aggregate_to_admin(), aggregate_to_edit(), aggregate_to_view()];
    let parsed = shells
        .iter()
        .chain(&sources)
        .map(|role| RoleObject::parse(role, Kind::ClusterRole).expect("bootstrap cluster roles are well-formed"))
        .collect();
    let effective = effective_rules(parsed);
    shells.map(|mut role| {
        let name = role["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let rules = effective.get(&name).map(|rules| rules.iter().map(PolicyRule::to_json).collect());
        role["rules"] = Value::Array(rules.unwrap_or_default());
        role
    })
}

/// `admin`: everything in a namespace, including granting roles there, but not the namespace's
/// quota, limits or status.
pub fn admin() -> Value {
    let [admin, _, _] = user_facing_roles();
    admin
}

/// `edit`: read and write most objects in a namespace, including secrets and exec, but not
/// roles and bindings.
pub fn edit() -> Value {
    let [_, edit, _] = user_facing_roles();
    edit
}

/// `view`: read most objects in a namespace, but not secrets.
pub fn view() -> Value {
    let [_, _, view] = user_facing_roles();
    view
}

/// Every built-in ClusterRole: `cluster-admin`, `admin`, `edit`, `view`, the three
/// `system:aggregate-to-*` roles, `system:basic-user`, `system:discovery` and
/// `system:public-info-viewer`.
pub fn cluster_roles() -> Vec<Value> {
    let [admin, edit, view] = user_facing_roles();
    vec![
        cluster_admin(),
        admin,
        edit,
        view,
        aggregate_to_admin(),
        aggregate_to_edit(),
        aggregate_to_view(),
        basic_user(),
        discovery(),
        public_info_viewer(),
        node(),
        scheduler(),
    ]
}

fn cluster_role_binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> =
        groups.iter().map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g})).collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name, &[]),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    })
}

fn scheduler_binding() -> Value {
    let mut b = cluster_role_binding("system:kube-scheduler", &[]);
    b["subjects"] = json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": SCHEDULER_USER}]);
    b
}

/// The built-in ClusterRoleBindings: `cluster-admin` to `system:masters`, `system:basic-user` and
/// `system:discovery` to `system:authenticated`, and `system:public-info-viewer` to
/// `system:authenticated` and `system:unauthenticated`.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        cluster_role_binding("cluster-admin", &[SYSTEM_MASTERS]),
        cluster_role_binding("system:basic-user", &[ALL_AUTHENTICATED]),
        cluster_role_binding("system:discovery", &[ALL_AUTHENTICATED]),
        cluster_role_binding("system:public-info-viewer", &[ALL_AUTHENTICATED, ALL_UNAUTHENTICATED]),
        cluster_role_binding("system:node", &[NODES_GROUP]),
        scheduler_binding(),
    ]
}
