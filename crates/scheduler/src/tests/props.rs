//! Property tests: sequences of schedule + assume (and removals) on random clusters.

use proptest::prelude::*;

use super::oracle::World;
use super::*;
use crate::Cluster;

#[derive(Debug, Clone)]
struct NodeSpec {
    zone: u8,
    cpu: i64,
    mem_mi: i64,
    pods: i64,
    overhead: i64,
    disk_ssd: bool,
    taint: u8,
    cordoned: bool,
    ready: bool,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (0u8..4, 500i64..4000, 256i64..4096, 1i64..8, 0i64..200, any::<bool>(), 0u8..6, 0u8..10, 0u8..10).prop_map(
        |(zone, cpu, mem_mi, pods, overhead, disk_ssd, taint, cordon, ready)| NodeSpec {
            zone,
            cpu,
            mem_mi,
            pods,
            overhead,
            disk_ssd,
            taint,
            cordoned: cordon == 0,
            ready: ready != 0,
        },
    )
}

fn build_node(i: usize, s: &NodeSpec) -> NodeInfo {
    // Zone 3 means "no zone label" so spread constraints must skip the node.
    let zone = ["a", "b", "c", ""][s.zone as usize];
    let mut n = node(&format!("n{i}"), zone);
    n.allocatable = Resources::new(s.cpu, s.mem_mi << 20, s.pods);
    n.pod_overhead = Resources::new(s.overhead, s.overhead << 16, 0);
    n.labels.insert("disk".into(), if s.disk_ssd { "ssd" } else { "hdd" }.into());
    n.unschedulable = s.cordoned;
    n.ready = s.ready;
    match s.taint {
        0 => n.taints.push(taint("dedicated", "gpu", "NoSchedule")),
        1 => n.taints.push(taint("spot", "", "PreferNoSchedule")),
        _ => {}
    }
    n
}

#[derive(Debug, Clone)]
struct PodSpecGen {
    app: u8,
    cpu: i64,
    mem_mi: i64,
    selector: u8,
    tolerate: bool,
    anti: u8,
    affinity: u8,
    spread: u8,
    max_skew: i32,
    preferred: u8,
    remove: Option<usize>,
}

fn pod_spec() -> impl Strategy<Value = PodSpecGen> {
    (
        (0u8..3, 0i64..1500, 0i64..600, 0u8..4, any::<bool>()),
        (0u8..6, 0u8..8, 0u8..6, 1i32..3, 0u8..4, prop::option::weighted(0.15, 0usize..64)),
    )
        .prop_map(
            |((app, cpu, mem_mi, selector, tolerate), (anti, affinity, spread, max_skew, preferred, remove))| {
                PodSpecGen { app, cpu, mem_mi, selector, tolerate, anti, affinity, spread, max_skew, preferred, remove }
            },
        )
}

fn build_pod(i: usize, s: &PodSpecGen) -> PodInfo {
    let apps = ["web", "db", "cache"];
    let app = apps[s.app as usize];
    let mut p = pod(&format!("p{i}"), s.cpu, app);
    p.requests.memory_bytes = s.mem_mi << 20;
    if s.selector == 0 {
        p.node_selector.insert("disk".into(), "ssd".into());
    }
    if s.selector == 1 {
        p = with_required_node(p, ZONE_LABEL, "NotIn", &["c"]);
    }
    if s.tolerate {
        p.tolerations.push(toleration("dedicated", ""));
    }
    match s.anti {
        0 => p = with_anti(p, app, HOSTNAME_LABEL),
        1 => p = with_anti(p, apps[(s.app as usize + 1) % 3], ZONE_LABEL),
        _ => {}
    }
    match s.affinity {
        0 => p = with_affinity(p, "db", ZONE_LABEL),
        1 => p = with_affinity(p, app, HOSTNAME_LABEL),
        _ => {}
    }
    match s.spread {
        0 => p = with_spread(p, ZONE_LABEL, s.max_skew, true),
        1 => p = with_spread(p, HOSTNAME_LABEL, s.max_skew, true),
        2 => p = with_spread(p, ZONE_LABEL, s.max_skew, false),
        _ => {}
    }
    match s.preferred {
        0 => p = with_preferred(p, "db", ZONE_LABEL, 50, false),
        1 => p = with_preferred(p, app, HOSTNAME_LABEL, 30, true),
        _ => {}
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every decision agrees with the brute-force oracle (a pod is unschedulable exactly when
    /// no node passes every filter, and a chosen node passes every filter — nodeSelector,
    /// affinity, anti-affinity, taints, maxSkew — at the time of placement), and assumed pods
    /// never overcommit any node.
    #[test]
    fn decisions_match_the_oracle_and_never_overcommit(
        nodes in prop::collection::vec(node_spec(), 1..8),
        pods in prop::collection::vec(pod_spec(), 1..30),
    ) {
        let nodes: Vec<NodeInfo> = nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        let mut cluster = Cluster::new();
        for n in &nodes {
            cluster.upsert_node(n.clone());
        }
        let mut placed: Vec<(PodInfo, String)> = Vec::new();
        for (i, spec) in pods.iter().enumerate() {
            if let Some(r) = spec.remove && !placed.is_empty() {
                let (gone, _) = placed.remove(r % placed.len());
                prop_assert!(cluster.remove_pod(&gone.namespace, &gone.name));
            }
            let pod = build_pod(i, spec);
            let feasible = World { nodes: &nodes, placed: &placed }.feasible(&pod);
            match cluster.schedule(&pod) {
                Ok(n) => {
                    prop_assert!(feasible.contains(&n), "{n} is not feasible for {pod:?}; oracle: {feasible:?}");
                    cluster.assume(pod.clone(), &n);
                    placed.push((pod, n));
                }
                Err(e) => {
                    prop_assert!(feasible.is_empty(), "unschedulable but oracle found {feasible:?}: {}", e.message);
                    let counted: usize = e.reasons.values().sum();
                    prop_assert!(counted >= nodes.len(), "every node has a reason: {}", e.message);
                }
            }
            let world = World { nodes: &nodes, placed: &placed };
            for n in &nodes {
                let used = world.used(n);
                prop_assert_eq!(cluster.allocated(&n.name), used, "aggregate drifted on {}", n.name);
                prop_assert!(used.fits(&n.allocatable), "{} overcommitted: {:?} > {:?}", n.name, used, n.allocatable);
            }
        }
    }

    /// Forgetting every assumed pod leaves the cache as it was (no leaked aggregates).
    #[test]
    fn forget_restores_the_cache(
        nodes in prop::collection::vec(node_spec(), 1..6),
        pods in prop::collection::vec(pod_spec(), 1..20),
    ) {
        let nodes: Vec<NodeInfo> = nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        let mut cluster = Cluster::new();
        for n in &nodes {
            cluster.upsert_node(n.clone());
        }
        let probe = with_anti(with_spread(pod("probe", 100, "web"), ZONE_LABEL, 1, true), "web", HOSTNAME_LABEL);
        let before = cluster.schedule(&probe);
        let mut assumed = Vec::new();
        for (i, spec) in pods.iter().enumerate() {
            let p = build_pod(i, spec);
            if let Ok(n) = cluster.schedule(&p) {
                assumed.push(p.name.clone());
                cluster.assume(p, &n);
            }
        }
        for name in &assumed {
            prop_assert!(cluster.forget("default", name));
        }
        for n in &nodes {
            prop_assert_eq!(cluster.allocated(&n.name), Resources::default());
        }
        prop_assert_eq!(cluster.schedule(&probe), before);
    }
}
