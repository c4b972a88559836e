//! The built-in kinds, each backed by its k8s-openapi type so its full upstream shape applies.

use k8s_openapi::api::{apps, authentication, authorization, coordination, core, rbac, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{Resource, ScalePaths, Validation};

/// The object as its k8s-openapi type sees it. Read from a borrowed value, so the caller keeps
/// the input to compare (unknown fields) without copying it first.
/// The object as its type encodes it, `None` when that is the object itself (most writes: a
/// status merged into a stored pod, a create from a typed client), found without encoding it.
fn normalize<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Option<Value>, String> {
    let typed = T::deserialize(v).map_err(|e| e.to_string())?;
    if super::same_value::same_value(&typed, v) {
        return Ok(None);
    }
    serde_json::to_value(typed).map(Some).map_err(|e| e.to_string())
}

fn schema<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

struct Spec {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    namespaced: bool,
    status: bool,
    scale: bool,
    categories: &'static [&'static str],
    review: bool,
}

fn build<T>(s: Spec) -> Resource
where
    T: DeserializeOwned + Serialize + schemars::JsonSchema,
{
    Resource {
        group: s.group.into(),
        version: "v1".into(),
        kind: s.kind.into(),
        list_kind: format!("{}List", s.kind),
        plural: s.plural.into(),
        singular: s.kind.to_lowercase(),
        short_names: s.short.iter().map(|x| x.to_string()).collect(),
        categories: s.categories.iter().map(|x| x.to_string()).collect(),
        namespaced: s.namespaced,
        status: s.status,
        scale: s.scale.then(|| ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".status.selector".into()),
        }),
        strategic_merge: true,
        storage_version: "v1".into(),
        validation: Validation::Builtin {
            normalize: normalize::<T>,
            schema: schema::<T>,
            schema_name: <T as schemars::JsonSchema>::schema_name,
        },
        columns: Vec::new(),
        crd: None,
        review: s.review,
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// Every built-in resource, in the order discovery lists them.
pub fn builtin_resources() -> Vec<Resource> {
    let spec = |group, kind, plural, short, namespaced, status, categories| Spec {
        group,
        kind,
        plural,
        short,
        namespaced,
        status,
        scale: false,
        categories,
        review: false,
    };
    vec![
        build::<core::v1::Namespace>(spec("", "Namespace", "namespaces", &["ns"], false, true, NONE)),
        build::<core::v1::ConfigMap>(spec("", "ConfigMap", "configmaps", &["cm"], true, false, NONE)),
        build::<core::v1::Secret>(spec("", "Secret", "secrets", &[], true, false, NONE)),
        build::<core::v1::Event>(spec("", "Event", "events", &["ev"], true, false, NONE)),
        build::<core::v1::ServiceAccount>(spec("", "ServiceAccount", "serviceaccounts", &["sa"], true, false, NONE)),
        build::<core::v1::ResourceQuota>(spec("", "ResourceQuota", "resourcequotas", &["quota"], true, true, NONE)),
        build::<core::v1::LimitRange>(spec("", "LimitRange", "limitranges", &["limits"], true, false, NONE)),
        build::<core::v1::Node>(spec("", "Node", "nodes", &["no"], false, true, NONE)),
        build::<core::v1::Pod>(spec("", "Pod", "pods", &["po"], true, true, ALL)),
        build::<core::v1::Service>(spec("", "Service", "services", &["svc"], true, true, ALL)),
        build::<core::v1::PersistentVolumeClaim>(spec(
            "",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            &["pvc"],
            true,
            true,
            NONE,
        )),
        build::<core::v1::PersistentVolume>(spec(
            "",
            "PersistentVolume",
            "persistentvolumes",
            &["pv"],
            false,
            true,
            NONE,
        )),
        build::<core::v1::Endpoints>(spec("", "Endpoints", "endpoints", &["ep"], true, false, NONE)),
        build::<apps::v1::Deployment>(Spec {
            scale: true,
            ..spec("apps", "Deployment", "deployments", &["deploy"], true, true, ALL)
        }),
        build::<apps::v1::ReplicaSet>(Spec {
            scale: true,
            ..spec("apps", "ReplicaSet", "replicasets", &["rs"], true, true, ALL)
        }),
        build::<storage::v1::StorageClass>(spec(
            "storage.k8s.io",
            "StorageClass",
            "storageclasses",
            &["sc"],
            false,
            false,
            NONE,
        )),
        build::<coordination::v1::Lease>(spec("coordination.k8s.io", "Lease", "leases", &[], true, false, NONE)),
        build::<apiextensions::CustomResourceDefinition>(spec(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            true,
            NONE,
        )),
        build::<authentication::v1::SelfSubjectReview>(Spec {
            review: true,
            ..spec("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", &[], false, false, NONE)
        }),
        build::<authorization::v1::SelfSubjectAccessReview>(Spec {
            review: true,
            ..spec(
                "authorization.k8s.io",
                "SelfSubjectAccessReview",
                "selfsubjectaccessreviews",
                &[],
                false,
                false,
                NONE,
            )
        }),
        build::<authorization::v1::SelfSubjectRulesReview>(Spec {
            review: true,
            ..spec("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", &[], false, false, NONE)
        }),
        build::<rbac::v1::Role>(spec("rbac.authorization.k8s.io", "Role", "roles", &[], true, false, NONE)),
        build::<rbac::v1::ClusterRole>(spec(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            false,
            NONE,
        )),
        build::<rbac::v1::RoleBinding>(spec(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            false,
            NONE,
        )),
        build::<rbac::v1::ClusterRoleBinding>(spec(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            false,
            NONE,
        )),
    ]
}
