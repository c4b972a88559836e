//! One scheduling decision: filter nodes until enough are feasible, score those, pick the best.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::cluster::Cluster;
use crate::error::Unschedulable;
use crate::filters::Filters;
use crate::pod::PodInfo;
use crate::score;

/// FNV-1a: a stable, dependency-free hash so ties break the same way on every run and build.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Upstream's floor on the feasible nodes a decision looks for (`minFeasibleNodesToFind`).
const MIN_FEASIBLE_TO_FIND: usize = 100;
/// Upstream's floor on the adaptive percentage (`minFeasibleNodesPercentageToFind`).
const MIN_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes are enough to score, as upstream's default
/// `percentageOfNodesToScore` (adaptive: 50% less 1% per 125 nodes, at least 5% and 100 nodes):
/// all of a small cluster, 420 of 1,000 nodes, 500 of 5,000.
fn feasible_to_find(nodes: usize) -> usize {
    if nodes < MIN_FEASIBLE_TO_FIND {
        return nodes;
    }
    let percentage = 50usize.saturating_sub(nodes / 125).max(MIN_PERCENTAGE_TO_FIND);
    (nodes * percentage / 100).max(MIN_FEASIBLE_TO_FIND)
}

impl Cluster {
    /// Picks the node for `pod`, or explains why none fits. Does not reserve anything: call
    /// [`Cluster::assume`] with the answer before deciding the next pod.
    ///
    /// Like upstream, a decision stops filtering once [`feasible_to_find`] nodes fit and scores
    /// only those; the next decision starts where this one stopped, so every node is looked at
    /// in turn. A pod no node fits is still checked against every node (and told why).
    /// Among the best-scoring nodes the one with the lowest hash of (pod uid, node name) wins,
    /// so equal nodes are chosen evenly.
    pub fn schedule(&self, pod: &PodInfo) -> Result<String, Unschedulable> {
        use std::sync::atomic::Ordering;
        let filters = Filters::new(self, pod);
        let mut feasible = Vec::new();
        let mut reasons: Vec<Cow<'static, str>> = Vec::new();
        let mut histogram: HashMap<Cow<'static, str>, usize> = HashMap::new();
        let mut known = 0usize;
        let total = self.nodes.len();
        let enough = feasible_to_find(self.nodes.iter().filter(|n| n.info.is_some()).count());
        let start = self.next_start.load(Ordering::Relaxed) % total.max(1);
        let mut visited = 0;
        for i in (start..total).chain(0..start) {
            visited += 1;
            if self.nodes[i].info.is_none() {
                continue;
            }
            known += 1;
            if filters.run(self, i, &mut reasons) {
                feasible.push(i);
                if feasible.len() >= enough {
                    break;
                }
            } else {
                for r in reasons.drain(..) {
                    *histogram.entry(r).or_insert(0) += 1;
                }
            }
        }
        self.next_start.store((start + visited) % total.max(1), Ordering::Relaxed);
        if feasible.is_empty() {
            let reasons: BTreeMap<String, usize> = histogram.into_iter().map(|(r, c)| (r.into_owned(), c)).collect();
            return Err(Unschedulable::new(known, reasons));
        }
        let scores = score::score(self, pod, &filters.node_affinity, &feasible);
        let best = scores.iter().copied().max().unwrap_or(0);
        let who = if pod.uid.is_empty() { pod.name.as_str() } else { pod.uid.as_str() };
        let (ns, uid) = (pod.namespace.as_str(), who);
        let winner = feasible
            .iter()
            .zip(&scores)
            .filter(|(_, s)| **s == best)
            .filter_map(|(&n, _)| self.nodes[n].info.as_ref())
            .min_by_key(|info| (fnv1a(&[ns, uid, &info.name]), info.name.as_str()))
            .expect("at least one feasible node has the best score");
        Ok(winner.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feasible_nodes_to_find_follow_upstream() {
        assert_eq!(feasible_to_find(0), 0);
        assert_eq!(feasible_to_find(99), 99);
        assert_eq!(feasible_to_find(100), 100);
        assert_eq!(feasible_to_find(150), 100);
        assert_eq!(feasible_to_find(1000), 420);
        assert_eq!(feasible_to_find(5000), 500);
        assert_eq!(feasible_to_find(100_000), 5000);
    }
}
