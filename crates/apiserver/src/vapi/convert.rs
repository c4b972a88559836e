//! vAPI namespace shapes (snake_case, MHz, MiB) <-> the `NamespaceConfig` spec (camelCase,
//! Kubernetes quantities).

use serde_json::{Map, Value, json};

use crate::quantity::Milli;

const MIB: i128 = 1024 * 1024;

/// MHz -> a CPU quantity (1 core = 1000 MHz, so 1 MHz = 1 millicore).
fn mhz_to_quantity(v: &Value) -> Option<Value> {
    v.as_i64().map(|mhz| json!(format!("{mhz}m")))
}

fn mib_to_quantity(v: &Value) -> Option<Value> {
    v.as_i64().map(|mib| json!(format!("{mib}Mi")))
}

fn quantity_to_mhz(v: &Value) -> Option<Value> {
    v.as_str().and_then(|q| Milli::parse(q).ok()).map(|m| json!(m.0 as i64))
}

fn quantity_to_mib(v: &Value) -> Option<Value> {
    v.as_str().and_then(|q| Milli::parse(q).ok()).map(|m| json!((m.0 / 1000 / MIB) as i64))
}

/// (vAPI field, spec field, vAPI -> spec, spec -> vAPI)
type Conv = fn(&Value) -> Option<Value>;
const RESOURCE_FIELDS: &[(&str, &str, Conv, Conv)] = &[
    ("cpu_limit", "cpuLimit", mhz_to_quantity, quantity_to_mhz),
    ("memory_limit", "memoryLimit", mib_to_quantity, quantity_to_mib),
    ("storage_request_limit", "storageRequestLimit", mib_to_quantity, quantity_to_mib),
    ("cpu_request_default", "cpuRequestDefault", mhz_to_quantity, quantity_to_mhz),
    ("cpu_limit_default", "cpuLimitDefault", mhz_to_quantity, quantity_to_mhz),
    ("memory_request_default", "memoryRequestDefault", mib_to_quantity, quantity_to_mib),
    ("memory_limit_default", "memoryLimitDefault", mib_to_quantity, quantity_to_mib),
];

const COUNT_FIELDS: &[(&str, &str)] = &[
    ("pod_count", "podCount"),
    ("service_count", "serviceCount"),
    ("deployment_count", "deploymentCount"),
    ("daemon_set_count", "daemonSetCount"),
    ("replica_set_count", "replicaSetCount"),
    ("replication_controller_count", "replicationControllerCount"),
    ("stateful_set_count", "statefulSetCount"),
    ("config_map_count", "configMapCount"),
    ("secret_count", "secretCount"),
    ("persistent_volume_claim_count", "persistentVolumeClaimCount"),
    ("job_count", "jobCount"),
];

fn resource_spec_to_spec(rs: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (vapi, spec, to, _) in RESOURCE_FIELDS {
        match rs.get(*vapi) {
            Some(Value::Null) => {
                out.remove(*spec);
            }
            Some(v) => {
                if let Some(q) = to(v) {
                    out.insert(spec.to_string(), q);
                }
            }
            None => {}
        }
    }
    for (vapi, spec) in COUNT_FIELDS {
        match rs.get(*vapi) {
            Some(Value::Null) => {
                out.remove(*spec);
            }
            Some(v) if v.is_i64() => {
                out.insert(spec.to_string(), v.clone());
            }
            _ => {}
        }
    }
}

fn access_to_spec(a: &Value) -> Value {
    json!({
        "subjectType": a["subject_type"].as_str().unwrap_or("USER"),
        "subject": a["subject"],
        "domain": a["domain"].as_str().unwrap_or(canopy_identity::DEFAULT_SSO_DOMAIN),
        "role": a["role"],
    })
}

fn access_from_spec(a: &Value) -> Value {
    json!({"subject_type": a["subjectType"], "subject": a["subject"], "domain": a["domain"], "role": a["role"]})
}

/// Applies the fields a vAPI CreateSpec/SetSpec/UpdateSpec gives onto a `NamespaceConfig` spec.
pub fn apply_to_spec(vapi: &Value, spec: &mut Value) {
    if !spec.is_object() {
        *spec = json!({});
    }
    if let Some(d) = vapi.get("description") {
        spec["description"] = d.clone();
    }
    if let Some(rs) = vapi.get("resource_spec").and_then(Value::as_object) {
        let mut current = spec.get("resourceSpec").and_then(Value::as_object).cloned().unwrap_or_default();
        resource_spec_to_spec(rs, &mut current);
        spec["resourceSpec"] = Value::Object(current);
    }
    if let Some(list) = vapi.get("access_list").and_then(Value::as_array) {
        spec["accessList"] = Value::Array(list.iter().map(access_to_spec).collect());
    }
    if let Some(list) = vapi.get("storage_specs").and_then(Value::as_array) {
        let specs: Vec<Value> = list
            .iter()
            .map(|s| {
                let mut o = json!({"policy": s["policy"]});
                if let Some(l) = mib_to_quantity(&s["limit"]) {
                    o["limit"] = l;
                }
                o
            })
            .collect();
        spec["storageSpecs"] = Value::Array(specs);
    }
    if let Some(vm) = vapi.get("vm_service_spec") {
        spec["vmServiceSpec"] = json!({
            "vmClasses": vm.get("vm_classes").cloned().unwrap_or(json!([])),
            "contentLibraries": vm.get("content_libraries").cloned().unwrap_or(json!([])),
        });
    }
}

