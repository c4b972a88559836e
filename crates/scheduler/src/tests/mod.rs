//! Behaviour tests of whole decisions, and property tests against a brute-force oracle.

mod oracle;
mod props;
mod scenarios;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity, PodAffinityTerm,
    PodAntiAffinity, Taint, Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::{HOSTNAME_LABEL, Labels, NodeInfo, PodInfo, Resources, ZONE_LABEL};

pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A ready node with 4 cpu, 16Gi, 110 pods, hostname and zone labels.
pub(crate) fn node(name: &str, zone: &str) -> NodeInfo {
    let mut l = labels(&[(HOSTNAME_LABEL, name)]);
    if !zone.is_empty() {
        l.insert(ZONE_LABEL.into(), zone.into());
    }
    NodeInfo {
        name: name.into(),
        zone: Some(zone.to_string()).filter(|z| !z.is_empty()),
        labels: l,
        allocatable: Resources::new(4000, 16 << 30, 110),
        ready: true,
        ..Default::default()
    }
}

pub(crate) fn pod(name: &str, cpu: i64, app: &str) -> PodInfo {
    PodInfo {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        labels: labels(&[("app", app)]),
        requests: Resources::new(cpu, 256 << 20, 1),
        score_requests: Resources::new(cpu.max(100), 256 << 20, 1),
        ..Default::default()
    }
}

pub(crate) fn app_selector(app: &str) -> LabelSelector {
    LabelSelector { match_labels: Some(labels(&[("app", app)])), match_expressions: None }
}

pub(crate) fn term(app: &str, key: &str) -> PodAffinityTerm {
    PodAffinityTerm { label_selector: Some(app_selector(app)), topology_key: key.into(), ..Default::default() }
}

pub(crate) fn with_anti(mut p: PodInfo, app: &str, key: &str) -> PodInfo {
    let aff = p.affinity.get_or_insert_with(Affinity::default);
    aff.pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(term(app, key));
    p
}

pub(crate) fn with_affinity(mut p: PodInfo, app: &str, key: &str) -> PodInfo {
    let aff = p.affinity.get_or_insert_with(Affinity::default);
    aff.pod_affinity
        .get_or_insert_with(PodAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new)
        .push(term(app, key));
    p
}

pub(crate) fn with_preferred(mut p: PodInfo, app: &str, key: &str, weight: i32, anti: bool) -> PodInfo {
    let aff = p.affinity.get_or_insert_with(Affinity::default);
    let w = WeightedPodAffinityTerm { weight, pod_affinity_term: term(app, key) };
    if anti {
        aff.pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(w);
    } else {
        aff.pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(w);
    }
    p
}

pub(crate) fn with_spread(mut p: PodInfo, key: &str, max_skew: i32, hard: bool) -> PodInfo {
    let app = p.labels.get("app").cloned().unwrap_or_default();
    p.topology_spread_constraints.push(TopologySpreadConstraint {
        label_selector: Some(app_selector(&app)),
        max_skew,
        topology_key: key.into(),
        when_unsatisfiable: if hard { "DoNotSchedule" } else { "ScheduleAnyway" }.into(),
        ..Default::default()
    });
    p
}

pub(crate) fn with_required_node(mut p: PodInfo, key: &str, op: &str, values: &[&str]) -> PodInfo {
    let aff = p.affinity.get_or_insert_with(Affinity::default);
    aff.node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector { node_selector_terms: vec![] })
        .node_selector_terms
        .push(NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
            match_fields: None,
        });
    p
}

pub(crate) fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: Some(value.to_string()).filter(|v| !v.is_empty()),
        effect: effect.into(),
        ..Default::default()
    }
}

pub(crate) fn toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()).filter(|k| !k.is_empty()),
        operator: Some("Exists".into()),
        effect: Some(effect.to_string()).filter(|e| !e.is_empty()),
        ..Default::default()
    }
}
