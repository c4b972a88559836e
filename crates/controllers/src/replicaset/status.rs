//! Upstream's `calculateStatus` for a ReplicaSet: counts over its active pods, the
//! `ReplicaFailure` condition while creating or deleting fails, and the generation observed.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::pods;

/// Why the last resize failed, for the `ReplicaFailure` condition.
pub struct Failure {
    /// `FailedCreate` or `FailedDelete`, as upstream.
    pub reason: &'static str,
    pub message: String,
}

/// The status `rs` should report, given its active pods at `now`.
pub fn calculate(rs: &ReplicaSet, active: &[Arc<Pod>], failure: Option<&Failure>, now: Timestamp) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels =
        spec.and_then(|s| s.template.as_ref()).and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone());
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            template_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let previous = rs.status.as_ref();
    let mut conditions: Vec<ReplicaSetCondition> = previous
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some(f) = failure {
        let kept = previous
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "ReplicaFailure" && c.status == "True"))
            .and_then(|c| c.last_transition_time.clone());
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(f.reason.into()),
            message: Some(f.message.clone()),
            last_transition_time: Some(kept.unwrap_or(Time(now))),
        });
    }
    ReplicaSetStatus {
        replicas: count(active.len()),
        fully_labeled_replicas: Some(count(fully_labeled)),
        ready_replicas: Some(count(active.iter().filter(|p| pods::is_ready(p)).count())),
        available_replicas: Some(count(active.iter().filter(|p| pods::is_available(p, min_ready, now)).count())),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: previous.and_then(|s| s.terminating_replicas),
    }
}

/// Equal as far as a reader can tell (absent counts read as zero), so an unchanged status is not
/// written again.
pub fn same(a: Option<&ReplicaSetStatus>, b: &ReplicaSetStatus) -> bool {
    let Some(a) = a else { return false };
    let n = |v: Option<i32>| v.unwrap_or(0);
    a.replicas == b.replicas
        && n(a.fully_labeled_replicas) == n(b.fully_labeled_replicas)
        && n(a.ready_replicas) == n(b.ready_replicas)
        && n(a.available_replicas) == n(b.available_replicas)
        && a.observed_generation == b.observed_generation
        && a.conditions.clone().unwrap_or_default() == b.conditions.clone().unwrap_or_default()
}
