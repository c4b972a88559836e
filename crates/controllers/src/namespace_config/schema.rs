//! The `NamespaceConfig` CustomResourceDefinition: a structural openAPIV3Schema that mirrors
//! `types.rs` and `status.rs` (a unit test walks a fully populated object through it, so a field
//! added to the Rust types without the schema cannot be pruned silently), the status
//! subresource, the short name and the printer columns.
//!
//! Owns: the CRD document only; installing it is `crd.rs`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::types::{GROUP, KIND, PLURAL, SHORT_NAME, VERSION};
use crate::quantity;

fn quantity(description: &str) -> Value {
    json!({
        "description": description,
        "x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": quantity::PATTERN,
    })
}

fn count(description: &str) -> Value {
    json!({"description": description, "type": "integer", "format": "int64", "minimum": 0})
}

fn string_list(description: &str) -> Value {
    json!({"description": description, "type": "array", "items": {"type": "string"}})
}

fn resource_spec() -> Value {
    let counts = [
        ("podCount", "Pods (quota key pods)."),
        ("serviceCount", "Services (services)."),
        ("deploymentCount", "Deployments (count/deployments.apps)."),
        ("daemonSetCount", "DaemonSets (count/daemonsets.apps)."),
        ("replicaSetCount", "ReplicaSets (count/replicasets.apps)."),
        ("replicationControllerCount", "ReplicationControllers (replicationcontrollers)."),
        ("statefulSetCount", "StatefulSets (count/statefulsets.apps)."),
        ("configMapCount", "ConfigMaps (configmaps)."),
        ("secretCount", "Secrets (secrets)."),
        ("persistentVolumeClaimCount", "PersistentVolumeClaims (persistentvolumeclaims)."),
        ("jobCount", "Jobs (count/jobs.batch)."),
        ("virtualMachineCount", "VirtualMachines (count/virtualmachines.vmoperator.vmware.com)."),
        ("clusterCount", "Clusters (count/clusters.cluster.x-k8s.io)."),
    ];
    let mut props = json!({
        "cpuLimit": quantity("CPU limit of the namespace in cores (quota limits.cpu); vSphere cpu_limit, in MHz there."),
        "memoryLimit": quantity("Memory limit (quota limits.memory); vSphere memory_limit, in MiB there."),
        "storageRequestLimit": quantity("Storage requested by all PVCs (quota requests.storage); vSphere storage_request_limit."),
        "cpuRequestDefault": quantity("Default container CPU request (LimitRange defaultRequest.cpu)."),
        "cpuLimitDefault": quantity("Default container CPU limit (LimitRange default.cpu)."),
        "memoryRequestDefault": quantity("Default container memory request (LimitRange defaultRequest.memory)."),
        "memoryLimitDefault": quantity("Default container memory limit (LimitRange default.memory)."),
    });
    for (name, description) in counts {
        props[name] = count(&format!("Most {description} Unset: unlimited."));
    }
    json!({
        "description": "vSphere's ResourceQuotaOptionsV1 in Kubernetes units; every field optional, unset = unlimited.",
        "type": "object",
        "properties": props,
    })
}

fn spec() -> Value {
    json!({
        "type": "object",
        "properties": {
            "description": {"type": "string", "description": "Free text shown to users of the namespace."},
            "resourceSpec": resource_spec(),
            "storageSpecs": {
                "description": "Storage policies the namespace may use, each with an optional limit.",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["policy"],
                    "properties": {
                        "policy": {"type": "string", "minLength": 1, "description": "Storage policy; its StorageClass is the policy name as a DNS label."},
                        "limit": quantity("Storage requested through the policy's StorageClass; unset = unlimited."),
                    },
                },
            },
            "vmServiceSpec": {
                "type": "object",
                "properties": {
                    "vmClasses": string_list("VirtualMachineClasses the namespace may use."),
                    "contentLibraries": string_list("Content libraries whose images the namespace may use."),
                },
            },
            "zones": string_list("Zones the namespace spans."),
            "accessList": {
                "description": "Namespace permissions: RoleBindings to the ClusterRoles admin (OWNER), edit (EDIT), view (VIEW).",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["subjectType", "subject", "role"],
                    "properties": {
                        "subjectType": {"type": "string", "enum": ["USER", "GROUP"]},
                        "subject": {"type": "string", "minLength": 1},
                        "domain": {"type": "string", "default": super::types::DEFAULT_DOMAIN},
                        "role": {"type": "string", "enum": ["OWNER", "EDIT", "VIEW"]},
                    },
                },
            },
        },
    })
}

fn status() -> Value {
    let nullable_string = json!({"type": "string", "nullable": true});
    json!({
        "type": "object",
        "properties": {
            "configStatus": {"type": "string", "nullable": true, "enum": ["CONFIGURING", "RUNNING", "ERROR", "REMOVING"]},
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": {"type": "string", "enum": ["INFO", "WARNING", "ERROR"]},
                        "details": {"type": "string"},
                    },
                },
            },
            "stats": {
                "type": "object",
                "nullable": true,
                "properties": {
                    "cpuUsed": nullable_string,
                    "memoryUsed": nullable_string,
                    "storageUsed": nullable_string,
                    "podCount": {"type": "integer", "format": "int64", "nullable": true},
                },
            },
            "conditions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "status": {"type": "string"},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "observedGeneration": {"type": "integer", "format": "int64"},
                    },
                },
            },
            "observedGeneration": {"type": "integer", "format": "int64", "nullable": true},
        },
    })
}

