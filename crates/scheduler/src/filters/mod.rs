//! Filter plugins, run per node in upstream's order: NodeUnschedulable, NodeName,
//! TaintToleration, NodeAffinity, NodeResourcesFit, PodTopologySpread, InterPodAffinity.
//! The first failing plugin decides a node's reasons, as in upstream's framework.

use std::borrow::Cow;

use crate::cluster::Cluster;
use crate::pod::PodInfo;

pub mod fit;
pub mod interpod;
pub mod node_affinity;
pub mod spread;
pub mod taints;

pub use fit::{INSUFFICIENT_CPU, INSUFFICIENT_MEMORY, TOO_MANY_PODS};
pub use interpod::{AFFINITY_NOT_MATCH, ANTI_AFFINITY_NOT_MATCH, EXISTING_ANTI_AFFINITY_NOT_MATCH};
pub use spread::{SPREAD_MISSING_LABEL, SPREAD_NOT_MATCH};

/// Upstream reason of NodeUnschedulable.
pub const NODE_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Upstream reason of NodeName.
pub const NODE_NAME_NOT_MATCH: &str = "node(s) didn't match the requested node name";
/// Upstream reason of NodeAffinity.
pub const NODE_AFFINITY_NOT_MATCH: &str = "node(s) didn't match Pod's node affinity/selector";

/// Upstream reason of TaintToleration for one taint.
pub fn untolerated_taint(key: &str, value: &str) -> String {
    format!("node(s) had untolerated taint {{{key}: {value}}}")
}

/// Everything the filters pre-compute for one pod (upstream's PreFilter state).
#[derive(Debug)]
pub(crate) struct Filters<'a> {
    pod: &'a PodInfo,
    tolerates_cordon: bool,
    pub node_affinity: node_affinity::NodeAffinity,
    spread: spread::Spread,
    interpod: interpod::InterPod,
}

impl<'a> Filters<'a> {
    pub fn new(cluster: &Cluster, pod: &'a PodInfo) -> Self {
        let node_affinity = node_affinity::NodeAffinity::new(pod);
        Self {
            pod,
            tolerates_cordon: taints::tolerates_cordon(&pod.tolerations),
            spread: spread::Spread::new(cluster, pod, &node_affinity, "DoNotSchedule"),
            interpod: interpod::InterPod::new(cluster, pod),
            node_affinity,
        }
    }

    /// Runs the filters on node slot `n`; on failure pushes its reasons and returns false.
    pub fn run(&self, cluster: &Cluster, n: usize, reasons: &mut Vec<Cow<'static, str>>) -> bool {
        let state = &cluster.nodes[n];
        let Some(info) = &state.info else {
            return false;
        };
        if info.unschedulable && !self.tolerates_cordon {
            reasons.push(NODE_UNSCHEDULABLE.into());
            return false;
        }
        if self.pod.node_name.as_ref().is_some_and(|want| *want != info.name) {
            reasons.push(NODE_NAME_NOT_MATCH.into());
            return false;
        }
        if let Some(t) = taints::first_untolerated(info, &self.pod.tolerations) {
            reasons.push(untolerated_taint(&t.key, t.value.as_deref().unwrap_or_default()).into());
            return false;
        }
        if !self.node_affinity.matches(info) {
            reasons.push(NODE_AFFINITY_NOT_MATCH.into());
            return false;
        }
        let mut fit = Vec::new();
        fit::fit(self.pod, info, state, &mut fit);
        if !fit.is_empty() {
            reasons.extend(fit.into_iter().map(Cow::Borrowed));
            return false;
        }
        if !self.spread.is_empty()
            && let Err(r) = self.spread.filter(n)
        {
            reasons.push(r.into());
            return false;
        }
        if !self.interpod.is_empty()
            && let Err(r) = self.interpod.filter(n)
        {
            reasons.push(r.into());
            return false;
        }
        true
    }
}
