//! Upstream's `deploymentutil`, the pure part: the annotations a Deployment keeps on its
//! ReplicaSets, counts over them, the orders they are scaled in, and which one is new.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::fenceposts::{max_surge, replicas};
use super::hash::equal_ignore_hash;

/// The rollout revision, on the ReplicaSet and mirrored on the Deployment.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The Deployment's replicas when the ReplicaSet was last sized for it.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus surge then (the base of proportional scaling).
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations never copied onto its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// `spec.replicas` (1 when absent, the server's default).
pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

pub fn ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i64> {
    annotation(rs, key)?.parse().ok()
}

/// The ReplicaSet's revision (0 when unset or unparsable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    int_annotation(rs, REVISION).unwrap_or(0)
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, DESIRED_REPLICAS).and_then(|v| i32::try_from(v).ok())
}

pub fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, MAX_REPLICAS).and_then(|v| i32::try_from(v).ok())
}

pub fn template(d: &Deployment) -> PodTemplateSpec {
    d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
}

fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default()
}

/// Sums of spec and status counts over ReplicaSets.
pub fn sum(rss: &[&ReplicaSet], count: impl Fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| count(rs)).sum()
}

/// ReplicaSets with replicas wanted.
pub fn active<'a>(rss: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    rss.iter().copied().filter(|rs| spec_replicas(rs) > 0).collect()
}

fn created(rs: &ReplicaSet) -> Option<k8s_openapi::jiff::Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, then by name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Larger first; among equals newer first (upstream's `ReplicaSetsBySizeNewer`).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b).cmp(&spec_replicas(a)).then_with(|| by_creation(b, a))
}

/// Larger first; among equals older first (upstream's `ReplicaSetsBySizeOlder`).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    spec_replicas(b).cmp(&spec_replicas(a)).then_with(|| by_creation(a, b))
}

/// Upstream's `FindNewReplicaSet`: the oldest ReplicaSet whose template is the Deployment's.
pub fn find_new<'a>(d: &Deployment, rss: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    let want = template(d);
    let mut matching: Vec<&ReplicaSet> = rss.iter().filter(|rs| equal_ignore_hash(&rs_template(rs), &want)).collect();
    matching.sort_by(|a, b| by_creation(a, b));
    matching.first().copied()
}

/// Upstream's `FindActiveOrLatest`: the only active ReplicaSet, or the newest when none is
/// active; `None` when several are active (a rollout is under way).
pub fn active_or_latest<'a>(new: Option<&'a ReplicaSet>, old: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    if new.is_none() && old.is_empty() {
        return None;
    }
    let mut old = old.to_vec();
    old.sort_by(|a, b| by_creation(b, a));
    let mut all = old.clone();
    all.extend(new);
    let live = active(&all);
    match live.len() {
        0 => new.or_else(|| old.first().copied()),
        1 => Some(live[0]),
        _ => None,
    }
}

/// Upstream's `IsSaturated`: the new ReplicaSet alone runs every replica, all available.
pub fn is_saturated(d: &Deployment, new: Option<&ReplicaSet>) -> bool {
    let Some(rs) = new else { return false };
    let want = replicas(d);
    spec_replicas(rs) == want && desired_annotation(rs) == Some(want) && available(rs) == want
}

/// Sets the desired/max replicas annotations; true when they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// Upstream's `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the
/// revision to `new_revision`, and (for a ReplicaSet about to be created) sets the replicas
/// annotations. True when something changed.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&k.as_str()) && annotations.get(k) != Some(v) {
            annotations.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = annotations.get(REVISION).cloned().unwrap_or_default();
    match old.parse::<i64>() {
        Ok(old) if old >= new_revision => {}
        Err(_) if !old.is_empty() => tracing::warn!(revision = %old, "unparsable revision annotation; keeping it"),
        _ => {
            annotations.insert(REVISION.to_string(), new_revision.to_string());
            changed = true;
        }
    }
    if !exists {
        changed |= set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d));
    }
    changed
}

/// Upstream's `NewRSNewReplicas`: how big the new ReplicaSet may be now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let want = replicas(d);
    if !super::fenceposts::is_rolling(d) {
        return want;
    }
    let max_total = want + max_surge(d);
    let current = sum(all, spec_replicas);
    if current >= max_total {
        return spec_replicas(new);
    }
    let scale_up = (max_total - current).min(want - spec_replicas(new));
    spec_replicas(new) + scale_up
}

/// Upstream's `GetProportion`: `rs`'s share of `to_add`, of which `added` is handed out already.
pub fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(d, rs);
    let allowed = to_add - added;
    if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
}

/// Upstream's `getReplicaSetFraction`: how much `rs` should grow (or shrink) to keep its share.
fn fraction(d: &Deployment, rs: &ReplicaSet) -> i32 {
    let want = replicas(d);
    if want == 0 {
        return -spec_replicas(rs);
    }
    let deployment_replicas = want + max_surge(d);
    let annotated =
        max_replicas_annotation(rs).unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(spec_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    // Rounds half away from zero, as Go's math.Round.
    size.round() as i32 - spec_replicas(rs)
}
