//! What the scheduler needs to know about a host.

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::quantity::{parse_milli, parse_value};
use crate::resources::{ResourceList, Resources};
use crate::selector::Labels;

/// Label holding a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Label holding a node's hostname (the usual per-node topology key).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Annotation with the host runtime's per-pod cpu overhead (a quantity).
pub const OVERHEAD_CPU_ANNOTATION: &str = "canopy.io/pod-overhead-cpu";
/// Annotation with the host runtime's per-pod memory overhead (a quantity).
pub const OVERHEAD_MEMORY_ANNOTATION: &str = "canopy.io/pod-overhead-memory";
/// Pod slots assumed when a node reports none (the kubelet's default `maxPods`).
pub const DEFAULT_MAX_PODS: i64 = 110;

/// A host as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Node labels.
    pub labels: Labels,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// Schedulable capacity: `status.allocatable`, each entry falling back to `status.capacity`.
    pub allocatable: Resources,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// Value of `topology.kubernetes.io/zone`, if labelled.
    pub zone: Option<String>,
    /// Per-pod overhead of the host runtime (each pod's VM), added to every pod placed here.
    /// Only cpu and memory are used; `pods` is always 0.
    pub pod_overhead: Resources,
}

impl NodeInfo {
    /// Extracts the scheduling view of a `Node`.
    pub fn from_node(node: &Node) -> NodeInfo {
        let meta = &node.metadata;
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let list = |m: Option<&std::collections::BTreeMap<_, _>>| m.map(Resources::from_list).unwrap_or_default();
        let alloc: ResourceList =
            list(status.and_then(|s| s.allocatable.as_ref())).or(list(status.and_then(|s| s.capacity.as_ref())));
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let annotation = |key: &str, parse: fn(&str) -> Result<i64, crate::QuantityError>| {
            meta.annotations.as_ref().and_then(|a| a.get(key)).and_then(|v| parse(v).ok()).unwrap_or(0).max(0)
        };
        NodeInfo {
            name: meta.name.clone().unwrap_or_default(),
            zone: labels.get(ZONE_LABEL).cloned(),
            labels,
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            allocatable: Resources {
                cpu_milli: alloc.cpu_milli.unwrap_or(0),
                memory_bytes: alloc.memory_bytes.unwrap_or(0),
                pods: alloc.pods.unwrap_or(DEFAULT_MAX_PODS),
            },
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            ready,
            pod_overhead: Resources {
                cpu_milli: annotation(OVERHEAD_CPU_ANNOTATION, parse_milli),
                memory_bytes: annotation(OVERHEAD_MEMORY_ANNOTATION, parse_value),
                pods: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn q(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
    }

    #[test]
    fn reads_every_field() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some("esx-1".into()),
                labels: Some([(ZONE_LABEL.to_string(), "z1".to_string())].into()),
                annotations: Some(
                    [
                        (OVERHEAD_CPU_ANNOTATION.to_string(), "100m".to_string()),
                        (OVERHEAD_MEMORY_ANNOTATION.to_string(), "64Mi".to_string()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                unschedulable: Some(true),
                taints: Some(vec![Taint { key: "k".into(), effect: "NoSchedule".into(), ..Default::default() }]),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                allocatable: Some(q(&[("cpu", "7500m")])),
                capacity: Some(q(&[("cpu", "8"), ("memory", "32Gi"), ("pods", "250")])),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        };
        let n = NodeInfo::from_node(&node);
        assert_eq!(n.name, "esx-1");
        assert_eq!(n.zone.as_deref(), Some("z1"));
        assert_eq!(n.allocatable, Resources::new(7500, 32 << 30, 250));
        assert!(n.unschedulable);
        assert!(n.ready);
        assert_eq!(n.taints.len(), 1);
        assert_eq!(n.pod_overhead, Resources::new(100, 64 << 20, 0));
    }

    #[test]
    fn defaults_for_a_bare_node() {
        let n = NodeInfo::from_node(&Node::default());
        assert_eq!(n.allocatable, Resources::new(0, 0, DEFAULT_MAX_PODS));
        assert!(!n.ready, "no Ready condition means not ready");
        assert!(!n.unschedulable);
        assert_eq!(n.pod_overhead, Resources::default());
    }
}
