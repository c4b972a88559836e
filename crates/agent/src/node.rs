//! The host's Node object and its heartbeat: the agent registers the Node with its capacity and
//! the runtime's per-pod overhead, then renews a Lease in `kube-node-lease` (what the node
//! lifecycle controller watches) and keeps the Node's Ready condition True.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::runtime::RuntimeInfo;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const OVERHEAD_CPU: &str = "canopy.io/pod-overhead-cpu";
pub const OVERHEAD_MEMORY: &str = "canopy.io/pod-overhead-memory";
/// The SHA-256 of the agent's self-signed serving certificate (hex): the API server pins it
/// when it connects for logs and exec. Only the host itself (or an admin) may write its Node.
pub const SERVING_CERT_SHA256: &str = "canopy.io/agent-serving-cert-sha256";
/// Reported as the Node's kubeletVersion: the API version this agent speaks.
pub const AGENT_VERSION: &str = "v1.32.4-canopy";

/// Who the host is.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    pub name: String,
    pub zone: Option<String>,
    /// The address other hosts reach this one on (`InternalIP`).
    pub address: Option<String>,
}

/// The agent's HTTPS endpoint for the API server (`kubectl logs`, `kubectl exec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub port: u16,
    pub cert_sha256: String,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn ready_condition() -> serde_json::Value {
    let now = canopy_client::time::now();
    json!({
        "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "canopy agent is posting ready status",
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    })
}

fn node_status(info: &RuntimeInfo, host: &HostIdentity, endpoint: Option<&Endpoint>) -> serde_json::Value {
    let cap = json!({
        "cpu": format!("{}m", info.capacity.cpu_milli),
        "memory": info.capacity.memory_bytes.to_string(),
        "pods": info.max_pods.to_string(),
    });
    let mut addresses = vec![json!({"type": "Hostname", "address": host.name})];
    if let Some(a) = &host.address {
        addresses.insert(0, json!({"type": "InternalIP", "address": a}));
    }
    json!({
        "daemonEndpoints": {"kubeletEndpoint": {"Port": endpoint.map_or(0, |e| e.port)}},
        "capacity": cap,
        "allocatable": cap,
        "conditions": [ready_condition()],
        "addresses": addresses,
        "nodeInfo": {
            "kubeletVersion": AGENT_VERSION, "kubeProxyVersion": "", "containerRuntimeVersion": info.version,
            "operatingSystem": "linux", "architecture": "amd64", "osImage": "Canopy host",
            "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
        },
    })
}

/// Creates or refreshes the host's Node: labels, overhead annotations and status.
pub async fn register(
    nodes: &Api<Node>,
    info: &RuntimeInfo,
    host: &HostIdentity,
    endpoint: Option<&Endpoint>,
) -> kube::Result<()> {
    let mut labels = json!({
        "kubernetes.io/hostname": host.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "canopy.io/runtime": info.name,
    });
    if let Some(z) = &host.zone {
        labels[ZONE_LABEL] = json!(z);
    }
    let annotations = json!({
        OVERHEAD_CPU: format!("{}m", info.pod_overhead.cpu_milli),
        OVERHEAD_MEMORY: info.pod_overhead.memory_bytes.to_string(),
        // null removes a pin left by an earlier run that served.
        SERVING_CERT_SHA256: endpoint.map(|e| e.cert_sha256.clone()),
    });
    let mut set = annotations.clone();
    set.as_object_mut().expect("an object").retain(|_, v| !v.is_null());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": host.name, "labels": labels, "annotations": set},
    }))
    .expect("a Node of strings");
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = json!({"metadata": {"labels": labels, "annotations": annotations}});
            nodes.patch(&host.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        Err(e) => return Err(e),
    }
    let status = json!({"status": node_status(info, host, endpoint)});
    nodes.patch_status(&host.name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    Ok(())
}

/// Renews the host's Lease (creating it first), every `renew` until the task is dropped; the
/// Node's Ready condition is re-asserted every `status_every` renewals, which also clears a
/// NotReady the lifecycle controller set while the host was away.
pub async fn heartbeat(
    leases: Api<Lease>,
    nodes: Api<Node>,
    host: HostIdentity,
    lease_seconds: i32,
    renew: Duration,
    status_every: u32,
) {
    let mut tick = tokio::time::interval(renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = renew_lease(&leases, &host.name, lease_seconds).await {
            tracing::warn!(host = %host.name, error = %e, "renewing the host lease failed");
        }
        // The Lease is the heartbeat; the status is written when it is not what the host
        // reports (marked NotReady while the host was away) or has not been for a while, as
        // upstream's kubelet does, so a thousand steady hosts do not rewrite their Nodes.
        if n.is_multiple_of(status_every.max(1)) && nodes.get(&host.name).await.map_or(true, |node| stale(&node)) {
            let status = json!({"status": {"conditions": [ready_condition()]}});
            if let Err(e) = nodes.patch_status(&host.name, &PatchParams::default(), &Patch::Merge(&status)).await {
                tracing::warn!(host = %host.name, error = %e, "updating the node status failed");
            }
        }
        n = n.wrapping_add(1);
    }
}

/// Upstream's `nodeStatusReportFrequency`: an unchanged status is posted again this often.
const STATUS_REPORT_EVERY: Duration = Duration::from_secs(300);

/// Whether the Node's status is not (or no longer recently) the Ready one the host posts.
fn stale(node: &Node) -> bool {
    let ready =
        node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let Some(ready) = ready.filter(|c| c.status == "True") else { return true };
    let posted = ready.last_heartbeat_time.as_ref().map(|t| t.0);
    posted.is_none_or(|t| {
        k8s_openapi::jiff::Timestamp::now().duration_since(t)
            > k8s_openapi::jiff::SignedDuration::try_from(STATUS_REPORT_EVERY).unwrap_or_default()
    })
}

async fn renew_lease(leases: &Api<Lease>, name: &str, lease_seconds: i32) -> kube::Result<()> {
    let patch = json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": lease_seconds, "renewTime": now()}});
    match leases.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": lease_seconds, "renewTime": now()},
            }))
            .expect("a Lease of strings");
            leases.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with(conditions: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "h"}, "status": {"conditions": conditions}}))
            .expect("a node of strings")
    }

    #[test]
    fn only_a_missing_unready_or_old_status_is_posted_again() {
        assert!(!stale(&node_with(json!([ready_condition()]))));
        assert!(stale(&node_with(json!([]))));
        let mut unknown = ready_condition();
        unknown["status"] = json!("Unknown");
        assert!(stale(&node_with(json!([unknown]))));
        let mut old = ready_condition();
        old["lastHeartbeatTime"] = json!("2020-01-01T00:00:00Z");
        assert!(stale(&node_with(json!([old]))));
    }
}
