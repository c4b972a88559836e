//! Whether one set of rules covers another, as upstream's `Covers`
//! (`k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go`): the requested rules
//! are broken down to one group, resource, verb and name each, and every piece must be covered by
//! a single owner rule. Also upstream's `CompactRules`, which folds the uncovered pieces back into
//! one rule per group and resource for the error message.
//!
//! Owns the comparison; whose rules are compared is [`crate::escalation`]'s.

use crate::rule::PolicyRule;

/// `Ok` if `owner` covers every rule in `requested`; otherwise the uncovered pieces, one group,
/// resource (or URL), verb and name each, in breakdown order.
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let uncovered: Vec<PolicyRule> =
        requested.iter().flat_map(breakdown_rule).filter(|sub| !owner.iter().any(|o| rule_covers(o, sub))).collect();
    if uncovered.is_empty() { Ok(()) } else { Err(uncovered) }
}

/// Upstream's `BreakdownRule`: an equivalent list of rules with at most one group, resource,
/// verb and name each (non-resource URLs pair with verbs only).
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: one(verb),
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(
                        rule.resource_names.iter().map(|n| PolicyRule { resource_names: one(n), ..base.clone() }),
                    );
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule { non_resource_urls: one(url), verbs: one(verb), ..PolicyRule::default() });
        }
    }
    out
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

fn resource_covers_all(owner: &[String], requested: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, requested) {
        return true;
    }
    requested.iter().all(|path| {
        has(owner, path)
            || path.split_once('/').is_some_and(|(_, sub)| owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)))
    })
}

fn non_resource_url_covers(owner: &str, path: &str) -> bool {
    owner == path || (owner.ends_with('*') && path.starts_with(owner.trim_end_matches('*')))
}

/// Upstream's `ruleCovers` for one broken-down `sub` rule.
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls =
        sub.non_resource_urls.iter().all(|p| owner.non_resource_urls.iter().any(|o| non_resource_url_covers(o, p)));
    let names = owner.resource_names.is_empty()
        || (!sub.resource_names.is_empty() && has_all(&owner.resource_names, &sub.resource_names));
    verbs && groups && resources && names && urls
}

/// Upstream's `CompactRules`: rules with exactly one group and one resource and nothing but verbs
/// are merged per group and resource (verbs appended in order); other rules are kept as they are.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut compacted: Vec<PolicyRule> = Vec::new();
    let mut simple: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let is_simple = rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty()
            && rule.api_groups.len() == 1
            && rule.resources.len() == 1;
        if !is_simple {
            compacted.push(rule.clone());
        } else if let Some(existing) =
            simple.iter_mut().find(|s| s.api_groups == rule.api_groups && s.resources == rule.resources)
        {
            existing.verbs.extend(rule.verbs.iter().cloned());
        } else {
            simple.push(rule.clone());
        }
    }
    compacted.extend(simple);
    compacted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule::new(verbs).groups(groups).resources(resources)
    }

    #[test]
    fn covers_table() {
        let cases: &[(&str, Vec<PolicyRule>, Vec<PolicyRule>, bool)] = &[
            ("exact", vec![r(&["get"], &[""], &["pods"])], vec![r(&["get"], &[""], &["pods"])], true),
            ("star verbs", vec![r(&["*"], &[""], &["pods"])], vec![r(&["get", "delete"], &[""], &["pods"])], true),
            ("star groups", vec![r(&["get"], &["*"], &["pods"])], vec![r(&["get"], &["", "x"], &["pods"])], true),
            ("star resources", vec![r(&["get"], &[""], &["*"])], vec![r(&["get"], &[""], &["pods/log"])], true),
            (
                "split across owners",
                vec![r(&["get"], &[""], &["pods"]), r(&["list"], &[""], &["pods"])],
                vec![r(&["get", "list"], &[""], &["pods"])],
                true,
            ),
            ("missing verb", vec![r(&["get"], &[""], &["pods"])], vec![r(&["get", "list"], &[""], &["pods"])], false),
            (
                "subresource not covered by resource",
                vec![r(&["get"], &[""], &["pods"])],
                vec![r(&["get"], &[""], &["pods/exec"])],
                false,
            ),
            (
                "*/scale covers x/scale",
                vec![r(&["get"], &["apps"], &["*/scale"])],
                vec![r(&["get"], &["apps"], &["deployments/scale"])],
                true,
            ),
            (
                "names restrict owner",
                vec![r(&["get"], &[""], &["secrets"]).names(&["a"])],
                vec![r(&["get"], &[""], &["secrets"])],
                false,
            ),
            (
                "names covered",
                vec![r(&["get"], &[""], &["secrets"]).names(&["a", "b"])],
                vec![r(&["get"], &[""], &["secrets"]).names(&["b"])],
                true,
            ),
            (
                "unrestricted owner covers names",
                vec![r(&["get"], &[""], &["secrets"])],
                vec![r(&["get"], &[""], &["secrets"]).names(&["b"])],
                true,
            ),
            (
                "urls prefix",
                vec![PolicyRule::new(&["get"]).urls(&["/api/*"])],
                vec![PolicyRule::new(&["get"]).urls(&["/api/v1"])],
                true,
            ),
            (
                "urls star",
                vec![PolicyRule::new(&["*"]).urls(&["*"])],
                vec![PolicyRule::new(&["get"]).urls(&["/metrics"])],
                true,
            ),
            (
                "resource owner never covers urls",
                vec![r(&["*"], &["*"], &["*"])],
                vec![PolicyRule::new(&["get"]).urls(&["/metrics"])],
                false,
            ),
            ("nothing requested", vec![], vec![], true),
        ];
        for (what, owner, requested, want) in cases {
            assert_eq!(covers(owner, requested).is_ok(), *want, "{what}");
        }
    }

    #[test]
    fn reports_uncovered_pieces_and_compacts_them() {
        let owner = vec![r(&["get"], &[""], &["pods"])];
        let requested = vec![r(&["get", "list", "watch"], &[""], &["pods", "services"])];
        let missing = covers(&owner, &requested).expect_err("not covered");
        assert_eq!(missing.len(), 5);
        let compact: Vec<String> = compact_rules(&missing).iter().map(PolicyRule::compact_string).collect();
        assert_eq!(
            compact,
            [
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}"#,
                r#"{APIGroups:[""], Resources:["services"], Verbs:["get" "list" "watch"]}"#,
            ]
        );
    }
}
