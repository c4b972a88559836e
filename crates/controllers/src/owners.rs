//! Controller references (`ownerReferences` with `controller: true`): who owns a pod or a
//! ReplicaSet, and the JSON merge patches that adopt or release one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

/// The owner reference marked `controller: true`, if any.
pub fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Controlled by the object with this uid.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_ref(meta).is_some_and(|r| r.uid == uid)
}

/// A merge patch that makes `owner` the controller of the object described by `meta`, keeping
/// its other owners. It carries the object's `resourceVersion`, so it fails (409) instead of
/// stealing an object another controller adopted meanwhile.
pub fn adopt_patch(meta: &ObjectMeta, owner: &OwnerReference) -> Value {
    let mut refs: Vec<OwnerReference> =
        meta.owner_references.iter().flatten().filter(|r| r.uid != owner.uid).cloned().collect();
    refs.push(owner.clone());
    json!({"metadata": {"resourceVersion": meta.resource_version, "ownerReferences": refs}})
}

/// A merge patch that drops the reference to `owner_uid` (compare-and-swap as [`adopt_patch`]).
pub fn release_patch(meta: &ObjectMeta, owner_uid: &str) -> Value {
    let refs: Vec<&OwnerReference> = meta.owner_references.iter().flatten().filter(|r| r.uid != owner_uid).collect();
    json!({"metadata": {"resourceVersion": meta.resource_version, "ownerReferences": refs}})
}

/// The server answered 404 or 409: the object is gone or changed, and the next event retries.
pub fn is_gone_or_changed(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 409)
}

/// The reference that makes `owner` the controller of its dependents, with
/// `blockOwnerDeletion` (as upstream's controllers set it, so a foreground deletion of the owner
/// waits for them).
pub fn controller_owner_ref<K: kube::Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    let mut r = owner.controller_owner_ref(&())?;
    r.block_owner_deletion = Some(true);
    Some(r)
}
