//! What a `NamespaceConfig` asks for, as Kubernetes objects: the ResourceQuota `canopy-quota`,
//! the LimitRange `canopy-defaults` and one RoleBinding per access entry, all labelled as managed
//! by this controller and owned by the config (so the server's garbage collector removes them
//! with it, also in a namespace that existed before the config).
//!
//! Owns: spec validation and the pure spec -> objects mapping (names, quota keys, defaults,
//! subjects). Talking to the API is `reconcile.rs`'s job.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::status::Message;
use super::types::{AccessEntry, NamespaceConfig, ResourceSpec};
use crate::quantity::{Quantity, QuantityError};

/// The label every object this controller creates carries, with [`MANAGED_BY_VALUE`].
pub const MANAGED_BY_LABEL: &str = "tenancy.canopy.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "namespace-config";
pub const QUOTA_NAME: &str = "canopy-quota";
pub const LIMIT_RANGE_NAME: &str = "canopy-defaults";
pub const ROLE_BINDING_PREFIX: &str = "canopy-access-";

/// The objects a config wants in its namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// `None` when nothing is limited (no quota at all, as in vSphere).
    pub quota: Option<ResourceQuota>,
    /// `None` when no container default is set.
    pub limit_range: Option<LimitRange>,
    pub role_bindings: Vec<RoleBinding>,
    /// Warnings about entries that were ignored.
    pub messages: Vec<Message>,
}

/// A spec the controller refuses; every problem is reported, nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0:?} is not a valid namespace name (a DNS label: at most 63 of a-z, 0-9 and '-', not at either end)")]
    NamespaceName(String),
    #[error("spec.{field}")]
    Quantity {
        field: String,
        #[source]
        source: QuantityError,
    },
    #[error("spec.resourceSpec.{field}: count {value} is negative")]
    NegativeCount { field: &'static str, value: i64 },
    #[error("spec.storageSpecs[{index}].policy {policy:?} does not give a storage class name")]
    Policy { index: usize, policy: String },
    #[error("spec.accessList[{index}]: subject and domain must not be empty")]
    EmptySubject { index: usize },
}

/// `text` as a DNS label: lower case, runs of anything but `a-z0-9` become one `-`, no `-` at
/// either end (`vSAN Default Storage Policy` -> `vsan-default-storage-policy`).
pub fn dns_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty() && name.len() <= 63 && dns_label(name) == name
}

/// The StorageClass a vSphere storage policy is exposed as.
pub fn storage_class(policy: &str) -> String {
    let mut name = dns_label(policy);
    name.truncate(253);
    name.trim_end_matches('-').to_string()
}

/// `canopy-access-<role>-<user|group>-<subject@domain as a DNS label>`.
pub fn role_binding_name(entry: &AccessEntry) -> String {
    let mut name = format!(
        "{ROLE_BINDING_PREFIX}{}-{}-{}",
        entry.role.name_part(),
        entry.subject_type.name_part(),
        dns_label(&entry.identity())
    );
    name.truncate(253);
    name.trim_end_matches('-').to_string()
}

fn meta(name: &str, namespace: &str, owner: Option<&OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    }
}

/// Every problem in the spec.
pub fn validate(config: &NamespaceConfig) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let ns = config.namespace_name();
    if !is_dns_label(ns) {
        errors.push(SpecError::NamespaceName(ns.to_string()));
    }
    let mut quantity = |field: String, q: &Option<Quantity>| {
        if let Some(Err(source)) = q.as_ref().map(Quantity::validate) {
            errors.push(SpecError::Quantity { field, source });
        }
    };
    if let Some(r) = &config.spec.resource_spec {
        for (name, q) in quantities(r) {
            quantity(format!("resourceSpec.{name}"), q);
        }
    }
    for (i, s) in config.spec.storage_specs.iter().enumerate() {
        quantity(format!("storageSpecs[{i}].limit"), &s.limit);
    }
    if let Some(r) = &config.spec.resource_spec {
        for (field, _, count) in counts(r) {
            if let Some(value) = count.filter(|c| *c < 0) {
                errors.push(SpecError::NegativeCount { field, value });
            }
        }
    }
    for (index, s) in config.spec.storage_specs.iter().enumerate() {
        if storage_class(&s.policy).is_empty() {
            errors.push(SpecError::Policy { index, policy: s.policy.clone() });
        }
    }
    for (index, a) in config.spec.access_list.iter().enumerate() {
        if a.subject.trim().is_empty() || a.domain.trim().is_empty() {
            errors.push(SpecError::EmptySubject { index });
        }
    }
    errors
}

