//! Whole decisions with upstream-like cases.

use std::collections::BTreeMap;

use super::*;
use crate::*;

fn cluster(nodes: Vec<NodeInfo>) -> Cluster {
    let mut c = Cluster::new();
    for n in nodes {
        c.upsert_node(n);
    }
    c
}

/// schedule + assume, as the driver does.
fn place(c: &mut Cluster, p: PodInfo) -> Result<String, Unschedulable> {
    let n = c.schedule(&p)?;
    c.assume(p, &n);
    Ok(n)
}

fn reasons(u: &Unschedulable) -> BTreeMap<&str, usize> {
    u.reasons.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

#[test]
fn message_lists_every_failing_reason_like_upstream() {
    let mut full1 = node("full1", "a");
    full1.allocatable.cpu_milli = 100;
    let mut full2 = node("full2", "a");
    full2.allocatable.cpu_milli = 100;
    let mut tainted = node("tainted", "a");
    tainted.taints = vec![taint("node.kubernetes.io/unreachable", "", "NoExecute")];
    let mut c = cluster(vec![full1, full2, tainted, node("b1", "b"), node("b2", "b")]);
    let p = with_required_node(pod("p", 500, "web"), ZONE_LABEL, "In", &["a"]);
    let err = c.schedule(&p).expect_err("nothing fits");
    assert_eq!(
        err.message,
        "0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
         2 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
    );
    // Tolerating the taint makes the tainted node the only choice.
    let mut p = p;
    p.tolerations.push(toleration("node.kubernetes.io/unreachable", "NoExecute"));
    assert_eq!(place(&mut c, p).as_deref(), Ok("tainted"));
}

#[test]
fn empty_cluster_has_no_nodes() {
    let err = Cluster::new().schedule(&pod("p", 1, "a")).expect_err("no nodes");
    assert_eq!(err.message, NO_NODES);
}

#[test]
fn cordoned_and_not_ready_nodes_are_skipped() {
    let mut cordoned = node("cordoned", "a");
    cordoned.unschedulable = true;
    let mut down = node("down", "a");
    down.ready = false;
    let c = cluster(vec![cordoned, down]);
    let err = c.schedule(&pod("p", 1, "a")).expect_err("both filtered");
    assert_eq!(
        reasons(&err),
        BTreeMap::from([
            (NODE_UNSCHEDULABLE, 1),
            ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }", 1)
        ])
    );
    let mut tolerant = pod("p", 1, "a");
    tolerant.tolerations.push(toleration("node.kubernetes.io/unschedulable", "NoSchedule"));
    assert_eq!(c.schedule(&tolerant).as_deref(), Ok("cordoned"));
}

#[test]
fn node_name_pins_the_node() {
    let c = cluster(vec![node("n1", "a"), node("n2", "a")]);
    let mut p = pod("p", 1, "a");
    p.node_name = Some("n2".into());
    assert_eq!(c.schedule(&p).as_deref(), Ok("n2"));
    p.node_name = Some("gone".into());
    let err = c.schedule(&p).expect_err("no such node");
    assert_eq!(reasons(&err), BTreeMap::from([(NODE_NAME_NOT_MATCH, 2)]));
}

#[test]
fn overhead_makes_a_node_full_sooner() {
    let mut n = node("n", "a");
    n.allocatable = Resources::new(1000, 16 << 30, 110);
    n.pod_overhead = Resources::new(100, 0, 0);
    let mut c = cluster(vec![n]);
    for i in 0..4 {
        place(&mut c, pod(&format!("p{i}"), 150, "a")).expect("fits with overhead");
    }
    assert_eq!(c.allocated("n").cpu_milli, 1000);
    let err = place(&mut c, pod("p4", 1, "a")).expect_err("overhead alone does not fit");
    assert_eq!(reasons(&err), BTreeMap::from([(INSUFFICIENT_CPU, 1)]));
}

