//! Compiled label selectors (pods, namespaces) and node selectors (node affinity).
//!
//! Compiled once per scheduling decision so the per-node loop only compares strings.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Req {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// An operator upstream rejects at validation; a selector holding it matches nothing.
    Invalid,
}

impl Req {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Req::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Req::Exists(k) => labels.contains_key(k),
            Req::DoesNotExist(k) => !labels.contains_key(k),
            Req::Invalid => false,
        }
    }
}

/// A compiled `metav1.LabelSelector`. Upstream semantics: a missing selector matches nothing,
/// an empty one (`{}`) matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    /// `None` = matches nothing.
    reqs: Option<Vec<Req>>,
}

impl Selector {
    /// A selector that matches no object.
    pub fn nothing() -> Self {
        Self { reqs: None }
    }

    /// A selector that matches every object.
    #[cfg(test)]
    pub fn everything() -> Self {
        Self { reqs: Some(Vec::new()) }
    }

    /// Compiles an optional API selector (`None` matches nothing).
    pub fn compile(sel: Option<&LabelSelector>) -> Self {
        let Some(sel) = sel else {
            return Self::nothing();
        };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Req::In(k.clone(), vec![v.clone()]));
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            reqs.push(match e.operator.as_str() {
                "In" => Req::In(e.key.clone(), values),
                "NotIn" => Req::NotIn(e.key.clone(), values),
                "Exists" => Req::Exists(e.key.clone()),
                "DoesNotExist" => Req::DoesNotExist(e.key.clone()),
                _ => Req::Invalid,
            });
        }
        Self { reqs: Some(reqs) }
    }

    /// Adds `key In (labels[key])` for each key present in `labels` (upstream `matchLabelKeys`).
    #[must_use]
    pub fn with_match_label_keys(mut self, keys: &[String], labels: &Labels) -> Self {
        if let Some(reqs) = self.reqs.as_mut() {
            for k in keys {
                if let Some(v) = labels.get(k) {
                    reqs.push(Req::In(k.clone(), vec![v.clone()]));
                }
            }
        }
        self
    }

    /// Adds `key NotIn (labels[key])` for each key present in `labels` (`mismatchLabelKeys`).
    #[must_use]
    pub fn with_mismatch_label_keys(mut self, keys: &[String], labels: &Labels) -> Self {
        if let Some(reqs) = self.reqs.as_mut() {
            for k in keys {
                if let Some(v) = labels.get(k) {
                    reqs.push(Req::NotIn(k.clone(), vec![v.clone()]));
                }
            }
        }
        self
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.reqs.as_ref().is_some_and(|reqs| reqs.iter().all(|r| r.matches(labels)))
    }
}

/// One compiled node selector requirement.
#[derive(Debug, Clone)]
enum NodeReq {
    Label(Req),
    Gt(String, i64),
    Lt(String, i64),
    NameIn(Vec<String>),
    NameNotIn(Vec<String>),
}

impl NodeReq {
    fn compile_expr(r: &NodeSelectorRequirement) -> NodeReq {
        let values = r.values.clone().unwrap_or_default();
        let int = || match values.as_slice() {
            [v] => v.parse::<i64>().ok(),
            _ => None,
        };
        match r.operator.as_str() {
            "In" => NodeReq::Label(Req::In(r.key.clone(), values)),
            "NotIn" => NodeReq::Label(Req::NotIn(r.key.clone(), values)),
            "Exists" => NodeReq::Label(Req::Exists(r.key.clone())),
            "DoesNotExist" => NodeReq::Label(Req::DoesNotExist(r.key.clone())),
            "Gt" => int().map_or(NodeReq::Label(Req::Invalid), |n| NodeReq::Gt(r.key.clone(), n)),
            "Lt" => int().map_or(NodeReq::Label(Req::Invalid), |n| NodeReq::Lt(r.key.clone(), n)),
            _ => NodeReq::Label(Req::Invalid),
        }
    }

    fn compile_field(r: &NodeSelectorRequirement) -> NodeReq {
        // Upstream supports only `metadata.name` with In/NotIn in matchFields.
        let values = r.values.clone().unwrap_or_default();
        match (r.key.as_str(), r.operator.as_str()) {
            ("metadata.name", "In") => NodeReq::NameIn(values),
            ("metadata.name", "NotIn") => NodeReq::NameNotIn(values),
            _ => NodeReq::Label(Req::Invalid),
        }
    }

    fn matches(&self, name: &str, labels: &Labels) -> bool {
        let int_label = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
        match self {
            NodeReq::Label(r) => r.matches(labels),
            NodeReq::Gt(k, n) => int_label(k).is_some_and(|v| v > *n),
            NodeReq::Lt(k, n) => int_label(k).is_some_and(|v| v < *n),
            NodeReq::NameIn(vs) => vs.iter().any(|v| v == name),
            NodeReq::NameNotIn(vs) => !vs.iter().any(|v| v == name),
        }
    }
}

