//! What the node lifecycle controller writes: a lost node's `Ready` condition (Unknown), its
//! `node.kubernetes.io/unreachable` taints, its pods marked `Failed` (reason `NodeLost`) through
//! their status subresource, and the `NodeNotReady` Events; and lifting the taints on recovery.

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::FIELD_MANAGER;
use crate::events::{EventType, Recorder};
use crate::pods;

/// The taint key of a node whose host stopped renewing its Lease.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The pods' status reason, as upstream's node controller used.
pub const NODE_LOST: &str = "NodeLost";
/// The conditions upstream sets to Unknown when the kubelet goes silent.
const KUBELET_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// A failed write; the tick after retries.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {target}")]
pub struct ActionError {
    verb: &'static str,
    target: String,
    #[source]
    source: kube::Error,
}

fn failed(verb: &'static str, target: impl Into<String>) -> impl FnOnce(kube::Error) -> ActionError {
    let target = target.into();
    move |source| ActionError { verb, target, source }
}

fn params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() }
}

/// Whether the node carries the unreachable `NoExecute` taint (set by this controller).
pub fn is_tainted(node: &Node) -> bool {
    taints(node).iter().any(|t| t.key == UNREACHABLE && t.effect == "NoExecute")
}

fn taints(node: &Node) -> Vec<Taint> {
    node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default()
}

/// Marks `name` lost: taints, `Ready` Unknown and an Event (its pods are [`sweep`]'s).
pub async fn mark_lost(client: &kube::Client, recorder: &Recorder, name: &str) -> Result<(), ActionError> {
    let api: Api<Node> = Api::all(client.clone());
    let Some(node) = api.get_opt(name).await.map_err(failed("reading node", name))? else { return Ok(()) };
    let now = Time(Timestamp::now());
    let mut next = taints(&node);
    next.retain(|t| t.key != UNREACHABLE);
    for effect in ["NoSchedule", "NoExecute"] {
        next.push(Taint { key: UNREACHABLE.into(), effect: effect.into(), value: None, time_added: Some(now.clone()) });
    }
    let patch =
        serde_json::json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": next}});
    let node = api.patch(name, &params(), &Patch::Merge(&patch)).await.map_err(failed("tainting node", name))?;

    let mut conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    if !conditions.iter().any(|c| c.type_ == "Ready") {
        conditions.push(NodeCondition { type_: "Ready".into(), ..Default::default() });
    }
    let was_ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    for c in conditions.iter_mut().filter(|c| KUBELET_CONDITIONS.contains(&c.type_.as_str())) {
        if c.status != "Unknown" {
            c.last_transition_time = Some(now.clone());
        }
        c.status = "Unknown".into();
        c.reason = Some("NodeStatusUnknown".into());
        c.message = Some("Kubelet stopped posting node status.".into());
    }
    let patch = serde_json::json!({"status": {"conditions": conditions}});
    let node = api
        .patch_status(name, &params(), &Patch::Merge(&patch))
        .await
        .map_err(failed("updating the status of node", name))?;
    if was_ready {
        recorder.record(&node, EventType::Normal, "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
    }
    tracing::warn!(node = name, "node lease expired: node marked lost");
    Ok(())
}

/// Pods failed at once while sweeping.
const PARALLEL_FAILS: usize = 16;
/// Pods per page when listing the pods of many nodes.
const PAGE: u32 = 5000;

/// Marks every pod bound to one of the lost `nodes` that is not terminal yet `Failed`, so its
/// ReplicaSet replaces it. One node's pods come from a `spec.nodeName=` list; many nodes lost
/// together (a rack, a zone) share one paged list of the bound pods rather than one list each.
/// Returns the failed writes by node.
pub async fn sweep(
    client: &kube::Client,
    recorder: &Recorder,
    nodes: &BTreeSet<String>,
) -> Result<HashMap<String, ActionError>, ActionError> {
    let selector = match nodes.iter().next() {
        Some(only) if nodes.len() == 1 => format!("spec.nodeName={only}"),
        Some(_) => "spec.nodeName!=".to_string(),
        None => return Ok(HashMap::new()),
    };
    let all: Api<Pod> = Api::all(client.clone());
    let mut params = ListParams::default().fields(&selector).limit(PAGE);
    let mut doomed = Vec::new();
    loop {
        let page = all.list(&params).await.map_err(failed("listing the pods of nodes", selector.clone()))?;
        doomed.extend(page.items.into_iter().filter(|p| !pods::is_terminal(p)).filter_map(|p| {
            let node = p.spec.as_ref()?.node_name.clone().filter(|n| nodes.contains(n))?;
            Some((node, p))
        }));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    let results: Vec<(String, Result<(), ActionError>)> = futures::stream::iter(doomed)
        .map(|(node, pod)| async move {
            let result = fail_pod(client, recorder, &node, &pod).await;
            (node, result)
        })
        .buffer_unordered(PARALLEL_FAILS)
        .collect()
        .await;
    Ok(results.into_iter().filter_map(|(node, r)| r.err().map(|e| (node, e))).collect())
}

async fn fail_pod(client: &kube::Client, recorder: &Recorder, node: &str, pod: &Pod) -> Result<(), ActionError> {
    let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let now = Time(Timestamp::now());
    let mut conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    conditions.retain(|c| c.type_ != "Ready");
    conditions.push(PodCondition {
        type_: "Ready".into(),
        status: "False".into(),
        reason: Some(NODE_LOST.into()),
        last_transition_time: Some(now),
        ..Default::default()
    });
    let patch = serde_json::json!({"status": {
        "phase": "Failed",
        "reason": NODE_LOST,
        "message": format!("Node {node} which was running pod {name} is unresponsive"),
        "conditions": conditions,
    }});
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    match api.patch_status(&name, &params(), &Patch::Merge(&patch)).await {
        Ok(p) => {
            recorder.record(&p, EventType::Warning, "NodeNotReady", "Node is not ready".into());
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(failed("failing pod", format!("{ns}/{name}"))(e)),
    }
}

/// Lifts the unreachable taints of a node whose Lease is renewed again (its agent reports
/// `Ready` itself).
pub async fn recover(client: &kube::Client, name: &str) -> Result<(), ActionError> {
    let api: Api<Node> = Api::all(client.clone());
    let Some(node) = api.get_opt(name).await.map_err(failed("reading node", name))? else { return Ok(()) };
    let before = taints(&node);
    let next: Vec<&Taint> = before.iter().filter(|t| t.key != UNREACHABLE).collect();
    if next.len() != before.len() {
        let patch = serde_json::json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": next}});
        api.patch(name, &params(), &Patch::Merge(&patch)).await.map_err(failed("untainting node", name))?;
    }
    tracing::info!(node = name, "node lease renewed: taints lifted");
    Ok(())
}
