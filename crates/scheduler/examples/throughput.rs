//! Measures the placement core: schedules 30,000 pods onto 1,000 hosts in 3 zones with
//! schedule + assume, for plain pods, pods with a zone topology spread, and pods with a
//! hostname anti-affinity, and prints pods/s and the std-dev of host cpu allocation.
//!
//! `cargo run --release -p canopy-scheduler --example throughput`

use std::time::Instant;

use canopy_scheduler::{Cluster, HOSTNAME_LABEL, Labels, NodeInfo, PodInfo, Resources, ZONE_LABEL};
use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

const NODES: usize = 1000;
const ZONES: usize = 3;
const PODS: usize = 30_000;
/// Replicas per workload (anti-affinity caps a workload at one pod per host).
const REPLICAS: usize = 100;

fn cluster() -> Cluster {
    let mut c = Cluster::new();
    for i in 0..NODES {
        let name = format!("esx-{i:04}");
        let zone = format!("zone-{}", i % ZONES);
        let labels: Labels =
            [(HOSTNAME_LABEL.to_string(), name.clone()), (ZONE_LABEL.to_string(), zone.clone())].into();
        c.upsert_node(NodeInfo {
            name,
            labels,
            zone: Some(zone),
            allocatable: Resources::new(64_000, 256 << 30, 110),
            ready: true,
            pod_overhead: Resources::new(10, 32 << 20, 0),
            ..Default::default()
        });
    }
    c
}

fn selector(app: &str) -> Option<LabelSelector> {
    Some(LabelSelector { match_labels: Some([("app".to_string(), app.to_string())].into()), match_expressions: None })
}

fn pod(i: usize, kind: &str) -> PodInfo {
    let app = format!("{kind}-{}", i / REPLICAS);
    let mut p = PodInfo {
        namespace: "bench".into(),
        name: format!("{app}-{i}"),
        uid: format!("uid-{kind}-{i}"),
        labels: [("app".to_string(), app.clone())].into(),
        requests: Resources::new(100 + (i % 7) as i64 * 50, (128 + (i % 5) as i64 * 64) << 20, 1),
        ..Default::default()
    };
    p.score_requests = p.requests;
    match kind {
        "spread" => p.topology_spread_constraints.push(TopologySpreadConstraint {
            label_selector: selector(&app),
            max_skew: 1,
            topology_key: ZONE_LABEL.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            ..Default::default()
        }),
        "anti" => {
            p.affinity = Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                        label_selector: selector(&app),
                        topology_key: HOSTNAME_LABEL.into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        _ => {}
    }
    p
}

fn main() {
    for kind in ["plain", "spread", "anti"] {
        let mut c = cluster();
        let pods: Vec<PodInfo> = (0..PODS).map(|i| pod(i, kind)).collect();
        let start = Instant::now();
        let mut failed = 0;
        for p in pods {
            match c.schedule(&p) {
                Ok(n) => c.assume(p, &n),
                Err(_) => failed += 1,
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu: Vec<f64> = c.node_names().iter().map(|n| c.allocated(n).cpu_milli as f64 / 64_000.0 * 100.0).collect();
        let mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
        let std = (cpu.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / cpu.len() as f64).sqrt();
        println!(
            "{kind:>6}: {PODS} pods on {NODES} nodes in {secs:.2}s = {:.0} pods/s, unschedulable {failed}, \
             host cpu allocation mean {mean:.2}% std-dev {std:.3}%",
            PODS as f64 / secs
        );
    }
}
