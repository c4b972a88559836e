//! Which pods go first when a ReplicaSet scales down: upstream's `ActivePodsWithRanks` order.
//!
//! 1. unassigned before assigned;
//! 2. `Pending` before `Unknown` before `Running`;
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
//! 5. pods sharing a node with more of their siblings first (spreads the survivors);
//! 6. ready for less time first;
//! 7. more container restarts first;
//! 8. newer before older.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::pods;

/// The annotation users set to steer which pods go first (upstream's pod deletion cost).
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn phase_rank(pod: &Pod) -> u8 {
    match pods::phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(DELETION_COST)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Upstream's `Less`: `Less` means `a` is deleted before `b`. `colocated` is how many of the
/// pods share each one's node.
fn compare(a: &Pod, b: &Pod, colocated: &HashMap<&str, usize>) -> Ordering {
    let unassigned = |p: &Pod| pods::node_name(p).is_empty();
    let rank = |p: &Pod| match pods::node_name(p) {
        "" => 0,
        node => colocated.get(node).copied().unwrap_or(0),
    };
    unassigned(b)
        .cmp(&unassigned(a))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| pods::is_ready(a).cmp(&pods::is_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| rank(b).cmp(&rank(a)))
        .then_with(|| match (pods::ready_since(a), pods::ready_since(b)) {
            // Ready more recently first.
            (Some(x), Some(y)) => y.cmp(&x),
            _ => Ordering::Equal,
        })
        .then_with(|| pods::restarts(b).cmp(&pods::restarts(a)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            // Newer first (a pod without a timestamp counts as newest).
            match (created(a), created(b)) {
                (Some(x), Some(y)) => y.cmp(&x),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        })
}

/// The `count` pods to delete first, in order.
pub fn victims(mut active: Vec<Arc<Pod>>, count: usize) -> Vec<Arc<Pod>> {
    let mut colocated: HashMap<String, usize> = HashMap::new();
    for p in &active {
        let node = pods::node_name(p);
        if !node.is_empty() {
            *colocated.entry(node.to_string()).or_default() += 1;
        }
    }
    let colocated: HashMap<&str, usize> = colocated.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    active.sort_by(|a, b| compare(a, b, &colocated));
    active.truncate(count);
    active
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> Arc<Pod> {
        let mut spec = json!({"containers": []});
        if !node.is_empty() {
            spec["nodeName"] = json!(node);
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "creationTimestamp": created},
                "spec": spec,
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
            }))
            .expect("pod"),
        )
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn victims_follow_upstream_order() {
        let old = "2025-01-01T00:00:00Z";
        let new = "2025-01-01T00:01:00Z";
        let pods = vec![
            pod("running-ready-old", "n1", "Running", true, old),
            pod("running-ready-new", "n2", "Running", true, new),
            pod("running-notready", "n3", "Running", false, old),
            pod("pending-assigned", "n4", "Pending", false, old),
            pod("unassigned", "", "Pending", false, old),
        ];
        assert_eq!(
            names(victims(pods, 5)),
            ["unassigned", "pending-assigned", "running-notready", "running-ready-new", "running-ready-old"]
        );
    }

    #[test]
    fn crowded_nodes_lose_pods_first() {
        let t = "2025-01-01T00:00:00Z";
        let pods = vec![
            pod("alone", "n1", "Running", true, t),
            pod("a", "n2", "Running", true, t),
            pod("b", "n2", "Running", true, t),
        ];
        let first = names(victims(pods, 1));
        assert_ne!(first, ["alone"]);
    }
}