#[test]
fn too_many_pods_and_memory() {
    let mut n = node("n", "a");
    n.allocatable = Resources::new(4000, 1 << 30, 1);
    let mut c = cluster(vec![n]);
    let mut big = pod("big", 1, "a");
    big.requests.memory_bytes = 2 << 30;
    let err = c.schedule(&big).expect_err("memory");
    assert_eq!(reasons(&err), BTreeMap::from([(INSUFFICIENT_MEMORY, 1)]));
    place(&mut c, pod("one", 1, "a")).expect("one slot");
    let err = c.schedule(&pod("two", 1, "a")).expect_err("slots");
    assert_eq!(reasons(&err), BTreeMap::from([(TOO_MANY_PODS, 1)]));
    assert!(c.forget("default", "one"));
    assert!(c.schedule(&pod("two", 1, "a")).is_ok(), "forget frees the slot");
}

#[test]
fn equal_nodes_share_equal_pods() {
    let mut c = cluster((0..10).map(|i| node(&format!("n{i}"), "a")).collect());
    for i in 0..30 {
        place(&mut c, pod(&format!("p{i}"), 100, "web")).expect("room");
    }
    for n in c.node_names() {
        assert_eq!(c.allocated(&n).pods, 3, "{n}");
    }
}

#[test]
fn least_allocated_prefers_the_emptier_node() {
    let mut c = cluster(vec![node("busy", "a"), node("idle", "a")]);
    c.add_pod(pod("x", 3000, "other"), "busy");
    assert_eq!(c.schedule(&pod("p", 500, "web")).as_deref(), Ok("idle"));
}

#[test]
fn zone_spread_do_not_schedule() {
    let mut c = cluster(vec![node("a1", "a"), node("b1", "b"), node("c1", "c")]);
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..9 {
        let n = place(&mut c, with_spread(pod(&format!("p{i}"), 100, "web"), ZONE_LABEL, 1, true)).expect("room");
        *per_zone.entry(n).or_default() += 1;
    }
    assert_eq!(per_zone.values().copied().collect::<Vec<_>>(), vec![3, 3, 3]);
    // Fill zone b and c: the next pod would make zone a 4 against 3 (skew 1 is fine), the one
    // after that would be 5 against 3.
    c.add_pod(pod("hog-b", 4000, "hog"), "b1");
    c.add_pod(pod("hog-c", 4000, "hog"), "c1");
    place(&mut c, with_spread(pod("p9", 100, "web"), ZONE_LABEL, 1, true)).expect("skew 1");
    let err = place(&mut c, with_spread(pod("p10", 100, "web"), ZONE_LABEL, 1, true)).expect_err("skew 2");
    assert_eq!(reasons(&err), BTreeMap::from([(SPREAD_NOT_MATCH, 1), (INSUFFICIENT_CPU, 2)]));
}

#[test]
fn spread_excludes_nodes_without_the_key_and_honours_min_domains() {
    let mut c = cluster(vec![node("a1", "a"), node("b1", "b"), node("nozone", "")]);
    let err_pod = |name: &str| {
        let mut p = with_spread(pod(name, 100, "web"), ZONE_LABEL, 1, true);
        p.topology_spread_constraints[0].min_domains = Some(3);
        p
    };
    // Only 2 domains exist, fewer than minDomains 3, so the global minimum is 0 and each zone
    // can hold at most maxSkew pods.
    place(&mut c, err_pod("p1")).expect("first");
    place(&mut c, err_pod("p2")).expect("second");
    let err = place(&mut c, err_pod("p3")).expect_err("minDomains");
    assert_eq!(reasons(&err), BTreeMap::from([(SPREAD_NOT_MATCH, 2), (SPREAD_MISSING_LABEL, 1)]));
}

#[test]
fn spread_only_counts_nodes_matching_the_pods_node_affinity() {
    let mut c = cluster(vec![node("a1", "a"), node("b1", "b"), node("c1", "c")]);
    // Zone c holds many matching pods but the pod excludes zone c, so c is not a domain.
    for i in 0..5 {
        c.add_pod(pod(&format!("old{i}"), 1, "web"), "c1");
    }
    let p = |n: &str| {
        with_required_node(with_spread(pod(n, 100, "web"), ZONE_LABEL, 1, true), ZONE_LABEL, "In", &["a", "b"])
    };
    let first = place(&mut c, p("p1")).expect("zone a or b");
    let second = place(&mut c, p("p2")).expect("the other zone");
    assert_ne!(first, second);
}

