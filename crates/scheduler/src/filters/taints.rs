//! TaintToleration (and the not-ready taint the node lifecycle controller would add).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::node::NodeInfo;

/// Taint the node lifecycle controller puts on a node whose `Ready` condition is not `True`.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// Taint put on a node whose `Ready` condition is `Unknown`.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// Taint matching `spec.unschedulable` (cordon), tolerated to ignore a cordon.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates_taint(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

/// Whether any toleration tolerates the taint.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates_taint(t, taint))
}

fn synthetic(key: &str, effect: &str) -> Taint {
    Taint { key: key.to_string(), effect: effect.to_string(), ..Default::default() }
}

/// The first `NoSchedule`/`NoExecute` taint the pod does not tolerate, if any. A node that is
/// not ready counts as tainted `node.kubernetes.io/not-ready:NoSchedule` unless it already
/// carries a not-ready or unreachable taint: Canopy has no node lifecycle controller tainting
/// hosts, and this keeps upstream's behaviour (pods that tolerate it may still land there).
pub fn first_untolerated(node: &NodeInfo, tolerations: &[Toleration]) -> Option<Taint> {
    let hard = |t: &&Taint| t.effect == "NoSchedule" || t.effect == "NoExecute";
    if let Some(t) = node.taints.iter().filter(hard).find(|t| !tolerated(tolerations, t)) {
        return Some(t.clone());
    }
    let has_lifecycle_taint =
        node.taints.iter().filter(hard).any(|t| t.key == NOT_READY_TAINT || t.key == UNREACHABLE_TAINT);
    if !node.ready && !has_lifecycle_taint {
        let t = synthetic(NOT_READY_TAINT, "NoSchedule");
        if !tolerated(tolerations, &t) {
            return Some(t);
        }
    }
    None
}

/// Whether the pod tolerates the cordon taint (NodeUnschedulable plugin).
pub fn tolerates_cordon(tolerations: &[Toleration]) -> bool {
    tolerated(tolerations, &synthetic(UNSCHEDULABLE_TAINT, "NoSchedule"))
}

/// `PreferNoSchedule` taints the pod does not tolerate; only tolerations with an empty or
/// `PreferNoSchedule` effect count (upstream `getAllTolerationPreferNoSchedule`).
pub fn intolerable_prefer_no_schedule(node: &NodeInfo, prefer: &[Toleration]) -> i64 {
    let n = node.taints.iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerated(prefer, t)).count();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The pod's tolerations that can tolerate `PreferNoSchedule` taints.
pub fn prefer_tolerations(tolerations: &[Toleration]) -> Vec<Toleration> {
    tolerations
        .iter()
        .filter(|t| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule")))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()).filter(|v: &String| !v.is_empty()),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| Some(s.to_string()).filter(|v| !v.is_empty());
        Toleration { key: opt(key), operator: opt(op), value: opt(value), effect: opt(effect), ..Default::default() }
    }

    #[test]
    fn toleration_matching_like_upstream() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates_taint(&tol("dedicated", "Equal", "gpu", "NoSchedule"), &t));
        assert!(
            tolerates_taint(&tol("dedicated", "", "gpu", ""), &t),
            "empty operator is Equal, empty effect matches all"
        );
        assert!(!tolerates_taint(&tol("dedicated", "Equal", "cpu", "NoSchedule"), &t));
        assert!(tolerates_taint(&tol("dedicated", "Exists", "", "NoSchedule"), &t));
        assert!(!tolerates_taint(&tol("dedicated", "Exists", "", "NoExecute"), &t));
        assert!(tolerates_taint(&tol("", "Exists", "", ""), &t), "empty key + Exists tolerates all");
        assert!(!tolerates_taint(&tol("other", "Exists", "", ""), &t));
    }

    fn node(taints: Vec<Taint>, ready: bool) -> NodeInfo {
        NodeInfo { name: "n".into(), taints, ready, ..Default::default() }
    }

    #[test]
    fn only_hard_effects_filter() {
        let n = node(
            vec![taint("soft", "", "PreferNoSchedule"), taint("a", "1", "NoExecute"), taint("b", "", "NoSchedule")],
            true,
        );
        assert_eq!(first_untolerated(&n, &[]).map(|t| t.key), Some("a".into()));
        let tols = [tol("a", "Equal", "1", "")];
        assert_eq!(first_untolerated(&n, &tols).map(|t| t.key), Some("b".into()));
        let all = [tol("", "Exists", "", "")];
        assert_eq!(first_untolerated(&n, &all), None);
    }

    #[test]
    fn not_ready_nodes_carry_a_synthetic_taint() {
        let n = node(vec![], false);
        assert_eq!(first_untolerated(&n, &[]).map(|t| t.key), Some(NOT_READY_TAINT.into()));
        assert_eq!(first_untolerated(&n, &[tol(NOT_READY_TAINT, "Exists", "", "NoSchedule")]), None);
        let unreachable = node(vec![taint(UNREACHABLE_TAINT, "", "NoSchedule")], false);
        assert_eq!(first_untolerated(&unreachable, &[]).map(|t| t.key), Some(UNREACHABLE_TAINT.into()));
    }

    #[test]
    fn prefer_no_schedule_counting() {
        let n = node(
            vec![taint("x", "", "PreferNoSchedule"), taint("y", "", "PreferNoSchedule"), taint("z", "", "NoSchedule")],
            true,
        );
        assert_eq!(intolerable_prefer_no_schedule(&n, &[]), 2);
        let tols = prefer_tolerations(&[tol("x", "Exists", "", ""), tol("y", "Exists", "", "NoSchedule")]);
        assert_eq!(intolerable_prefer_no_schedule(&n, &tols), 1, "a NoSchedule toleration does not count");
    }
}
