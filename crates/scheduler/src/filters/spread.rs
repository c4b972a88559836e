//! PodTopologySpread: per-domain counts of matching pods for the pod's constraints.
//!
//! Counts come from the per-node label groups (no pod walk): for each eligible node, the pods
//! whose group matches the constraint's selector are added to the node's domain.

use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::cluster::Cluster;
use crate::filters::node_affinity::NodeAffinity;
use crate::filters::taints::first_untolerated;
use crate::index::DomainIndex;
use crate::pod::PodInfo;
use crate::selector::Selector;

/// Upstream reason when the skew would exceed `maxSkew`.
pub const SPREAD_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream reason when the node lacks a constraint's topology key.
pub const SPREAD_MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

/// One constraint with its counts.
#[derive(Debug)]
pub struct Constraint {
    /// `maxSkew`.
    pub max_skew: i64,
    /// `topologyKey`.
    pub key: String,
    /// Domain ids of the key.
    pub domains: Arc<DomainIndex>,
    /// 1 when the incoming pod matches its own selector.
    pub self_match: i64,
    /// Matching pods per domain, over eligible nodes.
    pub counts: Vec<i64>,
    /// Lowest count over the domains of eligible nodes (0 below `minDomains`).
    pub min: i64,
}

/// The pod's constraints of one `whenUnsatisfiable` kind.
#[derive(Debug, Default)]
pub struct Spread {
    /// Constraints in pod order.
    pub constraints: Vec<Constraint>,
}

impl Spread {
    /// Counts for the constraints whose `whenUnsatisfiable` is `when`.
    pub fn new(cluster: &Cluster, pod: &PodInfo, node_affinity: &NodeAffinity, when: &str) -> Self {
        let specs: Vec<&TopologySpreadConstraint> =
            pod.topology_spread_constraints.iter().filter(|c| c.when_unsatisfiable == when).collect();
        if specs.is_empty() {
            return Self::default();
        }
        let mut constraints = Vec::with_capacity(specs.len());
        let mut matches = Vec::with_capacity(specs.len());
        let mut present = Vec::with_capacity(specs.len());
        for c in &specs {
            let selector = Selector::compile(c.label_selector.as_ref())
                .with_match_label_keys(c.match_label_keys.as_deref().unwrap_or_default(), &pod.labels);
            matches.push(cluster.groups.matching(|ns, labels| ns == pod.namespace && selector.matches(labels)));
            let domains = cluster.domains(&c.topology_key);
            present.push(vec![false; domains.len()]);
            constraints.push(Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                self_match: i64::from(selector.matches(&pod.labels)),
                counts: vec![0; domains.len()],
                domains,
                min: 0,
            });
        }
        for (i, state) in cluster.nodes.iter().enumerate() {
            let Some(info) = &state.info else { continue };
            // Upstream counts only nodes carrying every constraint's key.
            if constraints.iter().any(|c| c.domains.domain(i).is_none()) {
                continue;
            }
            let mut affinity_ok = None;
            let mut taints_ok = None;
            for (k, c) in constraints.iter_mut().enumerate() {
                let spec = specs[k];
                // nodeAffinityPolicy defaults to Honor, nodeTaintsPolicy to Ignore.
                if spec.node_affinity_policy.as_deref() != Some("Ignore")
                    && !*affinity_ok.get_or_insert_with(|| node_affinity.matches(info))
                {
                    continue;
                }
                if spec.node_taints_policy.as_deref() == Some("Honor")
                    && !*taints_ok.get_or_insert_with(|| first_untolerated(info, &pod.tolerations).is_none())
                {
                    continue;
                }
                let d = c.domains.domain(i).expect("checked above");
                present[k][d] = true;
                c.counts[d] += state.count_matching(&matches[k]);
            }
        }
        for (k, c) in constraints.iter_mut().enumerate() {
            let spec = specs[k];
            let mut seen = 0i64;
            let mut min = i64::MAX;
            for (d, &p) in present[k].iter().enumerate() {
                if p {
                    seen += 1;
                    min = min.min(c.counts[d]);
                }
            }
            c.min = if seen == 0 || seen < i64::from(spec.min_domains.unwrap_or(1)) { 0 } else { min };
        }
        Self { constraints }
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Filter (`DoNotSchedule`): placing the pod on node slot `n` keeps every skew within
    /// `maxSkew`.
    pub fn filter(&self, n: usize) -> Result<(), &'static str> {
        for c in &self.constraints {
            let Some(d) = c.domains.domain(n) else {
                return Err(SPREAD_MISSING_LABEL);
            };
            if c.counts[d] + c.self_match - c.min > c.max_skew {
                return Err(SPREAD_NOT_MATCH);
            }
        }
        Ok(())
    }
}
