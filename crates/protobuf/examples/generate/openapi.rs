//! The kinds the table serves (as k8s-openapi types) and the JSON property names of every
//! definition reachable from them, read from k8s-openapi's schemars schemas.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::{
    admissionregistration, apps, authentication, authorization, autoscaling, batch, certificates, coordination, core,
    discovery, events, networking, node, policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use schemars::{JsonSchema, SchemaGenerator};

/// One served kind.
pub struct Root {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// k8s-openapi definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub definition: String,
}

/// Properties of one k8s-openapi definition.
#[derive(Default)]
pub struct Definition {
    pub properties: Vec<String>,
    pub required: BTreeSet<String>,
}

pub struct OpenApi {
    pub roots: Vec<Root>,
    pub definitions: BTreeMap<String, Definition>,
}

fn root<T: k8s_openapi::Resource + JsonSchema>(generator: &mut SchemaGenerator) -> Root {
    generator.subschema_for::<T>();
    Root { api_version: T::API_VERSION, kind: T::KIND, definition: T::schema_name().into_owned() }
}

macro_rules! roots {
    ($generator:ident; $($ty:ty),* $(,)?) => { vec![$(root::<$ty>(&mut $generator)),*] };
}

pub fn load() -> OpenApi {
    let mut generator = SchemaGenerator::default();
    let mut roots = roots![generator;
        core::v1::Binding,
        core::v1::ConfigMap,
        core::v1::Endpoints,
        core::v1::Event,
        core::v1::LimitRange,
        core::v1::Namespace,
        core::v1::Node,
        core::v1::PersistentVolume,
        core::v1::PersistentVolumeClaim,
        core::v1::Pod,
        core::v1::PodTemplate,
        core::v1::ReplicationController,
        core::v1::ResourceQuota,
        core::v1::Secret,
        core::v1::Service,
        core::v1::ServiceAccount,
        apps::v1::ControllerRevision,
        apps::v1::DaemonSet,
        apps::v1::Deployment,
        apps::v1::ReplicaSet,
        apps::v1::StatefulSet,
        autoscaling::v1::HorizontalPodAutoscaler,
        autoscaling::v1::Scale,
        autoscaling::v2::HorizontalPodAutoscaler,
        batch::v1::CronJob,
        batch::v1::Job,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        coordination::v1::Lease,
        authorization::v1::LocalSubjectAccessReview,
        authorization::v1::SelfSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview,
        authorization::v1::SubjectAccessReview,
        authentication::v1::SelfSubjectReview,
        authentication::v1::TokenRequest,
        authentication::v1::TokenReview,
        scheduling::v1::PriorityClass,
        policy::v1::Eviction,
        policy::v1::PodDisruptionBudget,
        networking::v1::Ingress,
        networking::v1::IngressClass,
        networking::v1::NetworkPolicy,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        storage::v1::StorageClass,
        certificates::v1::CertificateSigningRequest,
        admissionregistration::v1::MutatingWebhookConfiguration,
        admissionregistration::v1::ValidatingWebhookConfiguration,
        node::v1::RuntimeClass,
        apiextensions::v1::CustomResourceDefinition,
    ];
    // DeleteOptions travels as a request body (DELETE, Eviction) under the target's group
    // version or meta.k8s.io/v1; it is not a `Resource`, so it is added by hand.
    type DeleteOptions = k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
    generator.subschema_for::<DeleteOptions>();
    let delete_options = DeleteOptions::schema_name().into_owned();
    let mut versions: BTreeSet<&'static str> = roots.iter().map(|r| r.api_version).collect();
    versions.insert("meta.k8s.io/v1");
    for api_version in versions {
        roots.push(Root { api_version, kind: "DeleteOptions", definition: delete_options.clone() });
    }

    let mut definitions = BTreeMap::new();
    for (name, schema) in generator.definitions() {
        let mut definition = Definition::default();
        if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
            definition.properties = properties.keys().cloned().collect();
        }
        if let Some(required) = schema.get("required").and_then(|r| r.as_array()) {
            definition.required = required.iter().filter_map(|r| r.as_str().map(str::to_string)).collect();
        }
        definitions.insert(name.clone(), definition);
    }
    OpenApi { roots, definitions }
}
