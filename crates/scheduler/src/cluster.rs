//! The scheduler's cache: nodes, placed pods (bound or assumed) and the aggregates decisions
//! read. Mutations are `&mut self`; [`Cluster::schedule`] is `&self`, so a caller that
//! schedules and then assumes under one lock can never place two pods in the same free space.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::index::{AffinityTerm, DomainIndex, GroupId, Groups, TermId, TermIndex, TermKind};
use crate::node::NodeInfo;
use crate::pod::PodInfo;
use crate::resources::Resources;
use crate::selector::Labels;

type PodKey = (String, String);

/// Per-node aggregates.
#[derive(Debug, Default)]
pub(crate) struct NodeState {
    /// `None` for a node we only know from pods bound to it (removed, or not listed yet).
    pub info: Option<NodeInfo>,
    /// Sum of placed pods' own requests (`pods` = number of pods), without runtime overhead.
    pub requested: Resources,
    /// Sum of placed pods' scoring requests, without runtime overhead.
    pub score_requested: Resources,
    /// Placed pods per label group.
    pub groups: Vec<(GroupId, u32)>,
    /// Placed pods per affinity term they carry.
    pub terms: Vec<(TermId, u32)>,
}

impl NodeState {
    fn overhead(&self) -> Resources {
        self.info.as_ref().map(|i| i.pod_overhead).unwrap_or_default()
    }

    /// Requests of placed pods including the runtime's per-pod overhead.
    pub fn allocated(&self) -> Resources {
        with_overhead(self.requested, self.overhead())
    }

    /// Scoring requests of placed pods including the runtime's per-pod overhead.
    pub fn score_allocated(&self) -> Resources {
        with_overhead(self.score_requested, self.overhead())
    }

    /// Placed pods whose label group is marked in `matches`.
    pub fn count_matching(&self, matches: &[bool]) -> i64 {
        self.groups
            .iter()
            .filter(|(g, _)| matches.get(*g as usize).copied().unwrap_or(false))
            .map(|(_, c)| i64::from(*c))
            .sum()
    }
}

/// `sum` plus `overhead` once per pod in `sum.pods`.
fn with_overhead(sum: Resources, overhead: Resources) -> Resources {
    Resources {
        cpu_milli: sum.cpu_milli.saturating_add(overhead.cpu_milli.saturating_mul(sum.pods)),
        memory_bytes: sum.memory_bytes.saturating_add(overhead.memory_bytes.saturating_mul(sum.pods)),
        pods: sum.pods,
    }
}

fn bump<K: PartialEq + Copy>(list: &mut Vec<(K, u32)>, key: K, up: bool) {
    match list.iter().position(|(k, _)| *k == key) {
        Some(i) if up => list[i].1 += 1,
        Some(i) => {
            list[i].1 -= 1;
            if list[i].1 == 0 {
                list.swap_remove(i);
            }
        }
        None if up => list.push((key, 1)),
        None => {}
    }
}

#[derive(Debug)]
struct PodEntry {
    pod: PodInfo,
    node: usize,
    group: GroupId,
    terms: Vec<TermId>,
    assumed: bool,
}

/// The scheduler's view of the cluster. See the crate docs for the protocol.
#[derive(Debug, Default)]
pub struct Cluster {
    pub(crate) nodes: Vec<NodeState>,
    node_ids: HashMap<String, usize>,
    pods: HashMap<PodKey, PodEntry>,
    pub(crate) groups: Groups,
    pub(crate) terms: TermIndex,
    pub(crate) namespaces: HashMap<String, Labels>,
    /// Topology key -> domain ids, built on first use and dropped when node labels change.
    domains: Mutex<HashMap<String, Arc<DomainIndex>>>,
    /// Where the next decision starts looking (see `schedule`): the nodes are visited in turn.
    pub(crate) next_start: std::sync::atomic::AtomicUsize,
}

