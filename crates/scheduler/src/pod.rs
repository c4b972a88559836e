//! What the scheduler needs to know about a pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Container, Pod, Toleration, TopologySpreadConstraint};

use crate::resources::{ResourceList, Resources};
use crate::selector::Labels;

/// Cpu counted for scoring when a container requests none (upstream `DefaultMilliCPURequest`).
pub const DEFAULT_SCORE_CPU_MILLI: i64 = 100;
/// Memory counted for scoring when a container requests none (upstream `DefaultMemoryRequest`).
pub const DEFAULT_SCORE_MEMORY_BYTES: i64 = 200 * 1024 * 1024;

/// A pod as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (used to spread ties between equally good nodes).
    pub uid: String,
    /// Labels.
    pub labels: Labels,
    /// Effective requests: max(sum of containers, max of init containers) + `spec.overhead`,
    /// `pods` = 1. Excludes the node's runtime overhead, which depends on the node.
    pub requests: Resources,
    /// Requests as counted by scoring: containers without a cpu/memory request count as 100m /
    /// 200Mi so best-effort pods still spread (upstream `NonZeroRequested`).
    pub score_requests: Resources,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `spec.affinity`.
    pub affinity: Option<Affinity>,
    /// `spec.tolerations`.
    pub tolerations: Vec<Toleration>,
    /// `spec.topologySpreadConstraints`.
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// `spec.nodeName`, if the pod names its node.
    pub node_name: Option<String>,
}

impl PodInfo {
    /// Extracts the scheduling view of a `Pod`.
    pub fn from_pod(pod: &Pod) -> PodInfo {
        let meta = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let overhead = spec.overhead.as_ref().map(Resources::from_list).unwrap_or_default();
        let overhead = Resources::new(overhead.cpu_milli.unwrap_or(0), overhead.memory_bytes.unwrap_or(0), 0);
        let init = spec.init_containers.as_deref().unwrap_or_default();
        let requests = effective(&spec.containers, init, |l| {
            Resources::new(l.cpu_milli.unwrap_or(0), l.memory_bytes.unwrap_or(0), 0)
        });
        let score_requests = effective(&spec.containers, init, |l| {
            Resources::new(
                l.cpu_milli.unwrap_or(DEFAULT_SCORE_CPU_MILLI),
                l.memory_bytes.unwrap_or(DEFAULT_SCORE_MEMORY_BYTES),
                0,
            )
        });
        let one_pod = Resources::new(0, 0, 1);
        PodInfo {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            requests: requests.add(&overhead).add(&one_pod),
            score_requests: score_requests.add(&overhead).add(&one_pod),
            node_selector: spec.node_selector.unwrap_or_default(),
            affinity: spec.affinity,
            tolerations: spec.tolerations.unwrap_or_default(),
            topology_spread_constraints: spec.topology_spread_constraints.unwrap_or_default(),
            node_name: spec.node_name.filter(|n| !n.is_empty()),
        }
    }
}

/// A container's request list, each unset request falling back to its limit (what API
/// defaulting does; repeated here for objects that skipped defaulting).
fn container_list(c: &Container) -> ResourceList {
    let r = c.resources.as_ref();
    let requests = r.and_then(|r| r.requests.as_ref()).map(Resources::from_list);
    let limits = r.and_then(|r| r.limits.as_ref()).map(Resources::from_list);
    requests.unwrap_or_default().or(limits.unwrap_or_default())
}

/// Upstream `PodRequests`: regular containers are summed; restartable init containers
/// (sidecars, `restartPolicy: Always`) run alongside them and add up; each ordinary init
/// container runs alone next to the sidecars started before it. The pod needs the maximum.
fn effective(containers: &[Container], init: &[Container], to_res: impl Fn(ResourceList) -> Resources) -> Resources {
    let sum = containers.iter().fold(Resources::default(), |acc, c| acc.add(&to_res(container_list(c))));
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in init {
        let r = to_res(container_list(c));
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.add(&r);
            init_peak = init_peak.max(&sidecars);
        } else {
            init_peak = init_peak.max(&sidecars.add(&r));
        }
    }
    sum.add(&sidecars).max(&init_peak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn q(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect())
    }

    fn container(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: q(req), limits: q(lim), ..Default::default() }),
            ..Default::default()
        }
    }

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        }
    }

    #[test]
    fn sums_containers_and_adds_overhead() {
        let p = PodInfo::from_pod(&pod(PodSpec {
            containers: vec![
                container(&[("cpu", "250m"), ("memory", "64Mi")], &[]),
                container(&[("cpu", "250m")], &[("memory", "128Mi")]),
            ],
            overhead: q(&[("cpu", "10m"), ("memory", "1Mi")]),
            node_name: Some(String::new()),
            ..Default::default()
        }));
        assert_eq!(p.requests, Resources::new(510, (64 + 128 + 1) << 20, 1));
        assert_eq!(p.namespace, "ns");
        assert_eq!(p.uid, "u");
        assert_eq!(p.node_name, None, "empty nodeName is unset");
    }

    #[test]
    fn init_containers_take_the_max() {
        let p = PodInfo::from_pod(&pod(PodSpec {
            containers: vec![container(&[("cpu", "1"), ("memory", "1Gi")], &[])],
            init_containers: Some(vec![container(&[("cpu", "2"), ("memory", "512Mi")], &[])]),
            ..Default::default()
        }));
        assert_eq!(p.requests, Resources::new(2000, 1 << 30, 1));
    }

    #[test]
    fn sidecars_add_to_containers_and_later_inits() {
        let mut sidecar = container(&[("cpu", "500m")], &[]);
        sidecar.restart_policy = Some("Always".into());
        let p = PodInfo::from_pod(&pod(PodSpec {
            containers: vec![container(&[("cpu", "1")], &[])],
            init_containers: Some(vec![sidecar, container(&[("cpu", "1200m")], &[])]),
            ..Default::default()
        }));
        // max(1000 + 500, 500 + 1200)
        assert_eq!(p.requests.cpu_milli, 1700);
    }

    #[test]
    fn best_effort_pods_score_with_defaults() {
        let p = PodInfo::from_pod(&pod(PodSpec {
            containers: vec![container(&[], &[]), container(&[("cpu", "0")], &[])],
            ..Default::default()
        }));
        assert_eq!(p.requests, Resources::new(0, 0, 1));
        assert_eq!(
            p.score_requests,
            Resources::new(DEFAULT_SCORE_CPU_MILLI, 2 * DEFAULT_SCORE_MEMORY_BYTES, 1),
            "an explicit 0 stays 0, a missing request gets the default"
        );
    }
}
