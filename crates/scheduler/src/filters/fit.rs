//! NodeResourcesFit (filter).

use crate::cluster::NodeState;
use crate::node::NodeInfo;
use crate::pod::PodInfo;

/// Upstream reason for cpu.
pub const INSUFFICIENT_CPU: &str = "Insufficient cpu";
/// Upstream reason for memory.
pub const INSUFFICIENT_MEMORY: &str = "Insufficient memory";
/// Upstream reason for the pod count.
pub const TOO_MANY_PODS: &str = "Too many pods";

/// Reasons the pod (plus the node's runtime overhead) does not fit in what is left of the node.
/// Like upstream, a resource the pod does not request is not checked, so a zero-request pod
/// still fits on a node whose allocatable shrank below its use.
pub fn fit(pod: &PodInfo, info: &NodeInfo, state: &NodeState, out: &mut Vec<&'static str>) {
    let used = state.allocated();
    let alloc = info.allocatable;
    if used.pods + 1 > alloc.pods {
        out.push(TOO_MANY_PODS);
    }
    let cpu = pod.requests.cpu_milli.saturating_add(info.pod_overhead.cpu_milli);
    if cpu > 0 && cpu > alloc.cpu_milli.saturating_sub(used.cpu_milli) {
        out.push(INSUFFICIENT_CPU);
    }
    let mem = pod.requests.memory_bytes.saturating_add(info.pod_overhead.memory_bytes);
    if mem > 0 && mem > alloc.memory_bytes.saturating_sub(used.memory_bytes) {
        out.push(INSUFFICIENT_MEMORY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Resources;

    fn check(pod: Resources, overhead: Resources, used: Resources, alloc: Resources) -> Vec<&'static str> {
        let info = NodeInfo { allocatable: alloc, pod_overhead: overhead, ..Default::default() };
        let state = NodeState { info: Some(info.clone()), requested: used, ..Default::default() };
        let pod = PodInfo { requests: pod, ..Default::default() };
        let mut out = Vec::new();
        fit(&pod, &info, &state, &mut out);
        out
    }

    #[test]
    fn exact_fit_passes_and_one_more_fails() {
        let alloc = Resources::new(4000, 4096, 3);
        let none = Resources::default();
        assert!(check(Resources::new(1000, 1024, 1), none, Resources::new(3000, 3072, 2), alloc).is_empty());
        assert_eq!(
            check(Resources::new(1001, 1025, 1), none, Resources::new(3000, 3072, 2), alloc),
            vec![INSUFFICIENT_CPU, INSUFFICIENT_MEMORY]
        );
        assert_eq!(check(Resources::new(0, 0, 1), none, Resources::new(0, 0, 3), alloc), vec![TOO_MANY_PODS]);
    }

    #[test]
    fn overhead_counts_for_the_new_pod_and_the_placed_ones() {
        let alloc = Resources::new(1000, 1 << 20, 10);
        let overhead = Resources::new(100, 0, 0);
        // Two placed pods of 300m use 2 * (300 + 100) = 800m; the new one needs 100 + 100.
        assert!(check(Resources::new(100, 0, 1), overhead, Resources::new(600, 0, 2), alloc).is_empty());
        assert_eq!(
            check(Resources::new(101, 0, 1), overhead, Resources::new(600, 0, 2), alloc),
            vec![INSUFFICIENT_CPU]
        );
    }

    #[test]
    fn unrequested_resources_are_not_checked() {
        let alloc = Resources::new(1000, 1000, 10);
        let over = Resources::new(2000, 2000, 1);
        assert!(check(Resources::new(0, 0, 1), Resources::default(), over, alloc).is_empty());
    }
}
