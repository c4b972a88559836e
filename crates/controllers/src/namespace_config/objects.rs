//! The API calls of a reconcile: making sure the namespace exists (without taking over one
//! that existed before), server-side applying the desired objects that are missing or drifted,
//! and deleting the managed objects no longer wanted.
//!
//! Owns: how objects are written (field manager, force, label selector). Not what they contain
//! (`desired.rs`) nor the order of steps (`reconcile.rs`).

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};

use super::FIELD_MANAGER;
use super::desired::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use super::drift::Managed;
use super::error::ReconcileError;
use super::types::KIND;

/// Where the namespace stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceState {
    /// Created by (and owned by) this config: deleting the config deletes it.
    Owned,
    /// Existed before the config: configured, never deleted by it.
    PreExisting,
    /// Not usable yet; the reason is reported as CONFIGURING.
    Waiting(String),
}

/// Classifies an existing namespace for the config whose controller reference is `owner`.
pub fn classify(ns: &Namespace, owner: &OwnerReference) -> NamespaceState {
    let name = ns.name_any();
    if ns.metadata.deletion_timestamp.is_some() {
        return NamespaceState::Waiting(format!("namespace {name} is terminating; it is recreated once it is gone"));
    }
    let refs = ns.metadata.owner_references.as_deref().unwrap_or_default();
    if refs.iter().any(|r| r.uid == owner.uid) {
        NamespaceState::Owned
    } else if refs.iter().any(|r| r.kind == KIND && r.api_version == owner.api_version) {
        NamespaceState::Waiting(format!(
            "namespace {name} belongs to an earlier NamespaceConfig of the same name and is being garbage collected"
        ))
    } else {
        NamespaceState::PreExisting
    }
}

/// Creates the namespace, owned by the config, unless it exists.
pub async fn ensure_namespace(
    client: &kube::Client,
    name: &str,
    owner: &OwnerReference,
) -> Result<NamespaceState, ReconcileError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if let Some(ns) = api.get_opt(name).await.map_err(ReconcileError::api("reading", "Namespace", name))? {
        return Ok(classify(&ns, owner));
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string())].into()),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        ..Default::default()
    };
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    api.create(&params, &ns).await.map_err(ReconcileError::api("creating", "Namespace", name))?;
    tracing::info!(namespace = %name, "created namespace");
    Ok(NamespaceState::Owned)
}

fn target<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// Whether `obj` is controlled by a `NamespaceConfig` named like `owner` (this config, or an
/// earlier one of the same name that the garbage collector has not caught up with).
fn controlled_by(obj: &impl Resource, owner: &OwnerReference) -> bool {
    obj.meta().owner_references.iter().flatten().any(|r| {
        r.controller == Some(true) && r.kind == owner.kind && r.api_version == owner.api_version && r.name == owner.name
    })
}

/// Makes the managed objects of kind `K` in `namespace` exactly `desired`: applies each one that
/// is missing or has drifted (server-side apply as this controller, forced: the config is the
/// source of truth), then deletes the ones it labelled and controls that are no longer wanted.
/// Returns the live objects, in the order of `desired`.
pub async fn sync_kind<K: Managed>(
    client: &kube::Client,
    namespace: &str,
    owner: &OwnerReference,
    desired: &[K],
) -> Result<Vec<K>, ReconcileError> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let kind = K::kind(&()).to_string();
    let selector = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let live = api.list(&selector).await.map_err(ReconcileError::api("listing", &kind, namespace))?.items;
    let mut result = Vec::with_capacity(desired.len());
    for want in desired {
        let name = want.name_any();
        match live.iter().find(|l| l.name_any() == name) {
            Some(l) if K::in_sync(l, want) => result.push(l.clone()),
            _ => {
                let applied = api
                    .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(want))
                    .await
                    .map_err(ReconcileError::api("applying", &kind, target(want)))?;
                tracing::info!(kind = %kind, namespace = %namespace, name = %name, "applied");
                result.push(applied);
            }
        }
    }
    let unwanted = |l: &&K| controlled_by(*l, owner) && !desired.iter().any(|d| d.name_any() == l.name_any());
    for obj in live.iter().filter(unwanted) {
        let name = obj.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(kind = %kind, namespace = %namespace, name = %name, "deleted, no longer wanted"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(ReconcileError::api("deleting", &kind, target(obj))(e)),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn owner(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "tenancy.canopy.io/v1alpha1".into(),
            kind: KIND.into(),
            name: "team".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn ns(owners: Vec<OwnerReference>, deleting: bool) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some("team".into()),
                owner_references: Some(owners),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn namespace_states() {
        let me = owner("u1");
        assert_eq!(classify(&ns(vec![me.clone()], false), &me), NamespaceState::Owned);
        assert_eq!(classify(&ns(vec![], false), &me), NamespaceState::PreExisting);
        assert!(matches!(classify(&ns(vec![owner("old")], false), &me), NamespaceState::Waiting(_)));
        assert!(matches!(classify(&ns(vec![me.clone()], true), &me), NamespaceState::Waiting(_)));
        let other = OwnerReference { kind: "Something".into(), ..owner("x") };
        assert_eq!(classify(&ns(vec![other.clone()], false), &me), NamespaceState::PreExisting);
    }

    #[test]
    fn only_objects_controlled_by_a_config_of_this_name_are_pruned() {
        let me = owner("u1");
        assert!(controlled_by(&ns(vec![me.clone()], false), &me));
        assert!(controlled_by(&ns(vec![owner("earlier")], false), &me), "an earlier config of the same name");
        assert!(!controlled_by(&ns(vec![OwnerReference { name: "other".into(), ..owner("u2") }], false), &me));
        assert!(!controlled_by(&ns(vec![OwnerReference { controller: None, ..owner("u1") }], false), &me));
        assert!(!controlled_by(&ns(vec![], false), &me));
    }
}
