//! Canopy's DRS: decides which host each pending pod runs on.
//!
//! This crate owns the *placement core*: the scheduler's cache of nodes and placed pods
//! ([`Cluster`]), upstream kube-scheduler's filter and score semantics for the plugins Canopy
//! supports (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodeResourcesFit,
//! PodTopologySpread, InterPodAffinity, NodeResourcesBalancedAllocation), and the
//! [`Unschedulable`] explanation with upstream's message. It is pure logic: no I/O, no async,
//! no clock.
//!
//! The core does no I/O. [`driver`] is the API client built on top: it feeds [`Cluster`] from
//! watches ([`Cluster::upsert_node`],
//! [`Cluster::add_pod`], ...) and, for each pending pod, calls [`Cluster::schedule`], then
//! [`Cluster::assume`] before issuing the bind and [`Cluster::forget`] if the bind fails.
//! Doing schedule + assume under one `&mut Cluster` is what prevents overcommit. Preemption is
//! not built.
//!
//! Canopy-specific: each host's runtime adds a per-pod overhead (its VM), read from node
//! annotations into [`NodeInfo::pod_overhead`] and added to every pod on that host, both for
//! fitting and for scoring.

mod cluster;
pub mod driver;
mod error;
mod filters;
mod index;
mod node;
mod pod;
mod quantity;
mod resources;
mod schedule;
mod score;
mod selector;
#[cfg(test)]
mod tests;

pub use cluster::Cluster;
pub use error::{NO_NODES, PREEMPTION_NOT_HELPFUL, Unschedulable};
pub use filters::{
    AFFINITY_NOT_MATCH, ANTI_AFFINITY_NOT_MATCH, EXISTING_ANTI_AFFINITY_NOT_MATCH, INSUFFICIENT_CPU,
    INSUFFICIENT_MEMORY, NODE_AFFINITY_NOT_MATCH, NODE_NAME_NOT_MATCH, NODE_UNSCHEDULABLE, SPREAD_MISSING_LABEL,
    SPREAD_NOT_MATCH, TOO_MANY_PODS, untolerated_taint,
};
pub use node::{
    DEFAULT_MAX_PODS, HOSTNAME_LABEL, NodeInfo, OVERHEAD_CPU_ANNOTATION, OVERHEAD_MEMORY_ANNOTATION, ZONE_LABEL,
};
pub use pod::{DEFAULT_SCORE_CPU_MILLI, DEFAULT_SCORE_MEMORY_BYTES, PodInfo};
pub use quantity::{QuantityError, parse_milli, parse_value};
pub use resources::{ResourceList, Resources};
pub use score::{
    MAX_NODE_SCORE, WEIGHT_BALANCED, WEIGHT_INTERPOD, WEIGHT_LEAST_ALLOCATED, WEIGHT_NODE_AFFINITY, WEIGHT_SPREAD,
    WEIGHT_TAINT,
};
pub use selector::Labels;
