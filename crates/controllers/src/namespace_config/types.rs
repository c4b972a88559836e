//! The `NamespaceConfig` kind (`tenancy.canopy.io/v1alpha1`, cluster-scoped, short name `nsconf`):
//! the settings of one vSphere Namespace, named after the Kubernetes namespace it configures.
//!
//! Owns: the Rust shape of the kind's spec, its `kube::Resource` identity and the mapping to
//! vSphere's names. The status lives in `status.rs`, the CRD schema in `schema.rs`.
//!
//! Mapping to the vSphere Automation API (`/api/vcenter/namespaces/instances`, CreateSpec):
//!
//! | vSphere | NamespaceConfig |
//! |---|---|
//! | `namespace` | `metadata.name` |
//! | `description` | `spec.description` |
//! | `resource_spec` (ResourceQuotaOptionsV1) | `spec.resourceSpec` (see [`ResourceSpec`]) |
//! | `storage_specs[{policy, limit}]` | `spec.storageSpecs[{policy, limit}]` (limit a Quantity, not MiB) |
//! | `vm_service_spec{vm_classes, content_libraries}` | `spec.vmServiceSpec{vmClasses, contentLibraries}` |
//! | zones of a zonal Supervisor | `spec.zones` |
//! | `access_list[{subject_type, subject, domain, role}]` | `spec.accessList[{subjectType, subject, domain, role}]` |
//! | `config_status`, `messages`, `stats` | `status.configStatus`, `status.messages`, `status.stats` |

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::status::NamespaceConfigStatus;
use crate::quantity::Quantity;

pub const GROUP: &str = "tenancy.canopy.io";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "NamespaceConfig";
pub const API_VERSION: &str = "tenancy.canopy.io/v1alpha1";
pub const PLURAL: &str = "namespaceconfigs";
pub const SHORT_NAME: &str = "nsconf";
/// The SSO domain of an access entry that names none.
pub const DEFAULT_DOMAIN: &str = "vsphere.local";

/// One vSphere Namespace's settings; `metadata.name` is the namespace it configures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespaceConfig {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NamespaceConfigSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceConfigStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_spec: Option<ResourceSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_specs: Vec<StorageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_service_spec: Option<VmServiceSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_list: Vec<AccessEntry>,
}

/// vSphere's ResourceQuotaOptionsV1 in Kubernetes units. Every field is optional; unset means
/// unlimited (no quota key, no container default).
///
/// | field | vSphere field (unit) | realised as |
/// |---|---|---|
/// | `cpuLimit` | `cpu_limit` (MHz) | ResourceQuota `limits.cpu` (cores: `4`, `500m`) |
/// | `memoryLimit` | `memory_limit` (MiB) | ResourceQuota `limits.memory` (`8Gi`) |
/// | `storageRequestLimit` | `storage_request_limit` (MiB) | ResourceQuota `requests.storage` |
/// | `cpuRequestDefault`, `cpuLimitDefault` | `cpu_request_default`, `cpu_limit_default` (MHz) | LimitRange (Container) `defaultRequest.cpu`, `default.cpu` |
/// | `memoryRequestDefault`, `memoryLimitDefault` | `memory_request_default`, `memory_limit_default` (MiB) | LimitRange (Container) `defaultRequest.memory`, `default.memory` |
/// | `podCount`, `serviceCount`, `configMapCount`, `secretCount`, `persistentVolumeClaimCount`, `replicationControllerCount` | `pod_count`, ... | `pods`, `services`, `configmaps`, `secrets`, `persistentvolumeclaims`, `replicationcontrollers` |
/// | `deploymentCount`, `daemonSetCount`, `replicaSetCount`, `statefulSetCount`, `jobCount` | `deployment_count`, ... | `count/deployments.apps`, `count/daemonsets.apps`, `count/replicasets.apps`, `count/statefulsets.apps`, `count/jobs.batch` |
/// | `virtualMachineCount`, `clusterCount` | (VM Service and VKS limits) | `count/virtualmachines.vmoperator.vmware.com`, `count/clusters.cluster.x-k8s.io` |
///
/// vSphere expresses CPU in MHz because it also limits the namespace's ResourcePool; Canopy has
/// no ResourcePool and speaks the units Kubernetes quotas use (1 core = `1` = `1000m`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_request_limit: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request_default: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_default: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request_default: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_default: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_set_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_set_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_controller_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateful_set_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_machine_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_count: Option<i64>,
}

/// A storage policy the namespace may use, with an optional ceiling on what it requests through
/// the policy's StorageClass (vSphere: `limit` in MiB; here a Quantity; unset = unlimited).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Quantity>,
}

/// VM classes and content libraries offered to the namespace's VM Service (recorded; realised
/// when the VM Service exists).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmServiceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vm_classes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_libraries: Vec<String>,
}

/// One namespace permission: an SSO user or group and its role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    pub subject_type: SubjectType,
    pub subject: String,
    #[serde(default = "default_domain")]
    pub domain: String,
    pub role: AccessRole,
}

fn default_domain() -> String {
    DEFAULT_DOMAIN.to_string()
}

impl AccessEntry {
    /// The identity the platform's SSO gives this subject (`alice@vsphere.local`), which is the
    /// RBAC subject name.
    pub fn identity(&self) -> String {
        format!("{}@{}", self.subject, self.domain)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SubjectType {
    User,
    Group,
}

impl SubjectType {
    /// The RBAC subject kind.
    pub fn rbac_kind(self) -> &'static str {
        match self {
            SubjectType::User => "User",
            SubjectType::Group => "Group",
        }
    }

    /// The word used in RoleBinding names.
    pub fn name_part(self) -> &'static str {
        match self {
            SubjectType::User => "user",
            SubjectType::Group => "group",
        }
    }
}

/// vSphere's namespace roles. On the Supervisor each grant is a RoleBinding to a built-in
/// ClusterRole: OWNER -> `admin`, EDIT -> `edit`, VIEW -> `view`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccessRole {
    Owner,
    Edit,
    View,
}

impl AccessRole {
    pub fn cluster_role(self) -> &'static str {
        match self {
            AccessRole::Owner => "admin",
            AccessRole::Edit => "edit",
            AccessRole::View => "view",
        }
    }

    /// The word used in RoleBinding names.
    pub fn name_part(self) -> &'static str {
        match self {
            AccessRole::Owner => "owner",
            AccessRole::Edit => "edit",
            AccessRole::View => "view",
        }
    }
}

impl k8s_openapi::Resource for NamespaceConfig {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = KIND;
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = PLURAL;
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for NamespaceConfig {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl NamespaceConfig {
    /// A config for namespace `name` with `spec`.
    pub fn new(name: &str, spec: NamespaceConfigSpec) -> Self {
        NamespaceConfig {
            metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() },
            spec,
            status: None,
        }
    }

    /// The namespace this config configures.
    pub fn namespace_name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_entries_default_the_domain() {
        let e: AccessEntry =
            serde_json::from_value(serde_json::json!({"subjectType": "USER", "subject": "alice", "role": "VIEW"}))
                .expect("entry");
        assert_eq!(e.identity(), "alice@vsphere.local");
        assert_eq!((e.subject_type.rbac_kind(), e.role.cluster_role()), ("User", "view"));
    }

    #[test]
    fn kube_sees_a_cluster_scoped_kind() {
        use kube::Resource;
        assert_eq!(NamespaceConfig::url_path(&(), None), "/apis/tenancy.canopy.io/v1alpha1/namespaceconfigs");
        assert_eq!(NamespaceConfig::kind(&()), "NamespaceConfig");
    }
}
