//! NodeAffinity: `spec.nodeSelector` and required node affinity (filter), preferred node
//! affinity (score).

use std::collections::BTreeMap;

use crate::node::NodeInfo;
use crate::pod::PodInfo;
use crate::selector::{NodeSelectorTerms, NodeTerm};

/// The pod's node constraints, compiled.
#[derive(Debug, Clone)]
pub struct NodeAffinity {
    selector: BTreeMap<String, String>,
    required: Option<NodeSelectorTerms>,
    preferred: Vec<(i64, NodeTerm)>,
}

impl NodeAffinity {
    /// Compiles the pod's node selector and node affinity.
    pub fn new(pod: &PodInfo) -> Self {
        let na = pod.affinity.as_ref().and_then(|a| a.node_affinity.as_ref());
        Self {
            selector: pod.node_selector.clone(),
            required: na
                .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
                .map(NodeSelectorTerms::compile),
            preferred: na
                .and_then(|n| n.preferred_during_scheduling_ignored_during_execution.as_ref())
                .into_iter()
                .flatten()
                .filter(|p| p.weight != 0)
                .map(|p| (i64::from(p.weight), NodeTerm::compile(&p.preference)))
                .collect(),
        }
    }

    /// Filter: nodeSelector and required terms both hold.
    pub fn matches(&self, node: &NodeInfo) -> bool {
        self.selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && self.required.as_ref().is_none_or(|r| r.matches(&node.name, &node.labels))
    }

    /// Whether there are preferred terms to score.
    pub fn has_preferred(&self) -> bool {
        !self.preferred.is_empty()
    }

    /// Raw score: sum of the weights of matching preferred terms.
    pub fn preferred_score(&self, node: &NodeInfo) -> i64 {
        self.preferred.iter().filter(|(_, t)| t.matches(&node.name, &node.labels)).map(|(w, _)| w).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm,
    };

    fn term(key: &str, op: &str, values: &[&str]) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
            match_fields: None,
        }
    }

    fn node(labels: &[(&str, &str)]) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn selector_and_required_terms_both_apply() {
        let pod = PodInfo {
            node_selector: [("disk".to_string(), "ssd".to_string())].into(),
            affinity: Some(Affinity {
                node_affinity: Some(k8s_openapi::api::core::v1::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![term("zone", "In", &["a"])],
                    }),
                    preferred_during_scheduling_ignored_during_execution: Some(vec![
                        PreferredSchedulingTerm { weight: 10, preference: term("gpu", "Exists", &[]) },
                        PreferredSchedulingTerm { weight: 5, preference: term("zone", "In", &["a"]) },
                    ]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let na = NodeAffinity::new(&pod);
        assert!(na.matches(&node(&[("disk", "ssd"), ("zone", "a")])));
        assert!(!na.matches(&node(&[("disk", "hdd"), ("zone", "a")])));
        assert!(!na.matches(&node(&[("disk", "ssd"), ("zone", "b")])));
        assert!(!na.matches(&node(&[("zone", "a")])));
        assert_eq!(na.preferred_score(&node(&[("zone", "a"), ("gpu", "")])), 15);
        assert_eq!(na.preferred_score(&node(&[("zone", "b")])), 0);
    }

    #[test]
    fn no_constraints_match_every_node() {
        let na = NodeAffinity::new(&PodInfo::default());
        assert!(na.matches(&node(&[])));
        assert!(!na.has_preferred());
    }
}
