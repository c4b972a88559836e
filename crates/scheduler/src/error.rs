//! The answer when no node can take a pod.

use std::collections::BTreeMap;

use thiserror::Error;

/// Upstream's message when the cluster has no nodes at all.
pub const NO_NODES: &str = "no nodes available to schedule pods";
/// Upstream preemption's reason for nodes where evicting lower-priority pods cannot help.
/// Canopy does not preempt (priority is ignored), so every node gets it.
pub const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// No node passed all filters. `message` is upstream's `FitError` text (what `kubectl
/// describe pod` shows in the `FailedScheduling` event and the `PodScheduled` condition).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Unschedulable {
    /// Upstream-shaped message, e.g. `0/3 nodes are available: 3 Insufficient cpu. preemption:
    /// 0/3 nodes are available: 3 Preemption is not helpful for scheduling.`
    pub message: String,
    /// Number of nodes per reason (a node may count under several, e.g. cpu and memory).
    pub reasons: BTreeMap<String, usize>,
}

impl Unschedulable {
    /// Builds upstream's message from the reason histogram over `nodes` nodes.
    pub fn new(nodes: usize, reasons: BTreeMap<String, usize>) -> Self {
        if nodes == 0 {
            return Self { message: NO_NODES.to_string(), reasons };
        }
        // Upstream sorts the formatted "<count> <reason>" strings, not the reasons.
        let mut parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
        parts.sort();
        let mut message = format!("0/{nodes} nodes are available:");
        if !parts.is_empty() {
            message.push(' ');
            message.push_str(&parts.join(", "));
            message.push('.');
        }
        message.push_str(&format!(" preemption: 0/{nodes} nodes are available: {nodes} {PREEMPTION_NOT_HELPFUL}."));
        Self { message, reasons }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_matches_upstream_shape() {
        let reasons: BTreeMap<String, usize> = [
            ("Insufficient cpu".to_string(), 2),
            ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }".to_string(), 1),
            ("node(s) didn't match Pod's node affinity/selector".to_string(), 2),
        ]
        .into();
        let u = Unschedulable::new(5, reasons);
        assert_eq!(
            u.message,
            "0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
             2 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
        );
        assert_eq!(u.to_string(), u.message);
    }

    #[test]
    fn no_nodes() {
        assert_eq!(Unschedulable::new(0, BTreeMap::new()).message, NO_NODES);
    }
}
