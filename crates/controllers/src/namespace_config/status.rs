//! The status of a `NamespaceConfig`: vSphere's `config_status`, `messages` and `stats`, plus a
//! Kubernetes `Ready` condition and `observedGeneration`.
//!
//! Owns: the status types, the lifecycle ([`ConfigStatus::of`], one function from what a
//! reconcile found to the reported state) and the computation of the next status (pure; the
//! reconciler writes it only when it differs from what is stored, so writing it cannot loop).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::{Deserialize, Serialize};

/// Every field serialises, `None` as `null`, so the status can be written as one JSON merge
/// patch that also removes what is no longer reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceConfigStatus {
    #[serde(default)]
    pub config_status: Option<ConfigStatus>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stats: Option<Stats>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

/// vSphere's `config_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConfigStatus {
    Configuring,
    Running,
    Error,
    Removing,
}

/// vSphere's `messages[]` entry (`details` is plain text here, not a LocalizableMessage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub severity: Severity,
    pub details: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Message {
    pub fn info(details: impl Into<String>) -> Self {
        Message { severity: Severity::Info, details: details.into() }
    }
    pub fn warning(details: impl Into<String>) -> Self {
        Message { severity: Severity::Warning, details: details.into() }
    }
    pub fn error(details: impl Into<String>) -> Self {
        Message { severity: Severity::Error, details: details.into() }
    }
}

/// vSphere's `stats`, read from the namespace quota's `status.used`: present only for what the
/// config limits (an unlimited resource has no quota key, so nothing counts it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// `limits.cpu` in use.
    pub cpu_used: Option<String>,
    /// `limits.memory` in use.
    pub memory_used: Option<String>,
    /// `requests.storage` in use.
    pub storage_used: Option<String>,
    /// `pods` in use (non-terminal pods).
    pub pod_count: Option<i64>,
}

impl Stats {
    /// Stats from a quota's `status.used`; `None` without a quota or before it is counted.
    pub fn from_quota(quota: Option<&ResourceQuota>) -> Option<Stats> {
        let used: &BTreeMap<_, _> = quota?.status.as_ref()?.used.as_ref()?;
        let get = |k: &str| used.get(k).map(|q| q.0.clone());
        Some(Stats {
            cpu_used: get("limits.cpu"),
            memory_used: get("limits.memory"),
            storage_used: get("requests.storage"),
            pod_count: used.get("pods").and_then(|q| q.0.parse().ok()),
        })
    }
}

/// What one reconcile found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The config is being deleted: nothing is changed any more.
    Removing,
    /// Waiting for something outside the controller (a terminating namespace).
    Waiting(String),
    /// Everything is in place; the messages are informational or warnings.
    Ready(Vec<Message>),
    /// The spec is invalid or an API call failed.
    Failed(Vec<Message>),
}

impl ConfigStatus {
    /// The lifecycle: the state reported for what a reconcile found.
    pub fn of(outcome: &Outcome) -> ConfigStatus {
        match outcome {
            Outcome::Removing => ConfigStatus::Removing,
            Outcome::Waiting(_) => ConfigStatus::Configuring,
            Outcome::Ready(_) => ConfigStatus::Running,
            Outcome::Failed(_) => ConfigStatus::Error,
        }
    }
}

/// The `Ready` condition's status and reason for an outcome.
fn ready(outcome: &Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Removing => ("False", "Removing"),
        Outcome::Waiting(_) => ("False", "Waiting"),
        Outcome::Ready(_) => ("True", "Configured"),
        Outcome::Failed(_) => ("False", "Failed"),
    }
}

/// The status to report; `previous` keeps the `Ready` condition's transition time (and the last
/// stats while removing) stable.
pub fn next_status(
    previous: Option<&NamespaceConfigStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    stats: Option<Stats>,
    now: Time,
) -> NamespaceConfigStatus {
    let messages = match outcome {
        Outcome::Removing => vec![Message::info("the namespace configuration is being removed")],
        Outcome::Waiting(why) => vec![Message::info(why.clone())],
        Outcome::Ready(m) | Outcome::Failed(m) => m.clone(),
    };
    let (cond_status, reason) = ready(outcome);
    let message = messages.iter().map(|m| m.details.as_str()).collect::<Vec<_>>().join("; ");
    let old = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == "Ready"));
    let last_transition_time = match old {
        Some(c) if c.status == cond_status => c.last_transition_time.clone(),
        _ => now,
    };
    let stats = match outcome {
        Outcome::Removing => previous.and_then(|p| p.stats.clone()),
        _ => stats,
    };
    NamespaceConfigStatus {
        config_status: Some(ConfigStatus::of(outcome)),
        messages,
        stats,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: cond_status.into(),
            reason: reason.into(),
            message,
            last_transition_time,
            observed_generation: generation,
        }],
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn lifecycle_table() {
        let table = [
            (Outcome::Removing, ConfigStatus::Removing),
            (Outcome::Waiting("namespace terminating".into()), ConfigStatus::Configuring),
            (Outcome::Ready(vec![]), ConfigStatus::Running),
            (Outcome::Ready(vec![Message::warning("w")]), ConfigStatus::Running),
            (Outcome::Failed(vec![Message::error("e")]), ConfigStatus::Error),
        ];
        for (outcome, want) in table {
            assert_eq!(ConfigStatus::of(&outcome), want, "{outcome:?}");
        }
    }

    #[test]
    fn transition_time_moves_only_when_readiness_changes() {
        let t0 = Time(Timestamp::from_second(1_000).expect("t0"));
        let t1 = Time(Timestamp::from_second(2_000).expect("t1"));
        let first = next_status(None, Some(1), &Outcome::Ready(vec![]), None, t0.clone());
        let same = next_status(Some(&first), Some(2), &Outcome::Ready(vec![]), None, t1.clone());
        assert_eq!(same.conditions[0].last_transition_time, t0);
        assert_eq!(same.observed_generation, Some(2));
        let failed = next_status(Some(&same), Some(2), &Outcome::Failed(vec![Message::error("x")]), None, t1.clone());
        assert_eq!(failed.conditions[0].last_transition_time, t1);
        assert_eq!((failed.conditions[0].status.as_str(), failed.conditions[0].message.as_str()), ("False", "x"));
    }

    #[test]
    fn absent_fields_serialise_as_null_for_the_merge_patch() {
        let s = NamespaceConfigStatus { stats: Some(Stats::default()), ..Default::default() };
        let v = serde_json::to_value(&s).expect("status");
        assert!(v["configStatus"].is_null() && v["stats"]["cpuUsed"].is_null(), "{v}");
        assert!(v.as_object().is_some_and(|m| m.contains_key("stats") && m.contains_key("observedGeneration")));
    }

    #[test]
    fn stats_come_from_the_quota() {
        let q: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "canopy-quota"},
            "status": {"used": {"limits.cpu": "500m", "pods": "3", "secrets": "1"}},
        }))
        .expect("quota");
        let s = Stats::from_quota(Some(&q)).expect("stats");
        assert_eq!(s, Stats { cpu_used: Some("500m".into()), pod_count: Some(3), ..Default::default() });
        assert_eq!(Stats::from_quota(None), None);
    }
}
