//! InterPodAffinity: the pod's required affinity and anti-affinity, and placed pods' required
//! anti-affinity against the pod (filter).

use std::sync::Arc;

use crate::cluster::Cluster;
use crate::index::{AffinityTerm, DomainIndex, TermKind};
use crate::pod::PodInfo;

/// Upstream reason: no pod matching the pod's affinity in the node's domain.
pub const AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// Upstream reason: a pod matching the pod's anti-affinity is in the node's domain.
pub const ANTI_AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream reason: a placed pod's anti-affinity rejects the pod in the node's domain.
pub const EXISTING_ANTI_AFFINITY_NOT_MATCH: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// Matching pods per domain of one topology key.
#[derive(Debug)]
struct DomainCounts {
    domains: Arc<DomainIndex>,
    counts: Vec<i64>,
}

impl DomainCounts {
    fn new(domains: Arc<DomainIndex>) -> Self {
        let counts = vec![0; domains.len()];
        Self { domains, counts }
    }

    /// The count of node `n`'s domain; `None` when the node lacks the key.
    fn at(&self, n: usize) -> Option<i64> {
        self.domains.domain(n).map(|d| self.counts[d])
    }
}

/// Pre-computed state of the filter.
#[derive(Debug, Default)]
pub struct InterPod {
    affinity: Vec<DomainCounts>,
    /// Some pod anywhere matches all affinity terms.
    affinity_pods_exist: bool,
    /// The pod matches all of its own affinity terms (first pod of a self-affine group).
    self_affine: bool,
    anti: Vec<DomainCounts>,
    existing_anti: Vec<DomainCounts>,
}

fn required<'a>(
    pod: &'a PodInfo,
    pick: impl Fn(&'a k8s_openapi::api::core::v1::Affinity) -> Option<&'a Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>,
) -> Vec<AffinityTerm> {
    pod.affinity.as_ref().and_then(pick).into_iter().flatten().map(|t| AffinityTerm::compile(t, pod)).collect()
}

impl InterPod {
    /// Counts what the pod's terms need and collects placed pods' anti-affinity against it.
    pub fn new(cluster: &Cluster, pod: &PodInfo) -> Self {
        let ns = &cluster.namespaces;
        let mut out = Self::default();

        let affinity = required(pod, |a| {
            a.pod_affinity.as_ref().and_then(|p| p.required_during_scheduling_ignored_during_execution.as_ref())
        });
        if !affinity.is_empty() {
            // Upstream counts a placed pod only if it matches *all* the terms.
            let all = cluster.groups.matching(|g_ns, labels| affinity.iter().all(|t| t.matches(g_ns, labels, ns)));
            out.affinity = affinity.iter().map(|t| DomainCounts::new(cluster.domains(&t.topology_key))).collect();
            for (i, state) in cluster.nodes.iter().enumerate() {
                if state.info.is_none() {
                    continue;
                }
                let c = state.count_matching(&all);
                if c == 0 {
                    continue;
                }
                for dc in &mut out.affinity {
                    if let Some(d) = dc.domains.domain(i) {
                        dc.counts[d] += c;
                        out.affinity_pods_exist = true;
                    }
                }
            }
            out.self_affine = affinity.iter().all(|t| t.matches(&pod.namespace, &pod.labels, ns));
        }

        let anti = required(pod, |a| {
            a.pod_anti_affinity.as_ref().and_then(|p| p.required_during_scheduling_ignored_during_execution.as_ref())
        });
        for t in &anti {
            let matches = cluster.groups.matching(|g_ns, labels| t.matches(g_ns, labels, ns));
            let mut dc = DomainCounts::new(cluster.domains(&t.topology_key));
            for (i, state) in cluster.nodes.iter().enumerate() {
                if let Some(d) = dc.domains.domain(i) {
                    dc.counts[d] += state.count_matching(&matches);
                }
            }
            out.anti.push(dc);
        }

        for e in cluster.terms.live() {
            if e.kind != TermKind::RequiredAnti
                || e.counts.is_empty()
                || !e.term.matches(&pod.namespace, &pod.labels, ns)
            {
                continue;
            }
            let mut dc = DomainCounts::new(cluster.domains(&e.term.topology_key));
            for (value, &c) in &e.counts {
                if let Some(&d) = dc.domains.ids.get(value) {
                    dc.counts[d as usize] += c;
                }
            }
            out.existing_anti.push(dc);
        }
        out
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.affinity.is_empty() && self.anti.is_empty() && self.existing_anti.is_empty()
    }

    /// Filter for node slot `n`.
    pub fn filter(&self, n: usize) -> Result<(), &'static str> {
        let mut pods_exist = true;
        for dc in &self.affinity {
            match dc.at(n) {
                None => return Err(AFFINITY_NOT_MATCH),
                Some(0) => pods_exist = false,
                Some(_) => {}
            }
        }
        if !pods_exist && (self.affinity_pods_exist || !self.self_affine) {
            return Err(AFFINITY_NOT_MATCH);
        }
        if self.anti.iter().any(|dc| dc.at(n).is_some_and(|c| c > 0)) {
            return Err(ANTI_AFFINITY_NOT_MATCH);
        }
        if self.existing_anti.iter().any(|dc| dc.at(n).is_some_and(|c| c > 0)) {
            return Err(EXISTING_ANTI_AFFINITY_NOT_MATCH);
        }
        Ok(())
    }
}