fn quantities(r: &ResourceSpec) -> [(&'static str, &Option<Quantity>); 7] {
    [
        ("cpuLimit", &r.cpu_limit),
        ("memoryLimit", &r.memory_limit),
        ("storageRequestLimit", &r.storage_request_limit),
        ("cpuRequestDefault", &r.cpu_request_default),
        ("cpuLimitDefault", &r.cpu_limit_default),
        ("memoryRequestDefault", &r.memory_request_default),
        ("memoryLimitDefault", &r.memory_limit_default),
    ]
}

/// (spec field, quota key, value) of every object-count limit.
fn counts(r: &ResourceSpec) -> [(&'static str, &'static str, Option<i64>); 13] {
    [
        ("podCount", "pods", r.pod_count),
        ("serviceCount", "services", r.service_count),
        ("deploymentCount", "count/deployments.apps", r.deployment_count),
        ("daemonSetCount", "count/daemonsets.apps", r.daemon_set_count),
        ("replicaSetCount", "count/replicasets.apps", r.replica_set_count),
        ("replicationControllerCount", "replicationcontrollers", r.replication_controller_count),
        ("statefulSetCount", "count/statefulsets.apps", r.stateful_set_count),
        ("configMapCount", "configmaps", r.config_map_count),
        ("secretCount", "secrets", r.secret_count),
        ("persistentVolumeClaimCount", "persistentvolumeclaims", r.persistent_volume_claim_count),
        ("jobCount", "count/jobs.batch", r.job_count),
        ("virtualMachineCount", "count/virtualmachines.vmoperator.vmware.com", r.virtual_machine_count),
        ("clusterCount", "count/clusters.cluster.x-k8s.io", r.cluster_count),
    ]
}

/// The quota's `spec.hard`: only the keys the config sets.
pub fn quota_hard(config: &NamespaceConfig) -> BTreeMap<String, K8sQuantity> {
    let mut hard = BTreeMap::new();
    if let Some(r) = &config.spec.resource_spec {
        let limits = [("limits.cpu", &r.cpu_limit), ("limits.memory", &r.memory_limit)];
        for (key, q) in limits.into_iter().chain([("requests.storage", &r.storage_request_limit)]) {
            if let Some(q) = q {
                hard.insert(key.to_string(), K8sQuantity::from(q));
            }
        }
        for (_, key, count) in counts(r) {
            if let Some(c) = count {
                hard.insert(key.to_string(), K8sQuantity(c.to_string()));
            }
        }
    }
    for s in &config.spec.storage_specs {
        if let Some(limit) = &s.limit {
            let key = format!("{}.storageclass.storage.k8s.io/requests.storage", storage_class(&s.policy));
            hard.insert(key, K8sQuantity::from(limit));
        }
    }
    hard
}

fn limit_range_item(r: &ResourceSpec) -> Option<LimitRangeItem> {
    let map = |cpu: &Option<Quantity>, memory: &Option<Quantity>| {
        let m: BTreeMap<String, K8sQuantity> = [("cpu", cpu), ("memory", memory)]
            .into_iter()
            .filter_map(|(k, q)| q.as_ref().map(|q| (k.to_string(), K8sQuantity::from(q))))
            .collect();
        (!m.is_empty()).then_some(m)
    };
    let default = map(&r.cpu_limit_default, &r.memory_limit_default);
    let default_request = map(&r.cpu_request_default, &r.memory_request_default);
    (default.is_some() || default_request.is_some()).then(|| LimitRangeItem {
        type_: "Container".into(),
        default,
        default_request,
        ..Default::default()
    })
}

/// The objects `config` wants in its namespace; `owner` is the config's controller reference.
/// Call [`validate`] first: this maps whatever it is given.
pub fn desired(config: &NamespaceConfig, owner: Option<&OwnerReference>) -> Desired {
    let ns = config.namespace_name();
    let hard = quota_hard(config);
    let quota = (!hard.is_empty()).then(|| ResourceQuota {
        metadata: meta(QUOTA_NAME, ns, owner),
        spec: Some(ResourceQuotaSpec { hard: Some(hard), ..Default::default() }),
        status: None,
    });
    let limit_range = config.spec.resource_spec.as_ref().and_then(limit_range_item).map(|item| LimitRange {
        metadata: meta(LIMIT_RANGE_NAME, ns, owner),
        spec: Some(LimitRangeSpec { limits: vec![item] }),
    });
    let mut role_bindings: Vec<RoleBinding> = Vec::new();
    let mut messages = Vec::new();
    for (i, entry) in config.spec.access_list.iter().enumerate() {
        let name = role_binding_name(entry);
        if role_bindings.iter().any(|rb| rb.metadata.name.as_deref() == Some(name.as_str())) {
            messages.push(Message::warning(format!(
                "spec.accessList[{i}] ({} {}, {:?}) repeats an earlier entry (RoleBinding {name}); ignored",
                entry.subject_type.rbac_kind(),
                entry.identity(),
                entry.role
            )));
            continue;
        }
        role_bindings.push(RoleBinding {
            metadata: meta(&name, ns, owner),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: entry.role.cluster_role().into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: entry.subject_type.rbac_kind().into(),
                name: entry.identity(),
                namespace: None,
            }]),
        });
    }
    Desired { quota, limit_range, role_bindings, messages }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace_config::types::{AccessRole, NamespaceConfigSpec, StorageSpec, SubjectType};

    fn entry(t: SubjectType, subject: &str, role: AccessRole) -> AccessEntry {
        AccessEntry { subject_type: t, subject: subject.into(), domain: "vsphere.local".into(), role }
    }

    fn config() -> NamespaceConfig {
        NamespaceConfig::new(
            "team-a",
            NamespaceConfigSpec {
                resource_spec: Some(ResourceSpec {
                    cpu_limit: Some("4".into()),
                    memory_limit: Some("8Gi".into()),
                    cpu_request_default: Some("100m".into()),
                    memory_limit_default: Some("256Mi".into()),
                    pod_count: Some(10),
                    virtual_machine_count: Some(3),
                    ..Default::default()
                }),
                storage_specs: vec![
                    StorageSpec { policy: "vSAN Default Storage Policy".into(), limit: Some("100Gi".into()) },
                    StorageSpec { policy: "gold".into(), limit: None },
                ],
                access_list: vec![
                    entry(SubjectType::User, "alice", AccessRole::Owner),
                    entry(SubjectType::Group, "Dev Ops", AccessRole::View),
                    entry(SubjectType::User, "alice", AccessRole::Owner),
                ],
                ..Default::default()
            },
        )
    }

    #[test]
    fn quota_has_exactly_the_keys_set() {
        let keys: Vec<String> = quota_hard(&config()).into_keys().collect();
        assert_eq!(
            keys,
            [
                "count/virtualmachines.vmoperator.vmware.com",
                "limits.cpu",
                "limits.memory",
                "pods",
                "vsan-default-storage-policy.storageclass.storage.k8s.io/requests.storage",
            ]
        );
    }

    #[test]
    fn nothing_limited_means_no_quota_and_no_limit_range() {
        let d = desired(&NamespaceConfig::new("free", NamespaceConfigSpec::default()), None);
        assert_eq!((d.quota, d.limit_range, d.role_bindings.len()), (None, None, 0));
    }

    #[test]
    fn defaults_become_a_container_limit_range() {
        let d = desired(&config(), None);
        let item = &d.limit_range.expect("limit range").spec.expect("spec").limits[0];
        assert_eq!(item.type_, "Container");
        assert_eq!(item.default.as_ref().map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec!["memory".into()]));
        assert_eq!(item.default_request.as_ref().and_then(|m| m.get("cpu")).map(|q| q.0.as_str()), Some("100m"));
    }

    #[test]
    fn access_entries_become_role_bindings_named_after_role_type_and_identity() {
        let d = desired(&config(), None);
        let names: Vec<_> = d.role_bindings.iter().filter_map(|rb| rb.metadata.name.clone()).collect();
        assert_eq!(
            names,
            ["canopy-access-owner-user-alice-vsphere-local", "canopy-access-view-group-dev-ops-vsphere-local"]
        );
        let alice = &d.role_bindings[0];
        assert_eq!(alice.role_ref.name, "admin");
        let subject = &alice.subjects.as_ref().expect("subjects")[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("User", "alice@vsphere.local"));
        assert_eq!(d.messages.len(), 1, "the repeated entry is reported");
        assert_eq!(
            alice.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL)).map(String::as_str),
            Some(MANAGED_BY_VALUE)
        );
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut c = config();
        c.metadata.name = Some("Team.A".into());
        let r = c.spec.resource_spec.as_mut().expect("resources");
        r.cpu_limit = Some("4 cores".into());
        r.pod_count = Some(-1);
        c.spec.storage_specs.push(StorageSpec { policy: "***".into(), limit: Some("-1Gi".into()) });
        c.spec.access_list.push(entry(SubjectType::User, " ", AccessRole::View));
        let errors = validate(&c);
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert!(matches!(&errors[1], SpecError::Quantity { field, .. } if field == "resourceSpec.cpuLimit"));
        assert!(validate(&config()).is_empty());
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("bob.smith@CORP.example"), "bob-smith-corp-example");
        assert_eq!(dns_label("--a__b--"), "a-b");
        assert!(is_dns_label("team-a") && !is_dns_label("-a") && !is_dns_label(&"a".repeat(64)));
    }
}