#[test]
fn hostname_anti_affinity_one_per_node() {
    let mut c = cluster(vec![node("n1", "a"), node("n2", "a"), node("n3", "b")]);
    let mut used = Vec::new();
    for i in 0..3 {
        used.push(place(&mut c, with_anti(pod(&format!("p{i}"), 100, "web"), "web", HOSTNAME_LABEL)).expect("room"));
    }
    used.sort();
    assert_eq!(used, vec!["n1", "n2", "n3"]);
    let err = c.schedule(&with_anti(pod("p3", 100, "web"), "web", HOSTNAME_LABEL)).expect_err("full");
    assert_eq!(reasons(&err), BTreeMap::from([(ANTI_AFFINITY_NOT_MATCH, 3)]));
    // Without its own anti-affinity the pod is still rejected by the placed pods' terms.
    let err = c.schedule(&pod("plain", 100, "web")).expect_err("symmetric");
    assert_eq!(reasons(&err), BTreeMap::from([(EXISTING_ANTI_AFFINITY_NOT_MATCH, 3)]));
    // Other apps and other namespaces are not affected.
    assert!(c.schedule(&pod("db", 100, "db")).is_ok());
    let mut other_ns = pod("web-elsewhere", 100, "web");
    other_ns.namespace = "other".into();
    assert!(c.schedule(&other_ns).is_ok());
    // Removing one replica frees its node.
    assert!(c.remove_pod("default", "p0"));
    assert!(c.schedule(&with_anti(pod("p3", 100, "web"), "web", HOSTNAME_LABEL)).is_ok());
}

#[test]
fn zone_anti_affinity_follows_node_relabel() {
    let mut c = cluster(vec![node("n1", "a"), node("n2", "b")]);
    c.add_pod(with_anti(pod("x", 100, "web"), "web", ZONE_LABEL), "n1");
    assert_eq!(c.schedule(&pod("y", 100, "web")).as_deref(), Ok("n2"));
    // n1 moves to zone b: now zone b holds the anti-affine pod and zone a is empty.
    let mut moved = node("n1", "b");
    moved.labels.insert(ZONE_LABEL.into(), "b".into());
    c.upsert_node(moved);
    c.upsert_node(node("n3", "a"));
    assert_eq!(c.schedule(&pod("y", 100, "web")).as_deref(), Ok("n3"));
}

#[test]
fn required_affinity_follows_the_target_and_allows_the_first_pod() {
    let mut c = cluster(vec![node("a1", "a"), node("b1", "b"), node("b2", "b")]);
    // No db pod anywhere and the pod is not a db: nowhere.
    let err = c.schedule(&with_affinity(pod("web", 100, "web"), "db", ZONE_LABEL)).expect_err("no target");
    assert_eq!(reasons(&err), BTreeMap::from([(AFFINITY_NOT_MATCH, 3)]));
    // A self-affine first pod may go anywhere.
    assert!(c.schedule(&with_affinity(pod("db0", 100, "db"), "db", ZONE_LABEL)).is_ok());
    c.add_pod(pod("db1", 100, "db"), "a1");
    for i in 0..3 {
        let n = place(&mut c, with_affinity(pod(&format!("web{i}"), 100, "web"), "db", ZONE_LABEL)).expect("zone a");
        assert_eq!(n, "a1");
    }
}

#[test]
fn namespaces_and_namespace_selector_widen_terms() {
    let mut c = cluster(vec![node("n1", "a"), node("n2", "b")]);
    let mut db = pod("db", 100, "db");
    db.namespace = "data".into();
    c.add_pod(db, "n2");
    c.upsert_namespace("data", labels(&[("team", "storage")]));
    let mut p = with_affinity(pod("web", 100, "web"), "db", ZONE_LABEL);
    assert!(c.schedule(&p).is_err(), "own namespace only by default");
    let t = &mut p
        .affinity
        .as_mut()
        .and_then(|a| a.pod_affinity.as_mut())
        .expect("set")
        .required_during_scheduling_ignored_during_execution
        .as_mut()
        .expect("set")[0];
    t.namespace_selector =
        Some(LabelSelector { match_labels: Some(labels(&[("team", "storage")])), match_expressions: None });
    assert_eq!(c.schedule(&p).as_deref(), Ok("n2"));
}