/// The vAPI `Info` of a namespace.
pub fn info(config: &Value) -> Value {
    let spec = &config["spec"];
    let status = &config["status"];
    let mut resource_spec = Map::new();
    for (vapi, field, _, from) in RESOURCE_FIELDS {
        if let Some(v) = spec.pointer(&format!("/resourceSpec/{field}")).and_then(from) {
            resource_spec.insert(vapi.to_string(), v);
        }
    }
    for (vapi, field) in COUNT_FIELDS {
        if let Some(v) = spec.pointer(&format!("/resourceSpec/{field}")).filter(|v| v.is_i64()) {
            resource_spec.insert(vapi.to_string(), v.clone());
        }
    }
    let messages: Vec<Value> = status["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| {
                    json!({"severity": x["severity"], "details": {"id": "vcenter.wcp.namespace.status", "default_message": x["details"], "args": []}})
                })
                .collect()
        })
        .unwrap_or_default();
    let stats = &status["stats"];
    json!({
        "cluster": super::CLUSTER,
        "namespace": config["metadata"]["name"],
        "description": spec["description"].as_str().unwrap_or_default(),
        "config_status": status["configStatus"].as_str().unwrap_or("CONFIGURING"),
        "messages": messages,
        "stats": {
            "cpu_used": quantity_to_mhz(&stats["cpuUsed"]).unwrap_or(json!(0)),
            "memory_used": quantity_to_mib(&stats["memoryUsed"]).unwrap_or(json!(0)),
            "storage_used": quantity_to_mib(&stats["storageUsed"]).unwrap_or(json!(0)),
        },
        "resource_spec": resource_spec,
        "access_list": spec["accessList"].as_array().map(|a| a.iter().map(access_from_spec).collect::<Vec<_>>()).unwrap_or_default(),
        "storage_specs": spec["storageSpecs"].as_array().map(|a| a.iter().map(|s| json!({"policy": s["policy"], "limit": quantity_to_mib(&s["limit"])})).collect::<Vec<_>>()).unwrap_or_default(),
        "vm_service_spec": {
            "vm_classes": spec.pointer("/vmServiceSpec/vmClasses").cloned().unwrap_or(json!([])),
            "content_libraries": spec.pointer("/vmServiceSpec/contentLibraries").cloned().unwrap_or(json!([])),
        },
        "self_service_namespace": self_service(config),
    })
}

fn self_service(config: &Value) -> bool {
    config.pointer("/metadata/annotations").and_then(|a| a.get(crate::selfservice::CREATED_BY)).is_some()
}

/// The vAPI summary of a namespace in a list.
pub fn summary(config: &Value) -> Value {
    let i = info(config);
    json!({"cluster": i["cluster"], "namespace": i["namespace"], "description": i["description"], "config_status": i["config_status"], "stats": i["stats"], "self_service_namespace": i["self_service_namespace"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_spec() {
        let create = json!({
            "namespace": "team-a", "description": "A team",
            "resource_spec": {"cpu_limit": 4000, "memory_limit": 8192, "pod_count": 10},
            "access_list": [{"subject_type": "USER", "subject": "alice", "domain": "vsphere.local", "role": "EDIT"}],
            "storage_specs": [{"policy": "gold", "limit": 10240}],
            "vm_service_spec": {"vm_classes": ["best-effort-small"]},
        });
        let mut spec = json!({});
        apply_to_spec(&create, &mut spec);
        assert_eq!(spec["resourceSpec"]["cpuLimit"], "4000m");
        assert_eq!(spec["resourceSpec"]["memoryLimit"], "8192Mi");
        let info = info(&json!({"metadata": {"name": "team-a"}, "spec": spec}));
        assert_eq!(info["resource_spec"]["cpu_limit"], 4000);
        assert_eq!(info["resource_spec"]["memory_limit"], 8192);
        assert_eq!(info["resource_spec"]["pod_count"], 10);
        assert_eq!(info["access_list"][0]["role"], "EDIT");
        assert_eq!(info["storage_specs"][0]["limit"], 10240);
        // An update unsets with null and keeps what it does not name.
        let mut spec2 = spec.clone();
        apply_to_spec(&json!({"resource_spec": {"cpu_limit": null}}), &mut spec2);
        assert!(spec2["resourceSpec"].get("cpuLimit").is_none());
        assert_eq!(spec2["resourceSpec"]["memoryLimit"], "8192Mi");
    }
}
