//! Aggregates the cache keeps so a decision never walks every pod.
//!
//! * [`Groups`]: pods interned by (namespace, labels). Pods of one workload share labels, so a
//!   selector is evaluated once per distinct group, and a node's matching-pod count is a sum
//!   over its few groups.
//! * [`TermIndex`]: the pod (anti-)affinity terms of placed pods, interned, each with a count of
//!   carrying pods per topology value. Checking "does any existing pod's anti-affinity reject
//!   this pod" is one evaluation per distinct term, not one per pod.
//! * [`DomainIndex`]: for one topology key, each node's value as a small integer.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::PodAffinityTerm;

use crate::pod::PodInfo;
use crate::selector::{Labels, Selector};

/// Id of an interned (namespace, labels) group.
pub(crate) type GroupId = u32;
/// Id of an interned affinity term.
pub(crate) type TermId = u32;
/// "This node has no value for the key."
pub(crate) const NO_DOMAIN: u32 = u32::MAX;

/// One distinct (namespace, labels) combination of placed pods.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub ns: String,
    pub labels: Labels,
    refs: u32,
}

/// Interned pod label sets. Ids of groups whose last pod left are reused.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    ids: HashMap<(String, Labels), GroupId>,
    entries: Vec<Group>,
    free: Vec<GroupId>,
}

impl Groups {
    pub fn acquire(&mut self, ns: &str, labels: &Labels) -> GroupId {
        let key = (ns.to_string(), labels.clone());
        if let Some(&id) = self.ids.get(&key) {
            self.entries[id as usize].refs += 1;
            return id;
        }
        let group = Group { ns: key.0.clone(), labels: key.1.clone(), refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = group;
                id
            }
            None => {
                self.entries.push(group);
                GroupId::try_from(self.entries.len() - 1).expect("fewer than 2^32 label groups")
            }
        };
        self.ids.insert(key, id);
        id
    }

    pub fn release(&mut self, id: GroupId) {
        let g = &mut self.entries[id as usize];
        g.refs -= 1;
        if g.refs == 0 {
            let key = (std::mem::take(&mut g.ns), std::mem::take(&mut g.labels));
            self.ids.remove(&key);
            self.free.push(id);
        }
    }

    /// For every group id, whether `pred(namespace, labels)` holds (false for free ids).
    pub fn matching(&self, pred: impl Fn(&str, &Labels) -> bool) -> Vec<bool> {
        self.entries.iter().map(|g| g.refs > 0 && pred(&g.ns, &g.labels)).collect()
    }
}

/// A compiled pod affinity term with its namespaces resolved against its owner pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AffinityTerm {
    pub selector: Selector,
    pub namespaces: BTreeSet<String>,
    pub namespace_selector: Option<Selector>,
    pub topology_key: String,
}

impl AffinityTerm {
    /// Upstream `NewAffinityTerm`: no namespaces and no namespaceSelector mean the owner's
    /// namespace; `matchLabelKeys`/`mismatchLabelKeys` take values from the owner's labels.
    pub fn compile(term: &PodAffinityTerm, owner: &PodInfo) -> Self {
        let selector = Selector::compile(term.label_selector.as_ref())
            .with_match_label_keys(term.match_label_keys.as_deref().unwrap_or_default(), &owner.labels)
            .with_mismatch_label_keys(term.mismatch_label_keys.as_deref().unwrap_or_default(), &owner.labels);
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespace_selector = term.namespace_selector.as_ref().map(|s| Selector::compile(Some(s)));
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(owner.namespace.clone());
        }
        Self { selector, namespaces, namespace_selector, topology_key: term.topology_key.clone() }
    }

    /// Whether a pod in `ns` with `labels` is selected by the term.
    pub fn matches(&self, ns: &str, labels: &Labels, ns_labels: &HashMap<String, Labels>) -> bool {
        let ns_ok = self.namespaces.contains(ns)
            || self.namespace_selector.as_ref().is_some_and(|s| s.matches(ns_labels.get(ns).unwrap_or(&Labels::new())));
        ns_ok && self.selector.matches(labels)
    }
}

/// Which list of an existing pod's affinity a term came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TermKind {
    RequiredAffinity,
    RequiredAnti,
    PreferredAffinity,
    PreferredAnti,
}

/// An interned term of placed pods with the number of carrying pods per topology value.
#[derive(Debug, Clone)]
pub(crate) struct ExistingTerm {
    pub kind: TermKind,
    pub weight: i64,
    pub term: AffinityTerm,
    pub counts: HashMap<String, i64>,
    refs: u32,
}

type TermKey = (TermKind, i64, AffinityTerm);

/// Interned affinity terms of placed pods.
#[derive(Debug, Default)]
pub(crate) struct TermIndex {
    ids: HashMap<TermKey, TermId>,
    entries: Vec<Option<ExistingTerm>>,
    free: Vec<TermId>,
}

impl TermIndex {
    pub fn acquire(&mut self, kind: TermKind, weight: i64, term: AffinityTerm) -> TermId {
        let key = (kind, weight, term);
        if let Some(&id) = self.ids.get(&key) {
            if let Some(e) = self.entries[id as usize].as_mut() {
                e.refs += 1;
            }
            return id;
        }
        let entry = ExistingTerm { kind, weight, term: key.2.clone(), counts: HashMap::new(), refs: 1 };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                TermId::try_from(self.entries.len() - 1).expect("fewer than 2^32 affinity terms")
            }
        };
        self.ids.insert(key, id);
        id
    }

    pub fn release(&mut self, id: TermId) {
        let slot = &mut self.entries[id as usize];
        let drop_it = slot.as_mut().is_some_and(|e| {
            e.refs -= 1;
            e.refs == 0
        });
        if drop_it && let Some(e) = slot.take() {
            self.ids.remove(&(e.kind, e.weight, e.term));
            self.free.push(id);
        }
    }

    /// Adds `delta` carrying pods on a node with `labels`.
    pub fn count(&mut self, id: TermId, labels: &Labels, delta: i64) {
        let Some(e) = self.entries[id as usize].as_mut() else {
            return;
        };
        let Some(value) = labels.get(&e.term.topology_key) else {
            return;
        };
        let c = e.counts.entry(value.clone()).or_insert(0);
        *c += delta;
        if *c == 0 {
            e.counts.remove(value);
        }
    }

    pub fn live(&self) -> impl Iterator<Item = &ExistingTerm> {
        self.entries.iter().flatten()
    }
}

/// Each node's value of one topology key, as dense ids.
#[derive(Debug, Default)]
pub(crate) struct DomainIndex {
    pub ids: HashMap<String, u32>,
    /// Domain id per node slot, [`NO_DOMAIN`] when the node lacks the key or is gone.
    pub of_node: Vec<u32>,
}

impl DomainIndex {
    pub fn build<'a>(key: &str, nodes: impl Iterator<Item = Option<&'a Labels>>) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let of_node = nodes
            .map(|labels| match labels.and_then(|l| l.get(key)) {
                Some(v) => {
                    let next = u32::try_from(ids.len()).expect("fewer than 2^32 domains");
                    *ids.entry(v.clone()).or_insert(next)
                }
                None => NO_DOMAIN,
            })
            .collect();
        Self { ids, of_node }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn domain(&self, node: usize) -> Option<usize> {
        match self.of_node.get(node) {
            Some(&d) if d != NO_DOMAIN => Some(d as usize),
            _ => None,
        }
    }
}
