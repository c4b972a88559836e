//! Score plugins, each normalised to 0..=100 over the feasible nodes and weighted like
//! upstream's default profile.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cluster::{Cluster, NodeState};
use crate::filters::node_affinity::NodeAffinity;
use crate::filters::spread::Spread;
use crate::filters::taints;
use crate::index::{AffinityTerm, DomainIndex, TermKind};
use crate::node::NodeInfo;
use crate::pod::PodInfo;
use crate::resources::Resources;

/// Highest score of one plugin.
pub const MAX_NODE_SCORE: i64 = 100;
/// Weight of TaintToleration (PreferNoSchedule).
pub const WEIGHT_TAINT: i64 = 3;
/// Weight of preferred node affinity.
pub const WEIGHT_NODE_AFFINITY: i64 = 2;
/// Weight of PodTopologySpread (ScheduleAnyway).
pub const WEIGHT_SPREAD: i64 = 2;
/// Weight of preferred inter-pod affinity.
pub const WEIGHT_INTERPOD: i64 = 2;
/// Weight of NodeResourcesFit (LeastAllocated).
pub const WEIGHT_LEAST_ALLOCATED: i64 = 1;
/// Weight of NodeResourcesBalancedAllocation.
pub const WEIGHT_BALANCED: i64 = 1;
/// Upstream `hardPodAffinityWeight`: placed pods' required affinity attracts matching pods.
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// What the pod needs on node `info` with the node's runtime overhead.
fn on_node(pod: Resources, info: &NodeInfo) -> Resources {
    pod.add(&Resources::new(info.pod_overhead.cpu_milli, info.pod_overhead.memory_bytes, 0))
}

/// LeastAllocated: free share of cpu and memory after placing the pod, averaged.
/// Uses scoring requests (best-effort containers count 100m/200Mi).
pub fn least_allocated(pod: &PodInfo, info: &NodeInfo, state: &NodeState) -> i64 {
    let req = state.score_allocated().add(&on_node(pod.score_requests, info));
    let free = |r: i64, cap: i64| -> i64 {
        if cap <= 0 || r > cap { 0 } else { i64::try_from(i128::from(cap - r) * 100 / i128::from(cap)).unwrap_or(0) }
    };
    (free(req.cpu_milli, info.allocatable.cpu_milli) + free(req.memory_bytes, info.allocatable.memory_bytes)) / 2
}