impl Cluster {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.node_ids.get(name) {
            return i;
        }
        self.nodes.push(NodeState::default());
        let i = self.nodes.len() - 1;
        self.node_ids.insert(name.to_string(), i);
        self.invalidate_domains();
        i
    }

    fn invalidate_domains(&mut self) {
        self.domains.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// Adds or replaces a node. Pods already placed on it stay accounted.
    pub fn upsert_node(&mut self, info: NodeInfo) {
        let i = self.slot(&info.name);
        let old_labels = self.nodes[i].info.as_ref().map(|n| n.labels.clone());
        if old_labels.as_ref() != Some(&info.labels) {
            // Topology values moved: re-home the counts of the terms carried by its pods.
            let terms = self.nodes[i].terms.clone();
            for (t, c) in terms {
                if let Some(old) = &old_labels {
                    self.terms.count(t, old, -i64::from(c));
                }
                self.terms.count(t, &info.labels, i64::from(c));
            }
            self.invalidate_domains();
        }
        self.nodes[i].info = Some(info);
    }

    /// Removes a node. Pods bound to it stay accounted until they are removed, as upstream's
    /// cache does, so a node that comes back is not double-booked.
    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.node_ids.get(name) else {
            return;
        };
        if let Some(info) = self.nodes[i].info.take() {
            let terms = self.nodes[i].terms.clone();
            for (t, c) in terms {
                self.terms.count(t, &info.labels, -i64::from(c));
            }
            self.invalidate_domains();
        }
    }

    /// Sets a namespace's labels (read by affinity terms with a `namespaceSelector`).
    pub fn upsert_namespace(&mut self, name: &str, labels: Labels) {
        self.namespaces.insert(name.to_string(), labels);
    }

    /// Forgets a namespace's labels.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// Records a pod bound to `node` (from a watch). Idempotent by namespace/name: a pod seen
    /// again replaces its earlier entry, and confirms it if it was assumed.
    pub fn add_pod(&mut self, pod: PodInfo, node: &str) {
        self.place(pod, node, false);
    }

    /// Reserves `node` for `pod` before the bind call returns, so the next decision sees it.
    pub fn assume(&mut self, pod: PodInfo, node: &str) {
        self.place(pod, node, true);
    }

    /// Undoes [`Cluster::assume`] after a failed bind. Returns whether an assumed pod was
    /// removed; a pod confirmed by [`Cluster::add_pod`] meanwhile is kept.
    pub fn forget(&mut self, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_string(), name.to_string());
        if self.pods.get(&key).is_some_and(|e| e.assumed) {
            self.unplace(&key);
            true
        } else {
            false
        }
    }

    /// Removes a pod (deleted, or finished). Returns whether it was known.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> bool {
        self.unplace(&(namespace.to_string(), name.to_string()))
    }

    /// Whether the pod is placed and still only assumed.
    pub fn is_assumed(&self, namespace: &str, name: &str) -> bool {
        self.pods.get(&(namespace.to_string(), name.to_string())).is_some_and(|e| e.assumed)
    }

    /// The node a pod is placed on (bound or assumed).
    pub fn node_of(&self, namespace: &str, name: &str) -> Option<&str> {
        let e = self.pods.get(&(namespace.to_string(), name.to_string()))?;
        self.nodes[e.node].info.as_ref().map(|i| i.name.as_str())
    }

    fn place(&mut self, pod: PodInfo, node: &str, assumed: bool) {
        let key = (pod.namespace.clone(), pod.name.clone());
        self.unplace(&key);
        let i = self.slot(node);
        let group = self.groups.acquire(&pod.namespace, &pod.labels);
        let terms = self.intern_terms(&pod);
        let state = &mut self.nodes[i];
        state.requested = state.requested.add(&pod.requests);
        state.score_requested = state.score_requested.add(&pod.score_requests);
        bump(&mut state.groups, group, true);
        for &t in &terms {
            bump(&mut state.terms, t, true);
        }
        if let Some(info) = &state.info {
            for &t in &terms {
                self.terms.count(t, &info.labels, 1);
            }
        }
        self.pods.insert(key, PodEntry { pod, node: i, group, terms, assumed });
    }

    fn intern_terms(&mut self, pod: &PodInfo) -> Vec<TermId> {
        let mut out = Vec::new();
        let Some(aff) = &pod.affinity else {
            return out;
        };
        let mut add = |kind, weight, term| {
            out.push(self.terms.acquire(kind, weight, AffinityTerm::compile(term, pod)));
        };
        if let Some(a) = &aff.pod_affinity {
            for t in a.required_during_scheduling_ignored_during_execution.iter().flatten() {
                add(TermKind::RequiredAffinity, 0, t);
            }
            for w in a.preferred_during_scheduling_ignored_during_execution.iter().flatten() {
                add(TermKind::PreferredAffinity, i64::from(w.weight), &w.pod_affinity_term);
            }
        }
        if let Some(a) = &aff.pod_anti_affinity {
            for t in a.required_during_scheduling_ignored_during_execution.iter().flatten() {
                add(TermKind::RequiredAnti, 0, t);
            }
            for w in a.preferred_during_scheduling_ignored_during_execution.iter().flatten() {
                add(TermKind::PreferredAnti, i64::from(w.weight), &w.pod_affinity_term);
            }
        }
        out
    }

    fn unplace(&mut self, key: &PodKey) -> bool {
        let Some(e) = self.pods.remove(key) else {
            return false;
        };
        let state = &mut self.nodes[e.node];
        state.requested = state.requested.sub(&e.pod.requests);
        state.score_requested = state.score_requested.sub(&e.pod.score_requests);
        bump(&mut state.groups, e.group, false);
        for &t in &e.terms {
            bump(&mut state.terms, t, false);
        }
        if let Some(info) = &state.info {
            for &t in &e.terms {
                self.terms.count(t, &info.labels, -1);
            }
        }
        for &t in &e.terms {
            self.terms.release(t);
        }
        self.groups.release(e.group);
        true
    }

    /// Names of the known nodes, sorted.
    pub fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.nodes.iter().filter_map(|n| n.info.as_ref().map(|i| i.name.clone())).collect();
        names.sort();
        names
    }

    /// The node's scheduling view, if known.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes[*self.node_ids.get(name)?].info.as_ref()
    }

    /// Requests of the pods placed on `node` (bound and assumed), each including the node's
    /// runtime overhead; `pods` is their number. Zero for an unknown node.
    pub fn allocated(&self, node: &str) -> Resources {
        self.node_ids.get(node).map(|&i| self.nodes[i].allocated()).unwrap_or_default()
    }

    /// Number of pods placed (bound or assumed).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Domain ids of a topology key over the node slots (cached until node labels change).
    pub(crate) fn domains(&self, key: &str) -> Arc<DomainIndex> {
        let mut cache = self.domains.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = cache.get(key) {
            return Arc::clone(d);
        }
        let d = Arc::new(DomainIndex::build(key, self.nodes.iter().map(|n| n.info.as_ref().map(|i| &i.labels))));
        cache.insert(key.to_string(), Arc::clone(&d));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cpu: i64, overhead_cpu: i64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            allocatable: Resources::new(cpu, 1 << 30, 10),
            ready: true,
            pod_overhead: Resources::new(overhead_cpu, 0, 0),
            ..Default::default()
        }
    }

    fn pod(name: &str, cpu: i64) -> PodInfo {
        PodInfo { namespace: "ns".into(), name: name.into(), requests: Resources::new(cpu, 0, 1), ..Default::default() }
    }

    #[test]
    fn add_pod_is_idempotent_and_counts_overhead() {
        let mut c = Cluster::new();
        c.upsert_node(node("n1", 4000, 100));
        c.add_pod(pod("a", 500), "n1");
        c.add_pod(pod("a", 500), "n1");
        assert_eq!(c.allocated("n1"), Resources::new(600, 0, 1));
        c.add_pod(pod("b", 1000), "n1");
        assert_eq!(c.allocated("n1"), Resources::new(1700, 0, 2));
        assert!(c.remove_pod("ns", "a"));
        assert!(!c.remove_pod("ns", "a"));
        assert_eq!(c.allocated("n1"), Resources::new(1100, 0, 1));
    }

    #[test]
    fn moving_a_pod_releases_the_old_node() {
        let mut c = Cluster::new();
        c.upsert_node(node("n1", 4000, 0));
        c.upsert_node(node("n2", 4000, 0));
        c.assume(pod("a", 500), "n1");
        c.add_pod(pod("a", 500), "n2");
        assert_eq!(c.allocated("n1"), Resources::default());
        assert_eq!(c.allocated("n2"), Resources::new(500, 0, 1));
    }

    #[test]
    fn forget_undoes_only_assumed_pods() {
        let mut c = Cluster::new();
        c.upsert_node(node("n1", 4000, 0));
        c.assume(pod("a", 500), "n1");
        assert!(c.is_assumed("ns", "a"));
        assert!(c.forget("ns", "a"));
        assert_eq!(c.allocated("n1"), Resources::default());
        c.assume(pod("b", 500), "n1");
        c.add_pod(pod("b", 500), "n1");
        assert!(!c.forget("ns", "b"), "confirmed by the watch");
        assert_eq!(c.allocated("n1"), Resources::new(500, 0, 1));
    }

    #[test]
    fn pods_on_unknown_or_removed_nodes_stay_accounted() {
        let mut c = Cluster::new();
        c.add_pod(pod("a", 500), "later");
        assert!(c.node_names().is_empty());
        c.upsert_node(node("later", 4000, 10));
        assert_eq!(c.allocated("later"), Resources::new(510, 0, 1));
        c.remove_node("later");
        assert!(c.node_names().is_empty());
        c.upsert_node(node("later", 4000, 10));
        assert_eq!(c.allocated("later"), Resources::new(510, 0, 1));
        assert_eq!(c.node_names(), vec!["later".to_string()]);
    }
}
