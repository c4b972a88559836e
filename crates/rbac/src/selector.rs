//! The structured label selector of a ClusterRole's `aggregationRule.clusterRoleSelectors`
//! (`metav1.LabelSelector`: `matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`,
//! `DoesNotExist`), with upstream's `LabelSelectorAsSelector` semantics: an empty selector
//! matches every label set, and all requirements must hold.
//!
//! Owns just enough selector logic for aggregation; the query-string selector syntax lives in
//! `canopy-machinery`, which this leaf crate does not depend on.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::json::{self, FieldError};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a structured selector; operators and their value counts are checked as upstream.
    pub(crate) fn from_json(value: &Value) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new("", "must be an object"));
        }
        let mut requirements: Vec<Requirement> =
            json::string_map(value, "matchLabels")?.into_iter().map(|(k, v)| Requirement::In(k, vec![v])).collect();
        for (i, expr) in json::list(value, "matchExpressions")?.iter().enumerate() {
            let field = format!("matchExpressions[{i}]");
            let parsed = (|| {
                let key = json::string(expr, "key")?;
                let operator = json::string(expr, "operator")?;
                let values = json::strings(expr, "values")?;
                match (operator.as_str(), values.is_empty()) {
                    ("In", false) => Ok(Requirement::In(key, values)),
                    ("NotIn", false) => Ok(Requirement::NotIn(key, values)),
                    ("Exists", true) => Ok(Requirement::Exists(key)),
                    ("DoesNotExist", true) => Ok(Requirement::DoesNotExist(key)),
                    ("In" | "NotIn", true) => {
                        Err(FieldError::new("values", "must be specified when `operator` is 'In' or 'NotIn'"))
                    }
                    ("Exists" | "DoesNotExist", false) => Err(FieldError::new(
                        "values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )),
                    (other, _) => {
                        Err(FieldError::new("operator", format!("{other:?} is not a valid label selector operator")))
                    }
                }
            })();
            requirements.push(parsed.map_err(|e| e.under(&field))?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matches_like_upstream() {
        let sel = |v| LabelSelector::from_json(&v).expect("valid selector");
        let agg = sel(json!({"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}));
        assert!(agg.matches(&labels(&[("rbac.authorization.k8s.io/aggregate-to-view", "true"), ("x", "y")])));
        assert!(!agg.matches(&labels(&[("rbac.authorization.k8s.io/aggregate-to-view", "false")])));
        assert!(!agg.matches(&labels(&[])));

        let exprs = sel(json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "team", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist", "values": null},
        ]}));
        assert!(exprs.matches(&labels(&[("tier", "a"), ("team", "x")])));
        assert!(exprs.matches(&labels(&[("tier", "b"), ("team", "x"), ("env", "dev")])));
        assert!(!exprs.matches(&labels(&[("tier", "c"), ("team", "x")])));
        assert!(!exprs.matches(&labels(&[("tier", "a"), ("team", "x"), ("env", "prod")])));
        assert!(!exprs.matches(&labels(&[("tier", "a")])));
        assert!(!exprs.matches(&labels(&[("tier", "a"), ("team", "x"), ("legacy", "")])));

        assert!(sel(json!({})).matches(&labels(&[])), "an empty selector matches everything");
    }

    #[test]
    fn rejects_malformed_expressions() {
        let err = |v| LabelSelector::from_json(&v).expect_err("invalid").to_string();
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
            "matchExpressions[0].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
        );
        assert_eq!(
            err(json!({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]})),
            "matchExpressions[0].operator: \"Near\" is not a valid label selector operator"
        );
        assert_eq!(err(json!({"matchLabels": {"a": 1}})), "matchLabels.a: must be a string");
    }
}
