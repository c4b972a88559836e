//! Container IDs: `runc://<pod uid>.<container name>-<n>`, where `<n>` counts the container's
//! starts in this pod. The runc ID is also the relative path of the bundle, so the ID alone
//! finds every file of a container.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::RuntimeError;

const SCHEME: &str = "runc://";

/// A validated runc container ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RuncId {
    uid: String,
    /// `<container name>-<n>`.
    instance: String,
}

/// Pod UIDs and container names become path components and runc IDs, so only the characters
/// UUIDs and DNS labels use are accepted (no `/`, no `..`).
fn safe(part: &str) -> bool {
    !part.is_empty() && part.len() <= 253 && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(super) fn pod_uid(pod: &Pod) -> Result<&str, String> {
    match pod.metadata.uid.as_deref() {
        Some(uid) if safe(uid) => Ok(uid),
        Some(uid) => Err(format!("pod uid {uid:?} is not usable as a directory name")),
        None => Err("pod has no uid".into()),
    }
}

/// The cgroup (relative to each hierarchy's root) holding a pod's containers.
pub(super) fn pod_cgroup(uid: &str) -> String {
    format!("/canopy/pod{uid}")
}

/// Whether a directory name in `pods/<uid>/` is a container bundle (`<name>-<n>`), not one of
/// the pod's own directories (`volumes`).
pub(super) fn is_bundle_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(c, n)| !c.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl RuncId {
    pub(super) fn new(uid: &str, instance: &str) -> Result<Self, String> {
        if safe(uid) && safe(instance) {
            Ok(Self { uid: uid.into(), instance: instance.into() })
        } else {
            Err(format!("invalid container id {uid}.{instance}"))
        }
    }

    /// The first `<name>-<n>` whose bundle directory does not exist yet.
    pub(super) fn next(pods_dir: &Path, uid: &str, name: &str) -> Result<Self, String> {
        let dir = pods_dir.join(uid);
        let n = (0..).find(|n| !dir.join(format!("{name}-{n}")).exists()).unwrap_or(0);
        Self::new(uid, &format!("{name}-{n}"))
    }

    pub(super) fn from_container_id(id: &str) -> Result<Self, RuntimeError> {
        let not_found = || RuntimeError::NotFound(id.to_string());
        let rest = id.strip_prefix(SCHEME).ok_or_else(not_found)?;
        let (uid, instance) = rest.split_once('.').ok_or_else(not_found)?;
        Self::new(uid, instance).map_err(|_| not_found())
    }

    /// What runc calls the container.
    pub(super) fn runc(&self) -> String {
        format!("{}.{}", self.uid, self.instance)
    }

    /// What the agent calls the container.
    pub(super) fn container_id(&self) -> String {
        format!("{SCHEME}{}", self.runc())
    }

    pub(super) fn bundle_dir(&self, pods_dir: &Path) -> PathBuf {
        pods_dir.join(&self.uid).join(&self.instance)
    }

    pub(super) fn log_path(&self, pods_dir: &Path) -> PathBuf {
        pods_dir.join(&self.uid).join(format!("{}.log", self.instance))
    }

    /// The container's cgroup, grouped by pod like the kubelet's `kubepods/pod<uid>`.
    pub(super) fn cgroup_path(&self) -> String {
        format!("{}/{}", pod_cgroup(&self.uid), self.instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_paths() {
        let id = RuncId::new("0a1b-2c", "web-3").expect("valid");
        assert_eq!(id.container_id(), "runc://0a1b-2c.web-3");
        assert_eq!(RuncId::from_container_id(&id.container_id()).expect("parses"), id);
        for bad in ["runc://../x.y", "runc://a/b.c", "sim://a.b", "runc://a", "runc://a.b.c"] {
            assert!(RuncId::from_container_id(bad).is_err(), "{bad}");
        }
        assert_eq!(id.bundle_dir(Path::new("/d")), Path::new("/d/0a1b-2c/web-3"));
        assert_eq!(id.log_path(Path::new("/d")), Path::new("/d/0a1b-2c/web-3.log"));
        assert_eq!(id.cgroup_path(), "/canopy/pod0a1b-2c/web-3");
        assert!(is_bundle_name("web-3") && is_bundle_name("a-b-10"));
        assert!(!is_bundle_name("volumes") && !is_bundle_name("web-") && !is_bundle_name("-1"));
    }
}