/// The openAPIV3Schema of the served version.
pub fn open_api_schema() -> Value {
    json!({
        "description": "The settings of one vSphere Namespace; the object's name is the namespace it configures.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec(),
            "status": status(),
        },
    })
}

/// The CRD as a JSON document.
pub fn crd_json() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{PLURAL}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "plural": PLURAL,
                "singular": KIND.to_lowercase(),
                "kind": KIND,
                "listKind": format!("{KIND}List"),
                "shortNames": [SHORT_NAME],
                "categories": ["canopy"],
            },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": open_api_schema()},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Config-Status", "type": "string", "jsonPath": ".status.configStatus"},
                    {"name": "CPU-Limit", "type": "string", "jsonPath": ".spec.resourceSpec.cpuLimit"},
                    {"name": "Memory-Limit", "type": "string", "jsonPath": ".spec.resourceSpec.memoryLimit"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1},
                ],
            }],
        },
    })
}

/// The CRD, typed.
pub fn crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    serde_json::from_value(crd_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace_config::status::{ConfigStatus, Message, NamespaceConfigStatus, Stats};
    use crate::namespace_config::types::NamespaceConfig;

    /// Every path in `data` is declared in `schema` (what pruning would otherwise drop).
    fn undeclared(schema: &Value, data: &Value, path: &str, out: &mut Vec<String>) {
        match data {
            Value::Object(map) if schema.get("properties").is_some() => {
                for (k, v) in map {
                    match schema.pointer(&format!("/properties/{k}")) {
                        Some(s) => undeclared(s, v, &format!("{path}.{k}"), out),
                        None => out.push(format!("{path}.{k}")),
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    undeclared(&schema["items"], v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    fn full() -> NamespaceConfig {
        let mut c: NamespaceConfig = serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {
                "description": "d",
                "resourceSpec": {
                    "cpuLimit": "1", "memoryLimit": "1", "storageRequestLimit": "1", "cpuRequestDefault": "1",
                    "cpuLimitDefault": "1", "memoryRequestDefault": "1", "memoryLimitDefault": "1",
                    "podCount": 1, "serviceCount": 1, "deploymentCount": 1, "daemonSetCount": 1, "replicaSetCount": 1,
                    "replicationControllerCount": 1, "statefulSetCount": 1, "configMapCount": 1, "secretCount": 1,
                    "persistentVolumeClaimCount": 1, "jobCount": 1, "virtualMachineCount": 1, "clusterCount": 1,
                },
                "storageSpecs": [{"policy": "p", "limit": "1Gi"}],
                "vmServiceSpec": {"vmClasses": ["small"], "contentLibraries": ["lib"]},
                "zones": ["z"],
                "accessList": [{"subjectType": "USER", "subject": "a", "domain": "d", "role": "VIEW"}],
            },
        }))
        .expect("config");
        c.status = Some(crate::namespace_config::status::next_status(
            None,
            Some(1),
            &crate::namespace_config::status::Outcome::Ready(vec![Message::info("i")]),
            Some(Stats {
                cpu_used: Some("1".into()),
                memory_used: Some("1".into()),
                storage_used: Some("1".into()),
                pod_count: Some(1),
            }),
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        ));
        c
    }

    #[test]
    fn every_field_of_the_types_is_in_the_schema() {
        let data = serde_json::to_value(full()).expect("serialises");
        let resource = data.pointer("/spec/resourceSpec").and_then(Value::as_object).map_or(0, |m| m.len());
        assert_eq!(resource, 20, "the example sets every resourceSpec field");
        let mut missing = Vec::new();
        undeclared(&open_api_schema(), &data, "", &mut missing);
        assert!(missing.is_empty(), "fields missing from the schema: {missing:?}");
        assert_eq!(full().status.and_then(|s| s.config_status), Some(ConfigStatus::Running));
        let _: NamespaceConfigStatus = serde_json::from_value(data["status"].clone()).expect("status round trips");
    }

    #[test]
    fn the_crd_is_typed_and_structural() {
        let crd = crd().expect("the CRD deserialises into the typed struct");
        assert_eq!(crd.metadata.name.as_deref(), Some("namespaceconfigs.tenancy.canopy.io"));
        let columns = &crd.spec.versions[0].additional_printer_columns;
        let names: Vec<_> = columns.iter().flatten().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Config-Status", "CPU-Limit", "Memory-Limit", "Age", "Description"]);
        // Structural: every object node below the root declares a type (or is int-or-string).
        fn typed(s: &Value, path: &str) {
            assert!(s.get("type").is_some() || s.get("x-kubernetes-int-or-string").is_some(), "{path} has no type");
            for (k, p) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
                typed(p, &format!("{path}.{k}"));
            }
            if let Some(items) = s.get("items") {
                typed(items, &format!("{path}[]"));
            }
        }
        typed(&open_api_schema(), "");
    }
}
