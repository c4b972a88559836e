//! One scheduling decision: filter every node, score the feasible ones, pick the best.

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

impl Cluster {
    /// Picks the node for `pod`, or explains why none fits. Does not reserve anything: call
    /// [`Cluster::assume`] with the answer before deciding the next pod.
    ///
    /// Among the best-scoring nodes the one with the lowest hash of (pod uid, node name) wins,
    /// so equal nodes are chosen evenly and the same inputs give the same answer.
    pub fn schedule(&self, pod: &PodInfo) -> Result<String, Unschedulable> {
        let filters = Filters::new(self, pod);
        let mut feasible = Vec::new();
        let mut reasons: Vec<Cow<'static, str>> = Vec::new();
        let mut histogram: HashMap<Cow<'static, str>, usize> = HashMap::new();
        let mut known = 0usize;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.info.is_none() {
                continue;
            }
            known += 1;
            if filters.run(self, i, &mut reasons) {
                feasible.push(i);
            } else {
                for r in reasons.drain(..) {
                    *histogram.entry(r).or_insert(0) += 1;
                }
            }
        }
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
