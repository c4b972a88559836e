//! A brute-force re-implementation of the filters that walks every placed pod, used to
//! cross-check the aggregate-based filters. It reuses only the unit-tested primitives
//! (selectors, toleration matching, node affinity), not the cache or its indexes.

use std::collections::{BTreeMap, HashMap};

use crate::filters::node_affinity::NodeAffinity;
use crate::filters::taints;
use crate::index::AffinityTerm;
use crate::selector::Selector;
use crate::{NodeInfo, PodInfo, Resources};

/// Nodes and (pod, node name) placements.
pub(crate) struct World<'a> {
    pub nodes: &'a [NodeInfo],
    pub placed: &'a [(PodInfo, String)],
}

fn terms(pod: &PodInfo, anti: bool) -> Vec<AffinityTerm> {
    let a = pod.affinity.as_ref();
    let list = if anti {
        a.and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|p| p.required_during_scheduling_ignored_during_execution.clone())
    } else {
        a.and_then(|a| a.pod_affinity.as_ref())
            .and_then(|p| p.required_during_scheduling_ignored_during_execution.clone())
    };
    list.unwrap_or_default().iter().map(|t| AffinityTerm::compile(t, pod)).collect()
}

impl World<'_> {
    fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Requests on a node including its overhead, by summing placements.
    pub fn used(&self, node: &NodeInfo) -> Resources {
        self.placed.iter().filter(|(_, n)| *n == node.name).fold(Resources::default(), |acc, (p, _)| {
            acc.add(&p.requests).add(&Resources::new(node.pod_overhead.cpu_milli, node.pod_overhead.memory_bytes, 0))
        })
    }

    /// Names of the nodes passing every filter.
    pub fn feasible(&self, pod: &PodInfo) -> Vec<String> {
        self.nodes.iter().filter(|n| self.passes(pod, n)).map(|n| n.name.clone()).collect()
    }

    fn passes(&self, pod: &PodInfo, n: &NodeInfo) -> bool {
        let no_ns = HashMap::new();
        if n.unschedulable && !taints::tolerates_cordon(&pod.tolerations) {
            return false;
        }
        if pod.node_name.as_ref().is_some_and(|w| *w != n.name) {
            return false;
        }
        if taints::first_untolerated(n, &pod.tolerations).is_some() {
            return false;
        }
        let na = NodeAffinity::new(pod);
        if !na.matches(n) {
            return false;
        }
        let used = self.used(n);
        let need = pod.requests.add(&n.pod_overhead);
        if used.pods + 1 > n.allocatable.pods
            || (need.cpu_milli > 0 && used.cpu_milli + need.cpu_milli > n.allocatable.cpu_milli)
            || (need.memory_bytes > 0 && used.memory_bytes + need.memory_bytes > n.allocatable.memory_bytes)
        {
            return false;
        }
        // PodTopologySpread, DoNotSchedule.
        let hard: Vec<_> =
            pod.topology_spread_constraints.iter().filter(|c| c.when_unsatisfiable == "DoNotSchedule").collect();
        let eligible = |m: &NodeInfo| hard.iter().all(|c| m.labels.contains_key(&c.topology_key)) && na.matches(m);
        for c in &hard {
            let Some(value) = n.labels.get(&c.topology_key) else { return false };
            let sel = Selector::compile(c.label_selector.as_ref());
            let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
            for m in self.nodes.iter().filter(|m| eligible(m)) {
                counts.entry(m.labels[&c.topology_key].as_str()).or_insert(0);
            }
            for (p, on) in self.placed {
                let Some(m) = self.node(on) else { continue };
                if eligible(m) && p.namespace == pod.namespace && sel.matches(&p.labels) {
                    *counts.entry(m.labels[&c.topology_key].as_str()).or_insert(0) += 1;
                }
            }
            let min = if (counts.len() as i64) < i64::from(c.min_domains.unwrap_or(1)) {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let own = counts.get(value.as_str()).copied().unwrap_or(0);
            if own + i64::from(sel.matches(&pod.labels)) - min > i64::from(c.max_skew) {
                return false;
            }
        }
        // InterPodAffinity.
        let placed_on = |key: &str| -> Vec<(&PodInfo, String)> {
            self.placed
                .iter()
                .filter_map(|(p, on)| {
                    let m = self.node(on)?;
                    Some((p, m.labels.get(key)?.clone()))
                })
                .collect()
        };
        let aff = terms(pod, false);
        if !aff.is_empty() {
            let mut any = false;
            let mut here = true;
            for t in &aff {
                let Some(v) = n.labels.get(&t.topology_key) else { return false };
                let matching: Vec<String> = placed_on(&t.topology_key)
                    .into_iter()
                    .filter(|(p, _)| aff.iter().all(|t| t.matches(&p.namespace, &p.labels, &no_ns)))
                    .map(|(_, v)| v)
                    .collect();
                any |= !matching.is_empty();
                here &= matching.contains(v);
            }
            let self_affine = aff.iter().all(|t| t.matches(&pod.namespace, &pod.labels, &no_ns));
            if !here && (any || !self_affine) {
                return false;
            }
        }
        for t in terms(pod, true) {
            let Some(v) = n.labels.get(&t.topology_key) else { continue };
            if placed_on(&t.topology_key)
                .into_iter()
                .any(|(p, pv)| pv == *v && t.matches(&p.namespace, &p.labels, &no_ns))
            {
                return false;
            }
        }
        for (p, on) in self.placed {
            let Some(m) = self.node(on) else { continue };
            for t in terms(p, true) {
                let (Some(pv), Some(v)) = (m.labels.get(&t.topology_key), n.labels.get(&t.topology_key)) else {
                    continue;
                };
                if pv == v && t.matches(&pod.namespace, &pod.labels, &no_ns) {
                    return false;
                }
            }
        }
        true
    }
}
