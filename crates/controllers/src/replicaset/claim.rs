//! Upstream's `ClaimPods`: a ReplicaSet adopts the orphans its selector matches and releases the
//! pods it controls that no longer match. Adoption and release are compare-and-swap patches; a
//! pod that changed meanwhile is left for the next event.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};

use super::FIELD_MANAGER;
use super::error::SyncError;
use crate::owners::{adopt_patch, controller_ref, is_gone_or_changed, release_patch};

/// The pods `rs` controls once orphans are adopted and strays released.
pub async fn claim(
    client: &kube::Client,
    rs: &ReplicaSet,
    owner: &OwnerReference,
    selector: &Selector,
    candidates: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>, SyncError> {
    let ns = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    let mut claimed = Vec::new();
    for pod in candidates {
        let matches = selector.matches(pod.labels());
        let patch = match controller_ref(&pod.metadata) {
            Some(r) if r.uid == owner.uid && matches => {
                claimed.push(pod);
                continue;
            }
            Some(r) if r.uid == owner.uid && pod.metadata.deletion_timestamp.is_none() => {
                release_patch(&pod.metadata, &owner.uid)
            }
            // Upstream adopts only from a live ReplicaSet, and only live pods.
            None if matches
                && pod.metadata.deletion_timestamp.is_none()
                && rs.metadata.deletion_timestamp.is_none() =>
            {
                adopt_patch(&pod.metadata, owner)
            }
            _ => continue,
        };
        let name = pod.name_any();
        let adopting = matches;
        match api.patch(&name, &params, &Patch::Merge(&patch)).await {
            Ok(p) if adopting => {
                tracing::debug!(pod = %name, "adopted");
                claimed.push(Arc::new(p));
            }
            Ok(_) => tracing::debug!(pod = %name, "released"),
            Err(e) if is_gone_or_changed(&e) => {}
            Err(e) => {
                let verb = if adopting { "adopting pod" } else { "releasing pod" };
                return Err(SyncError::api(verb, format!("{ns}/{name}"))(e));
            }
        }
    }
    Ok(claimed)
}
