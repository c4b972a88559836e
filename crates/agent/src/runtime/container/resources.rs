//! Container requests and limits as runc cgroup resources, the way the kubelet maps them:
//! CPU request to shares, CPU limit to a CFS quota per 100 ms period, memory limit to a hard
//! limit.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

const CFS_PERIOD_US: i64 = 100_000;
/// The kubelet's floor for CPU shares (the kernel's minimum).
const MIN_SHARES: i64 = 2;

/// A quantity in thousandths of its unit (`500m` is 500, `2` is 2000, `1Ki` is 1_024_000), or
/// `None` for forms this parser does not know.
pub(crate) fn milli(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let factor: i128 = match suffix {
        "" => 1000,
        "m" => 1,
        "k" => 1000 * 1000,
        "M" => 1000 * 1000_i128.pow(2),
        "G" => 1000 * 1000_i128.pow(3),
        "T" => 1000 * 1000_i128.pow(4),
        "Ki" => 1000 * 1024,
        "Mi" => 1000 * 1024_i128.pow(2),
        "Gi" => 1000 * 1024_i128.pow(3),
        "Ti" => 1000 * 1024_i128.pow(4),
        _ => return None,
    };
    // Decimal fractions (`0.5`, `1.5Gi`) are common; exponents are rare and not supported.
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 9 {
        return None;
    }
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac_value: i128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let scale = 10_i128.pow(u32::try_from(frac.len()).ok()?);
    Some(whole * factor + frac_value * factor / scale)
}

fn get(map: Option<&BTreeMap<String, Quantity>>, key: &str) -> Option<i64> {
    map.and_then(|m| m.get(key)).and_then(|q| milli(&q.0)).and_then(|m| i64::try_from(m).ok())
}

/// The `linux.resources` of a container's OCI spec.
pub(super) fn linux_resources(resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>) -> Value {
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    // A missing request defaults to the limit, as the API server does for Guaranteed pods.
    let cpu_request = get(requests, "cpu").or_else(|| get(limits, "cpu"));
    let mut cpu = json!({
        "shares": cpu_request.map_or(MIN_SHARES, |m| (m * 1024 / 1000).max(MIN_SHARES)),
    });
    if let Some(limit) = get(limits, "cpu") {
        // 10 ms is the kernel's smallest useful quota (the kubelet's MinQuotaPeriod is 1 ms).
        cpu["quota"] = json!((limit * CFS_PERIOD_US / 1000).max(1000));
        cpu["period"] = json!(CFS_PERIOD_US);
    }
    let mut out = json!({
        "devices": [{ "allow": false, "access": "rwm" }],
        "cpu": cpu,
    });
    if let Some(memory) = get(limits, "memory") {
        out["memory"] = json!({ "limit": memory / 1000 });
    }
    out
}

/// Removes a pod's cgroup (`pod_cgroup`, e.g. `/canopy/pod<uid>`) from every hierarchy: the
/// unified one (`/sys/fs/cgroup/canopy/...`) and each v1 controller's
/// (`/sys/fs/cgroup/memory/canopy/...`). runc removes its containers' cgroups; the pod's parent
/// stays behind otherwise. Cgroup directories go with `rmdir`, innermost first, and only once
/// no process is left in them.
pub(super) fn remove_pod_cgroups(root: &std::path::Path, pod_cgroup: &str) {
    let relative = pod_cgroup.trim_start_matches('/');
    let mut candidates = vec![root.join(relative)];
    if let Ok(entries) = std::fs::read_dir(root) {
        candidates.extend(entries.flatten().map(|e| e.path().join(relative)));
    }
    for dir in candidates {
        if dir.is_dir() {
            rmdir_tree(&dir);
        }
    }
}

fn rmdir_tree(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&entry.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::warn!(cgroup = %dir.display(), error = %e, "removing a pod cgroup failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    #[test]
    fn parses_common_quantities() {
        assert_eq!(milli("500m"), Some(500));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("0.5"), Some(500));
        assert_eq!(milli("64Mi"), Some(64 * 1024 * 1024 * 1000));
        assert_eq!(milli("1.5Gi"), Some(3 * 512 * 1024 * 1024 * 1000));
        assert_eq!(milli("1k"), Some(1_000_000));
        assert_eq!(milli("12Q"), None);
        assert_eq!(milli(""), None);
    }

    #[test]
    fn maps_requests_and_limits() {
        let q = |s: &str| Quantity(s.into());
        let r = ResourceRequirements {
            requests: Some([("cpu".to_string(), q("250m"))].into()),
            limits: Some([("cpu".to_string(), q("1")), ("memory".to_string(), q("64Mi"))].into()),
            ..ResourceRequirements::default()
        };
        let v = linux_resources(Some(&r));
        assert_eq!(v["cpu"]["shares"], 256);
        assert_eq!(v["cpu"]["quota"], 100_000);
        assert_eq!(v["memory"]["limit"], 64 << 20);
        let none = linux_resources(None);
        assert_eq!(none["cpu"]["shares"], 2);
        assert!(none.get("memory").is_none());
    }

    #[test]
    fn pod_cgroups_go_from_every_hierarchy() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = ["canopy/podu/web-0", "memory/canopy/podu/web-1", "cpu/canopy/podu", "cpu/canopy/podv"];
        for d in dirs {
            std::fs::create_dir_all(root.path().join(d)).expect("mkdir");
        }
        remove_pod_cgroups(root.path(), "/canopy/podu");
        for gone in ["canopy/podu", "memory/canopy/podu", "cpu/canopy/podu"] {
            assert!(!root.path().join(gone).exists(), "{gone}");
        }
        assert!(root.path().join("cpu/canopy/podv").exists());
    }
}