#[test]
fn preferred_terms_and_soft_constraints_steer_scores() {
    let mut c = cluster(vec![node("n1", "a"), node("n2", "b")]);
    c.add_pod(pod("cache", 100, "cache"), "n1");
    // Preferred affinity to the cache pulls to n1, preferred anti-affinity pushes to n2.
    assert_eq!(
        c.schedule(&with_preferred(pod("w", 100, "web"), "cache", HOSTNAME_LABEL, 100, false)).as_deref(),
        Ok("n1")
    );
    assert_eq!(
        c.schedule(&with_preferred(pod("w", 100, "web"), "cache", HOSTNAME_LABEL, 100, true)).as_deref(),
        Ok("n2")
    );
    // A placed pod's preferred affinity towards web attracts web pods (symmetry).
    c.add_pod(with_preferred(pod("lover", 100, "x"), "web", HOSTNAME_LABEL, 100, false), "n2");
    c.remove_pod("default", "cache");
    assert_eq!(c.schedule(&pod("w", 100, "web")).as_deref(), Ok("n2"));
}

#[test]
fn prefer_no_schedule_and_preferred_node_affinity() {
    let mut soft = node("soft", "a");
    soft.taints = vec![taint("spot", "", "PreferNoSchedule")];
    let c = cluster(vec![soft, node("clean", "b")]);
    assert_eq!(c.schedule(&pod("p", 100, "a")).as_deref(), Ok("clean"));
    let mut tolerant = pod("p", 100, "a");
    tolerant.tolerations.push(toleration("spot", "PreferNoSchedule"));
    // Now both are equal on taints; the preferred zone decides.
    let mut p = tolerant;
    p.affinity = Some(k8s_openapi::api::core::v1::Affinity {
        node_affinity: Some(k8s_openapi::api::core::v1::NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                k8s_openapi::api::core::v1::PreferredSchedulingTerm {
                    weight: 50,
                    preference: k8s_openapi::api::core::v1::NodeSelectorTerm {
                        match_expressions: Some(vec![k8s_openapi::api::core::v1::NodeSelectorRequirement {
                            key: ZONE_LABEL.into(),
                            operator: "In".into(),
                            values: Some(vec!["a".into()]),
                        }]),
                        match_fields: None,
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(c.schedule(&p).as_deref(), Ok("soft"));
}

#[test]
fn schedule_anyway_spread_prefers_the_emptier_zone() {
    let mut c = cluster(vec![node("a1", "a"), node("b1", "b")]);
    for i in 0..3 {
        c.add_pod(pod(&format!("old{i}"), 1, "web"), "a1");
    }
    // Make b1 busier so resource scores alone would pick a1.
    c.add_pod(pod("hog", 1500, "hog"), "b1");
    assert_eq!(c.schedule(&pod("plain", 100, "web")).as_deref(), Ok("a1"));
    assert_eq!(c.schedule(&with_spread(pod("p", 100, "web"), ZONE_LABEL, 1, false)).as_deref(), Ok("b1"));
}

#[test]
fn a_large_cluster_is_sampled_in_turn_but_the_one_fitting_node_is_always_found() {
    let mut c = cluster((0..300).map(|i| node(&format!("n{i:03}"), "a")).collect());
    // Each decision scores only the first 144 feasible nodes it meets and the next one starts
    // where it stopped; least-allocated scoring takes an empty node whenever one is in view.
    let mut used = std::collections::HashSet::new();
    for i in 0..150 {
        used.insert(place(&mut c, pod(&format!("p{i}"), 100, "web")).expect("fits"));
    }
    assert_eq!(used.len(), 150, "the first half of the pods all found empty nodes");
    // Only the last node fits: it is found whatever node the search starts at.
    for i in 0..3 {
        let p = with_required_node(pod(&format!("pinned{i}"), 100, "db"), HOSTNAME_LABEL, "In", &["n299"]);
        assert_eq!(place(&mut c, p).expect("n299 fits"), "n299");
    }
    // No node fits: every node is checked and counted in the explanation.
    let huge = pod("huge", 1_000_000, "x");
    let err = c.schedule(&huge).expect_err("nothing has a thousand cores");
    assert!(err.message.starts_with("0/300 nodes are available"), "{}", err.message);
}
