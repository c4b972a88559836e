//! What a user may do in a namespace, in the shapes of a SelfSubjectRulesReview's `status`
//! (`authorization.k8s.io/v1` `ResourceRule`, `NonResourceRule`), as upstream's
//! `RBACAuthorizer.RulesFor`: each policy rule with resources becomes a resource rule, each
//! with non-resource URLs a non-resource rule, in the order they apply, duplicates kept.
//!
//! Owns the conversion; the review request and response envelope are the API server's.

use serde::Serialize;
use serde_json::{Value, json};

use crate::go::aggregate;
use crate::policy::Policy;
use crate::rule::PolicyRule;
use crate::user::UserInfo;

/// A SelfSubjectRulesReview `status.resourceRules` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResourceRule {
    /// Verbs, or `*`.
    pub verbs: Vec<String>,
    /// API groups, or `*`.
    #[serde(rename = "apiGroups", skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Names the rule is restricted to; empty means all.
    #[serde(rename = "resourceNames", skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// A SelfSubjectRulesReview `status.nonResourceRules` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NonResourceRule {
    /// Verbs, or `*`.
    pub verbs: Vec<String>,
    /// Paths, with `*` as a suffix wildcard.
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn split(rules: Vec<PolicyRule>) -> (Vec<ResourceRule>, Vec<NonResourceRule>) {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in rules {
        if !rule.resources.is_empty() {
            resource_rules.push(ResourceRule {
                verbs: rule.verbs.clone(),
                api_groups: rule.api_groups,
                resources: rule.resources,
                resource_names: rule.resource_names,
            });
        }
        if !rule.non_resource_urls.is_empty() {
            non_resource_rules.push(NonResourceRule { verbs: rule.verbs, non_resource_urls: rule.non_resource_urls });
        }
    }
    (resource_rules, non_resource_rules)
}

impl Policy {
    /// The resource and non-resource rules that apply to `user` in `namespace`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<ResourceRule>, Vec<NonResourceRule>) {
        split(self.resolve_rules(user, namespace).rules)
    }

    /// The `status` of a SelfSubjectRulesReview for `user` in `namespace`:
    /// `{"resourceRules": [...], "nonResourceRules": [...], "incomplete": false}`, plus
    /// `evaluationError` naming missing roles, as upstream.
    pub fn rules_review_status(&self, user: &UserInfo, namespace: &str) -> Value {
        let resolution = self.resolve_rules(user, namespace);
        let (resource_rules, non_resource_rules) = split(resolution.rules);
        let mut status = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": false,
        });
        if !resolution.errors.is_empty() {
            status["evaluationError"] = Value::String(aggregate(&resolution.errors));
        }
        status
    }
}