/// BalancedAllocation: 100 * (1 - std-dev of the cpu and memory utilisation fractions) after
/// placing the pod. Uses actual requests, as upstream does.
pub fn balanced_allocation(pod: &PodInfo, info: &NodeInfo, state: &NodeState) -> i64 {
    let req = state.allocated().add(&on_node(pod.requests, info));
    let frac = |r: i64, cap: i64| -> f64 { if cap <= 0 { 1.0 } else { (r as f64 / cap as f64).min(1.0) } };
    let cpu = frac(req.cpu_milli, info.allocatable.cpu_milli);
    let mem = frac(req.memory_bytes, info.allocatable.memory_bytes);
    // For two values the population standard deviation is half their distance.
    let std = (cpu - mem).abs() / 2.0;
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// Per-key topology scores of InterPodAffinity.
#[derive(Debug, Default)]
struct TopologyScore {
    by_key: HashMap<String, (Arc<DomainIndex>, Vec<i64>)>,
}

impl TopologyScore {
    fn slot(&mut self, cluster: &Cluster, key: &str) -> &mut (Arc<DomainIndex>, Vec<i64>) {
        self.by_key.entry(key.to_string()).or_insert_with(|| {
            let d = cluster.domains(key);
            let n = d.len();
            (d, vec![0; n])
        })
    }

    fn node(&self, n: usize) -> i64 {
        self.by_key.values().filter_map(|(d, s)| d.domain(n).map(|i| s[i])).sum()
    }
}

/// Raw InterPodAffinity scores: the pod's preferred terms against placed pods, and placed
/// pods' required affinity and preferred terms against the pod, summed per topology domain.
fn interpod_raw(cluster: &Cluster, pod: &PodInfo) -> Option<TopologyScore> {
    let ns = &cluster.namespaces;
    let mut topo = TopologyScore::default();
    let mut any = false;
    if let Some(aff) = &pod.affinity {
        let pref_aff = aff
            .pod_affinity
            .iter()
            .flat_map(|a| a.preferred_during_scheduling_ignored_during_execution.iter().flatten())
            .map(|w| (1, w));
        let pref_anti = aff
            .pod_anti_affinity
            .iter()
            .flat_map(|a| a.preferred_during_scheduling_ignored_during_execution.iter().flatten())
            .map(|w| (-1, w));
        for (sign, w) in pref_aff.chain(pref_anti) {
            any = true;
            let term = AffinityTerm::compile(&w.pod_affinity_term, pod);
            let matches = cluster.groups.matching(|g_ns, labels| term.matches(g_ns, labels, ns));
            let (domains, scores) = topo.slot(cluster, &term.topology_key);
            for (i, state) in cluster.nodes.iter().enumerate() {
                if let Some(d) = domains.domain(i) {
                    scores[d] += sign * i64::from(w.weight) * state.count_matching(&matches);
                }
            }
        }
    }
    for e in cluster.terms.live() {
        let weight = match e.kind {
            TermKind::RequiredAnti => continue,
            TermKind::RequiredAffinity => HARD_POD_AFFINITY_WEIGHT,
            TermKind::PreferredAffinity => e.weight,
            TermKind::PreferredAnti => -e.weight,
        };
        if e.counts.is_empty() || !e.term.matches(&pod.namespace, &pod.labels, ns) {
            continue;
        }
        any = true;
        let (domains, scores) = topo.slot(cluster, &e.term.topology_key);
        for (value, &c) in &e.counts {
            if let Some(&d) = domains.ids.get(value) {
                scores[d as usize] += weight * c;
            }
        }
    }
    any.then_some(topo)
}

/// Min-max normalisation (NodeAffinity: `s * 100 / max`; InterPodAffinity: `(s - min) * 100 /
/// (max - min)`).
fn normalize_max(raw: &mut [i64]) {
    let max = raw.iter().copied().max().unwrap_or(0);
    for s in raw.iter_mut() {
        *s = if max > 0 { *s * MAX_NODE_SCORE / max } else { 0 };
    }
}

fn normalize_min_max(raw: &mut [i64]) {
    let max = raw.iter().copied().max().unwrap_or(0);
    let min = raw.iter().copied().min().unwrap_or(0);
    for s in raw.iter_mut() {
        *s = if max > min { (*s - min) * MAX_NODE_SCORE / (max - min) } else { 0 };
    }
}

/// Fewer is better: `100 - s * 100 / max`, everyone 100 when max is 0 (TaintToleration).
fn normalize_reverse(raw: &mut [i64]) {
    let max = raw.iter().copied().max().unwrap_or(0);
    for s in raw.iter_mut() {
        *s = if max > 0 { MAX_NODE_SCORE - *s * MAX_NODE_SCORE / max } else { MAX_NODE_SCORE };
    }
}

/// PodTopologySpread scores for `ScheduleAnyway` constraints: fewer matching pods in the
/// node's domains is better; nodes lacking a key score 0.
fn spread_scores(spread: &Spread, feasible: &[usize]) -> Vec<i64> {
    let ignored: Vec<bool> =
        feasible.iter().map(|&n| spread.constraints.iter().any(|c| c.domains.domain(n).is_none())).collect();
    let considered = || feasible.iter().zip(&ignored).filter(|(_, ig)| !**ig).map(|(n, _)| *n);
    let weights: Vec<f64> = spread
        .constraints
        .iter()
        .map(|c| {
            let size = if c.key == crate::node::HOSTNAME_LABEL {
                considered().count()
            } else {
                let mut seen = vec![false; c.domains.len()];
                considered().filter_map(|n| c.domains.domain(n)).for_each(|d| seen[d] = true);
                seen.iter().filter(|s| **s).count()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    let raw: Vec<i64> = feasible
        .iter()
        .zip(&ignored)
        .map(|(&n, &ig)| {
            if ig {
                return 0;
            }
            let s: f64 = spread
                .constraints
                .iter()
                .zip(&weights)
                .map(|(c, w)| {
                    let d = c.domains.domain(n).expect("ignored nodes are skipped");
                    c.counts[d] as f64 * w + (c.max_skew - 1) as f64
                })
                .sum();
            s.round() as i64
        })
        .collect();
    let (mut min, mut max) = (i64::MAX, 0i64);
    for (s, ig) in raw.iter().zip(&ignored) {
        if !ig {
            min = min.min(*s);
            max = max.max(*s);
        }
    }
    raw.iter()
        .zip(&ignored)
        .map(|(&s, &ig)| {
            if ig {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - s) / max
            }
        })
        .collect()
}

/// Weighted total score per feasible node slot (same order as `feasible`).
pub(crate) fn score(cluster: &Cluster, pod: &PodInfo, node_affinity: &NodeAffinity, feasible: &[usize]) -> Vec<i64> {
    let info = |n: usize| cluster.nodes[n].info.as_ref().expect("feasible nodes are known");
    let mut total: Vec<i64> = feasible
        .iter()
        .map(|&n| {
            let (i, s) = (info(n), &cluster.nodes[n]);
            WEIGHT_LEAST_ALLOCATED * least_allocated(pod, i, s) + WEIGHT_BALANCED * balanced_allocation(pod, i, s)
        })
        .collect();
    let mut add = |weight: i64, scores: &[i64]| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };

    let prefer = taints::prefer_tolerations(&pod.tolerations);
    let mut taint: Vec<i64> =
        feasible.iter().map(|&n| taints::intolerable_prefer_no_schedule(info(n), &prefer)).collect();
    normalize_reverse(&mut taint);
    add(WEIGHT_TAINT, &taint);

    if node_affinity.has_preferred() {
        let mut na: Vec<i64> = feasible.iter().map(|&n| node_affinity.preferred_score(info(n))).collect();
        normalize_max(&mut na);
        add(WEIGHT_NODE_AFFINITY, &na);
    }

    let soft = Spread::new(cluster, pod, node_affinity, "ScheduleAnyway");
    if !soft.is_empty() {
        add(WEIGHT_SPREAD, &spread_scores(&soft, feasible));
    }

    if let Some(topo) = interpod_raw(cluster, pod) {
        let mut ip: Vec<i64> = feasible.iter().map(|&n| topo.node(n)).collect();
        normalize_min_max(&mut ip);
        add(WEIGHT_INTERPOD, &ip);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cpu: i64, mem: i64) -> NodeInfo {
        NodeInfo { allocatable: Resources::new(cpu, mem, 110), ..Default::default() }
    }

    fn pod(cpu: i64, mem: i64) -> PodInfo {
        PodInfo {
            requests: Resources::new(cpu, mem, 1),
            score_requests: Resources::new(cpu, mem, 1),
            ..Default::default()
        }
    }

    fn state(cpu: i64, mem: i64) -> NodeState {
        NodeState {
            requested: Resources::new(cpu, mem, 1),
            score_requested: Resources::new(cpu, mem, 1),
            ..Default::default()
        }
    }

    #[test]
    fn least_allocated_like_upstream() {
        // Upstream test "nothing scheduled, resources requested, differently sized nodes":
        // cpu (4000-3000)/4000 = 25, memory (10000-5000)/10000 = 50 -> 37.
        assert_eq!(least_allocated(&pod(3000, 5000), &node(4000, 10000), &NodeState::default()), 37);
        // Node 2: cpu (6000-3000)/6000 = 50, memory 50 -> 50.
        assert_eq!(least_allocated(&pod(3000, 5000), &node(6000, 10000), &NodeState::default()), 50);
        assert_eq!(least_allocated(&pod(1000, 0), &node(4000, 10000), &state(4000, 0)), 50, "over capacity scores 0");
    }

    #[test]
    fn balanced_allocation_like_upstream() {
        // Upstream: cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5, std 0.125 -> 87.
        assert_eq!(balanced_allocation(&pod(3000, 5000), &node(4000, 10000), &NodeState::default()), 87);
        // cpu 0.5, memory 0.5 -> 100.
        assert_eq!(balanced_allocation(&pod(3000, 5000), &node(6000, 10000), &NodeState::default()), 100);
    }

    #[test]
    fn overhead_counts_in_scores() {
        let mut n = node(4000, 10000);
        let plain = least_allocated(&pod(1000, 0), &n, &NodeState::default());
        n.pod_overhead = Resources::new(1000, 0, 0);
        assert!(least_allocated(&pod(1000, 0), &n, &NodeState::default()) < plain);
    }

    #[test]
    fn normalizations() {
        let mut v = vec![0, 5, 10];
        normalize_max(&mut v);
        assert_eq!(v, vec![0, 50, 100]);
        let mut v = vec![-10, 0, 10];
        normalize_min_max(&mut v);
        assert_eq!(v, vec![0, 50, 100]);
        let mut v = vec![0, 1, 2];
        normalize_reverse(&mut v);
        assert_eq!(v, vec![100, 50, 0]);
        let mut v = vec![0, 0];
        normalize_reverse(&mut v);
        assert_eq!(v, vec![100, 100]);
    }
}
