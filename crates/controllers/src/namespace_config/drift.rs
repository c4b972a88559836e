//! Whether a live object already is what the controller would apply, so a reconcile of a
//! config that is in place writes nothing.
//!
//! This matters beyond saving requests: every server-side apply records a new managedFields
//! time, so an unconditional apply would be a write, a watch event on an owned object, and
//! another reconcile. Owns: the per-kind comparisons (the [`Managed`] trait).

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::FIELD_MANAGER;

/// A kind the controller applies and prunes.
pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned + Send
{
    /// Whether applying `desired` over `live` would change nothing.
    fn in_sync(live: &Self, desired: &Self) -> bool;
}

/// `live` carries `desired`'s labels and owner references.
fn meta_in_sync(live: &ObjectMeta, desired: &ObjectMeta) -> bool {
    let labels = desired.labels.iter().flatten().all(|(k, v)| live.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    let owners = desired
        .owner_references
        .iter()
        .flatten()
        .all(|d| live.owner_references.iter().flatten().any(|l| l.uid == d.uid && l.controller == d.controller));
    labels && owners
}

/// The `spec.hard` keys this controller's last apply set, from `managedFields`; `None` when the
/// server did not record them.
fn applied_hard_keys(quota: &ResourceQuota) -> Option<BTreeSet<String>> {
    let entry = quota
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| e.manager.as_deref() == Some(FIELD_MANAGER) && e.operation.as_deref() == Some("Apply"))?;
    let hard = entry.fields_v1.as_ref()?.0.pointer("/f:spec/f:hard")?.as_object()?;
    Some(hard.keys().filter_map(|k| k.strip_prefix("f:")).map(str::to_string).collect())
}

impl Managed for ResourceQuota {
    /// In sync when every wanted limit is set as wanted and no key this controller applied earlier
    /// is still there unwanted (keys others added are theirs: an apply would not remove them).
    fn in_sync(live: &Self, desired: &Self) -> bool {
        let hard = |q: &ResourceQuota| q.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
        let (live_hard, want) = (hard(live), hard(desired));
        let wanted_set = want.iter().all(|(k, v)| live_hard.get(k) == Some(v));
        let nothing_stale = match applied_hard_keys(live) {
            Some(applied) => applied.iter().all(|k| want.contains_key(k) || !live_hard.contains_key(k)),
            None => live_hard.len() == want.len(),
        };
        meta_in_sync(&live.metadata, &desired.metadata) && wanted_set && nothing_stale
    }
}

impl Managed for LimitRange {
    fn in_sync(live: &Self, desired: &Self) -> bool {
        meta_in_sync(&live.metadata, &desired.metadata) && live.spec == desired.spec
    }
}

impl Managed for RoleBinding {
    fn in_sync(live: &Self, desired: &Self) -> bool {
        meta_in_sync(&live.metadata, &desired.metadata)
            && live.role_ref == desired.role_ref
            && live.subjects == desired.subjects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quota(hard: serde_json::Value, applied: &[&str]) -> ResourceQuota {
        let fields: serde_json::Map<String, serde_json::Value> =
            applied.iter().map(|k| (format!("f:{k}"), json!({}))).collect();
        serde_json::from_value(json!({
            "metadata": {
                "name": "canopy-quota", "namespace": "t",
                "labels": {"tenancy.canopy.io/managed-by": "namespace-config"},
                "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:hard": fields}}}],
            },
            "spec": {"hard": hard},
        }))
        .expect("quota")
    }

    #[test]
    fn quota_drift() {
        let want = quota(json!({"pods": "10"}), &[]);
        assert!(ResourceQuota::in_sync(&quota(json!({"pods": "10"}), &["pods"]), &want));
        assert!(!ResourceQuota::in_sync(&quota(json!({"pods": "5"}), &["pods"]), &want), "changed value");
        assert!(!ResourceQuota::in_sync(&quota(json!({"pods": "10", "secrets": "1"}), &["pods", "secrets"]), &want));
        assert!(ResourceQuota::in_sync(&quota(json!({"pods": "10", "secrets": "1"}), &["pods"]), &want), "foreign key");
        let mut unlabelled = quota(json!({"pods": "10"}), &["pods"]);
        unlabelled.metadata.labels = None;
        assert!(!ResourceQuota::in_sync(&unlabelled, &want));
    }

    #[test]
    fn role_binding_drift() {
        let rb = |role: &str| -> RoleBinding {
            serde_json::from_value(json!({
                "metadata": {"name": "b", "namespace": "t"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "a@vsphere.local"}],
            }))
            .expect("binding")
        };
        assert!(RoleBinding::in_sync(&rb("view"), &rb("view")));
        assert!(!RoleBinding::in_sync(&rb("edit"), &rb("view")));
    }
}