/// A compiled `NodeSelectorTerm`: its requirements are ANDed; an empty term matches nothing.
#[derive(Debug, Clone)]
pub struct NodeTerm {
    reqs: Vec<NodeReq>,
}

impl NodeTerm {
    /// Compiles one term.
    pub fn compile(t: &NodeSelectorTerm) -> Self {
        let mut reqs: Vec<NodeReq> = Vec::new();
        reqs.extend(t.match_expressions.iter().flatten().map(NodeReq::compile_expr));
        reqs.extend(t.match_fields.iter().flatten().map(NodeReq::compile_field));
        Self { reqs }
    }

    /// True when the node named `name` with `labels` satisfies the term.
    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        !self.reqs.is_empty() && self.reqs.iter().all(|r| r.matches(name, labels))
    }
}

/// A compiled required node selector: its terms are ORed.
#[derive(Debug, Clone)]
pub struct NodeSelectorTerms {
    terms: Vec<NodeTerm>,
}

impl NodeSelectorTerms {
    /// Compiles `requiredDuringSchedulingIgnoredDuringExecution`.
    pub fn compile(sel: &NodeSelector) -> Self {
        Self { terms: sel.node_selector_terms.iter().map(NodeTerm::compile).collect() }
    }

    /// True when any term matches.
    pub fn matches(&self, name: &str, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(name, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn nil_matches_nothing_and_empty_matches_everything() {
        let l = labels(&[("app", "web")]);
        assert!(!Selector::compile(None).matches(&l));
        assert!(Selector::compile(Some(&LabelSelector::default())).matches(&l));
        assert!(Selector::compile(Some(&LabelSelector::default())).matches(&Labels::new()));
    }

    #[test]
    fn label_selector_operators() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["a", "b"]),
                expr("env", "NotIn", &["prod"]),
                expr("team", "Exists", &[]),
                expr("legacy", "DoesNotExist", &[]),
            ]),
        };
        let s = Selector::compile(Some(&sel));
        let base = [("app", "web"), ("tier", "a"), ("team", "x")];
        assert!(s.matches(&labels(&base)));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b"), ("team", "x"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a"), ("team", "x"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a"), ("team", "x"), ("legacy", "")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "a"), ("team", "x")])));
    }

    #[test]
    fn match_label_keys_narrow_the_selector() {
        let s =
            Selector::everything().with_match_label_keys(&["rev".into(), "absent".into()], &labels(&[("rev", "1")]));
        assert!(s.matches(&labels(&[("rev", "1")])));
        assert!(!s.matches(&labels(&[("rev", "2")])));
    }

    fn node_req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn node_selector_operators() {
        let l = labels(&[("cores", "16"), ("zone", "a")]);
        let term = |reqs: Vec<NodeSelectorRequirement>| {
            NodeTerm::compile(&NodeSelectorTerm { match_expressions: Some(reqs), match_fields: None })
        };
        assert!(term(vec![node_req("cores", "Gt", &["8"])]).matches("n", &l));
        assert!(!term(vec![node_req("cores", "Gt", &["16"])]).matches("n", &l));
        assert!(term(vec![node_req("cores", "Lt", &["17"])]).matches("n", &l));
        assert!(!term(vec![node_req("zone", "Lt", &["17"])]).matches("n", &l), "non-integer label");
        assert!(!term(vec![node_req("cores", "Gt", &["x"])]).matches("n", &l), "bad value");
        assert!(!term(vec![node_req("missing", "Gt", &["1"])]).matches("n", &l));
        assert!(term(vec![node_req("zone", "In", &["a", "b"])]).matches("n", &l));
        assert!(term(vec![node_req("missing", "NotIn", &["a"])]).matches("n", &l));
        assert!(term(vec![node_req("missing", "DoesNotExist", &[])]).matches("n", &l));
        assert!(!term(vec![node_req("zone", "DoesNotExist", &[])]).matches("n", &l));
        assert!(!term(vec![]).matches("n", &l), "empty term matches nothing");
        let fields = NodeTerm::compile(&NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![node_req("metadata.name", "In", &["n1"])]),
        });
        assert!(fields.matches("n1", &l));
        assert!(!fields.matches("n2", &l));
    }

    #[test]
    fn node_selector_terms_are_ored() {
        let sel = NodeSelector {
            node_selector_terms: vec![
                NodeSelectorTerm { match_expressions: Some(vec![node_req("zone", "In", &["a"])]), match_fields: None },
                NodeSelectorTerm { match_expressions: Some(vec![node_req("zone", "In", &["b"])]), match_fields: None },
            ],
        };
        let s = NodeSelectorTerms::compile(&sel);
        assert!(s.matches("n", &labels(&[("zone", "a")])));
        assert!(s.matches("n", &labels(&[("zone", "b")])));
        assert!(!s.matches("n", &labels(&[("zone", "c")])));
        let none = NodeSelectorTerms::compile(&NodeSelector { node_selector_terms: vec![] });
        assert!(!none.matches("n", &labels(&[("zone", "c")])));
    }
}
