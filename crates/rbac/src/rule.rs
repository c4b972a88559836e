//! `PolicyRule`: parsing from JSON and matching a request exactly as upstream's
//! `pkg/apis/rbac/v1/evaluation_helpers.go` and `RuleAllows` do.
//!
//! - `*` in verbs, apiGroups or resources matches anything; `*/scale` matches the `scale`
//!   subresource of any resource; `pods/log` matches only that subresource.
//! - `resourceNames` restrict only when non-empty (a `list` or `create` has no name, so a rule
//!   with resourceNames never allows it).
//! - `nonResourceURLs` match exactly, `*` matches any path, and a trailing `*` matches by prefix.
//!
//! Owns one rule; which rules apply to a user is [`crate::Policy`]'s.

use serde::Serialize;
use serde_json::Value;

use crate::attributes::Attributes;
use crate::go::quote_list;
use crate::json::{self, FieldError};

/// One RBAC policy rule (`rbac.authorization.k8s.io/v1` `PolicyRule`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PolicyRule {
    /// Verbs, or `*`.
    pub verbs: Vec<String>,
    /// API groups (`""` for core), or `*`.
    #[serde(rename = "apiGroups", skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*/subresource`, or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is restricted to; empty means all.
    #[serde(rename = "resourceNames", skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource paths, with `*` as a suffix wildcard.
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

impl PolicyRule {
    /// A rule granting `verbs`; add what they apply to with [`Self::groups`],
    /// [`Self::resources`], [`Self::names`] or [`Self::urls`] (upstream's `NewRule`).
    pub fn new(verbs: &[&str]) -> Self {
        PolicyRule { verbs: owned(verbs), ..PolicyRule::default() }
    }

    /// The same rule for `groups`.
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.api_groups.extend(owned(groups));
        self
    }

    /// The same rule for `resources`.
    pub fn resources(mut self, resources: &[&str]) -> Self {
        self.resources.extend(owned(resources));
        self
    }

    /// The same rule restricted to objects named `names`.
    pub fn names(mut self, names: &[&str]) -> Self {
        self.resource_names.extend(owned(names));
        self
    }

    /// The same rule for non-resource `urls`.
    pub fn urls(mut self, urls: &[&str]) -> Self {
        self.non_resource_urls.extend(owned(urls));
        self
    }

    /// Parses a rule as served by the API (missing or null lists are empty).
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new("", "must be an object"));
        }
        Ok(PolicyRule {
            verbs: json::strings(value, "verbs")?,
            api_groups: json::strings(value, "apiGroups")?,
            resources: json::strings(value, "resources")?,
            resource_names: json::strings(value, "resourceNames")?,
            non_resource_urls: json::strings(value, "nonResourceURLs")?,
        })
    }

    /// The rule as API JSON (empty lists omitted, `verbs` always present).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether this rule allows the request (upstream's `RuleAllows`).
    pub fn allows(&self, attrs: &Attributes) -> bool {
        match attrs {
            Attributes::Resource(r) => {
                self.verb_matches(&r.verb)
                    && self.api_group_matches(&r.api_group)
                    && self.resource_matches(&r.resource, &r.subresource)
                    && self.resource_name_matches(&r.name)
            }
            Attributes::NonResource(n) => self.verb_matches(&n.verb) && self.non_resource_url_matches(&n.path),
        }
    }

    /// `*` or the exact verb.
    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    /// `*` or the exact group.
    pub fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    /// `*`, the exact `resource[/subresource]`, or `*/subresource`.
    pub fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|rule| {
            if rule == "*" {
                return true;
            }
            if subresource.is_empty() {
                return rule == resource;
            }
            let combined = rule.len() == resource.len() + 1 + subresource.len()
                && rule.starts_with(resource)
                && rule[resource.len()..].starts_with('/')
                && rule.ends_with(subresource);
            combined || rule.strip_prefix("*/") == Some(subresource)
        })
    }

    /// No restriction when `resourceNames` is empty, else the exact name.
    pub fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// `*`, the exact path, or a prefix ending in `*`.
    pub fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|url| url == "*" || url == path || (url.ends_with('*') && path.starts_with(url.trim_end_matches('*'))))
    }

    /// Upstream's `CompactString`, used in escalation errors:
    /// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let parts: Vec<String> = [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ]
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(label, values)| format!("{label}:{}", quote_list(values)))
        .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// Parses the `rules` list of a Role or ClusterRole.
pub(crate) fn rules_from_json(obj: &Value) -> Result<Vec<PolicyRule>, FieldError> {
    json::list(obj, "rules")?
        .iter()
        .enumerate()
        .map(|(i, r)| PolicyRule::from_json(r).map_err(|e| e.under(&format!("rules[{i}]"))))
        .collect()
}

#[cfg(test)]
mod tests;
