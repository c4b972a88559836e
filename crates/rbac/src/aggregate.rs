//! ClusterRole aggregation, as upstream's `clusterroleaggregation` controller would leave it at
//! rest: a ClusterRole with an `aggregationRule` has exactly the rules of the other ClusterRoles
//! its selectors match (selector by selector, roles by name, duplicates dropped), its own
//! `rules` field being replaced. Aggregated roles can match other aggregated roles (`admin`
//! gathers `edit`, which gathers `view`); this is iterated to a fixed point, starting aggregated
//! roles empty, so a cycle of aggregated roles holds the rules reachable from it and no stale
//! ones.
//!
//! Owns the computation; the policy calls it once per snapshot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::objects::RoleObject;
use crate::rule::PolicyRule;

/// Effective rules of every ClusterRole by name (the last object wins for a repeated name).
pub(crate) fn effective_rules(cluster_roles: Vec<RoleObject>) -> HashMap<String, Arc<[PolicyRule]>> {
    let by_name: BTreeMap<String, RoleObject> =
        cluster_roles.into_iter().map(|role| (role.meta.name.clone(), role)).collect();
    let mut current: BTreeMap<&str, Vec<PolicyRule>> = by_name
        .iter()
        .map(|(name, role)| (name.as_str(), if role.aggregation.is_some() { Vec::new() } else { role.rules.clone() }))
        .collect();
    let aggregated: Vec<&str> =
        by_name.iter().filter(|(_, role)| role.aggregation.is_some()).map(|(name, _)| name.as_str()).collect();

    for _ in 0..aggregated.len() + 2 {
        let mut changed = false;
        for &name in &aggregated {
            let selectors = by_name.get(name).and_then(|role| role.aggregation.as_deref()).unwrap_or_default();
            let mut rules = Vec::new();
            let mut seen = HashSet::new();
            for selector in selectors {
                for (other, role) in &by_name {
                    if other == name || !selector.matches(&role.meta.labels) {
                        continue;
                    }
                    for rule in current.get(other.as_str()).map(Vec::as_slice).unwrap_or_default() {
                        if seen.insert(rule) {
                            rules.push(rule.clone());
                        }
                    }
                }
            }
            if current.get(name) != Some(&rules) {
                current.insert(name, rules);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    current.into_iter().map(|(name, rules)| (name.to_string(), Arc::from(rules))).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::objects::Kind;

    fn role(v: serde_json::Value) -> RoleObject {
        RoleObject::parse(&v, Kind::ClusterRole).expect("valid cluster role")
    }

    fn resources(rules: &[PolicyRule]) -> Vec<&str> {
        rules.iter().flat_map(|r| r.resources.iter().map(String::as_str)).collect()
    }

    #[test]
    fn aggregates_transitively_by_name_without_duplicates() {
        let agg = |name: &str, to: &str, labels: serde_json::Value| {
            json!({"metadata": {"name": name, "labels": labels},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {to: "true"}}]},
                "rules": [{"verbs": ["stale"], "apiGroups": [""], "resources": ["ignored"]}]})
        };
        let leaf = |name: &str, label: &str, resource: &str| {
            json!({"metadata": {"name": name, "labels": {label: "true"}},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": [resource]},
                          {"verbs": ["get"], "apiGroups": [""], "resources": ["shared"]}]})
        };
        let roles = vec![
            role(agg("top", "to-top", json!({}))),
            role(agg("middle", "to-middle", json!({"to-top": "true"}))),
            role(leaf("b-leaf", "to-top", "b")),
            role(leaf("a-leaf", "to-middle", "a")),
            role(leaf("c-leaf", "to-middle", "c")),
        ];
        let rules = effective_rules(roles);
        assert_eq!(resources(&rules["middle"]), ["a", "shared", "c"]);
        // Matching roles in name order: b-leaf, then middle.
        assert_eq!(resources(&rules["top"]), ["b", "shared", "a", "c"]);
        assert_eq!(resources(&rules["a-leaf"]), ["a", "shared"]);
    }

    #[test]
    fn cycles_converge_to_reachable_rules() {
        let roles = vec![
            role(json!({"metadata": {"name": "x", "labels": {"ring": "true"}},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"ring": "true"}}]}})),
            role(json!({"metadata": {"name": "y", "labels": {"ring": "true"}},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"ring": "true"}}]}})),
            role(json!({"metadata": {"name": "z", "labels": {"ring": "true"}},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]})),
            role(json!({"metadata": {"name": "empty"}, "aggregationRule": {"clusterRoleSelectors": []},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["dropped"]}]})),
        ];
        let rules = effective_rules(roles);
        assert_eq!(resources(&rules["x"]), ["pods"]);
        assert_eq!(resources(&rules["y"]), ["pods"]);
        assert!(rules["empty"].is_empty(), "an aggregation rule with no selectors aggregates nothing");
    }
}
