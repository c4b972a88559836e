//! One sync of a Deployment (upstream's `syncDeployment`), level-triggered and idempotent: claim
//! the ReplicaSets, then either only resize them (paused, or the Deployment's size changed) or
//! take one rollout step of its strategy, and report the status.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use tracing::Instrument;

use super::FIELD_MANAGER;
use super::cleanup::cleanup;
use super::error::SyncError;
use super::fenceposts::is_rolling;
use super::new_rs::sync_revision;
use super::scale::{is_scaling_event, scale};
use super::status::{check_paused, sync_status};
use super::{recreate, rolling};
use crate::events::Recorder;
use crate::owners::{adopt_patch, controller_ref, is_gone_or_changed};

/// What every sync shares.
pub struct Context {
    pub client: kube::Client,
    pub recorder: Recorder,
}

/// Syncs one Deployment (the `kube::runtime::Controller` callback).
pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, SyncError> {
    let span = tracing::debug_span!(
        "reconcile",
        controller = "deployment",
        namespace = %d.namespace().unwrap_or_default(),
        deployment = %d.name_any(),
        generation = d.metadata.generation.unwrap_or_default(),
    );
    sync(Deployment::clone(&d), &ctx).instrument(span).await
}

async fn sync(mut d: Deployment, ctx: &Context) -> Result<Action, SyncError> {
    if d.metadata.deletion_timestamp.is_some() {
        // The server's garbage collector removes the ReplicaSets and their pods.
        return Ok(Action::await_change());
    }
    let selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
    let selector = Selector::try_from(selector).map_err(SyncError::Selector)?;
    if selector.selects_all() {
        tracing::warn!("empty selector: this Deployment would select every pod; ignoring it");
        return Ok(Action::await_change());
    }
    let selector = selector.to_string();
    let rss = claim(ctx, &d, &selector).await?;
    check_paused(ctx, &mut d).await?;
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let family = sync_revision(ctx, &mut d, rss, false).await?;
    if paused || is_scaling_event(&d, &family) {
        let mut family = family;
        scale(ctx, &d, &mut family).await?;
        if paused {
            cleanup(ctx, &d, &family).await?;
        }
        sync_status(ctx, &mut d, &family).await?;
        return Ok(Action::await_change());
    }
    if is_rolling(&d) {
        rolling::rollout(ctx, &mut d, family.rss).await
    } else {
        recreate::rollout(ctx, &mut d, family.rss, &selector).await
    }
}

/// The ReplicaSets the Deployment controls, adopting the orphans its selector matches. (Its
/// selector is immutable in apps/v1, so nothing it controls stops matching.)
async fn claim(ctx: &Context, d: &Deployment, selector: &str) -> Result<Vec<ReplicaSet>, SyncError> {
    let (ns, name) = (d.namespace().ok_or(SyncError::MissingIdentity)?, d.name_any());
    let owner = crate::owners::controller_owner_ref(d).ok_or(SyncError::MissingIdentity)?;
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(SyncError::api("listing the ReplicaSets of Deployment", format!("{ns}/{name}")))?;
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    let mut claimed = Vec::new();
    for rs in list.items {
        match controller_ref(&rs.metadata) {
            Some(r) if r.uid == owner.uid => claimed.push(rs),
            Some(_) => {}
            None if rs.metadata.deletion_timestamp.is_none() => {
                let patch = adopt_patch(&rs.metadata, &owner);
                match api.patch(&rs.name_any(), &params, &Patch::Merge(&patch)).await {
                    Ok(adopted) => claimed.push(adopted),
                    Err(e) if is_gone_or_changed(&e) => {}
                    Err(e) => return Err(SyncError::api("adopting ReplicaSet", format!("{ns}/{}", rs.name_any()))(e)),
                }
            }
            None => {}
        }
    }
    Ok(claimed)
}
