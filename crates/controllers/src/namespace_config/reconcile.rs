//! One reconcile of a `NamespaceConfig`, level-triggered and idempotent: from the config and
//! what is live, make the namespace, quota, container defaults and permissions what the config
//! says, then report it in the status.
//!
//! Rules, in order:
//! 1. A config being deleted (finalizers pending, e.g. `--cascade=foreground`) reports REMOVING
//!    and changes nothing: its dependents go through the server's garbage collector.
//! 2. An invalid spec reports ERROR with one message per problem and changes nothing.
//! 3. The namespace is created if missing, owned by the config; one that existed before is
//!    configured but never owned (so never deleted with the config). A terminating namespace,
//!    or one still owned by an earlier config of the same name, reports CONFIGURING.
//! 4. Quota, LimitRange and RoleBindings are applied when missing or drifted and the managed
//!    ones no longer wanted are deleted; all are owned by the config.
//! 5. RUNNING with stats from the quota, or ERROR with the failed step (then retried).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::FIELD_MANAGER;
use super::desired;
use super::error::ReconcileError;
use super::objects::{self, NamespaceState};
use super::status::{Message, NamespaceConfigStatus, Outcome, Stats, next_status};
use super::types::NamespaceConfig;
use crate::describe;

/// Every config is looked at again this often, so stats stay fresh and drift is repaired even
/// without an event.
pub const RESYNC: Duration = Duration::from_secs(30);
/// How soon a config waiting on its namespace is looked at again.
pub const WAIT: Duration = Duration::from_secs(2);

/// What every reconcile shares.
pub struct Context {
    pub client: kube::Client,
}

/// Reconciles one config (the `kube::runtime::Controller` callback).
pub async fn reconcile(config: Arc<NamespaceConfig>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let span = tracing::info_span!(
        "reconcile",
        controller = "namespace-config",
        namespace_config = %config.name_any(),
        generation = config.metadata.generation.unwrap_or_default(),
    );
    reconcile_one(&config, &ctx.client).instrument(span).await
}

async fn reconcile_one(config: &NamespaceConfig, client: &kube::Client) -> Result<Action, ReconcileError> {
    let previous_stats = config.status.as_ref().and_then(|s| s.stats.clone());
    if config.metadata.deletion_timestamp.is_some() {
        write_status(client, config, &Outcome::Removing, previous_stats).await?;
        return Ok(Action::await_change());
    }
    let problems = desired::validate(config);
    if !problems.is_empty() {
        let messages = problems.iter().map(|e| Message::error(describe(e))).collect();
        write_status(client, config, &Outcome::Failed(messages), previous_stats).await?;
        return Ok(Action::await_change());
    }
    let owner = config.controller_owner_ref(&()).ok_or(ReconcileError::MissingIdentity)?;
    match converge(client, config, &owner).await {
        Ok((outcome, stats)) => {
            write_status(client, config, &outcome, stats).await?;
            Ok(Action::requeue(if matches!(outcome, Outcome::Waiting(_)) { WAIT } else { RESYNC }))
        }
        Err(e) => {
            let failed = Outcome::Failed(vec![Message::error(describe(&e))]);
            // The step's error is what is returned (and logged once by the error policy); a
            // status that cannot be written either is only worth a debug line.
            if let Err(status_error) = write_status(client, config, &failed, previous_stats).await {
                tracing::debug!(error = %describe(&status_error), "could not report the failure in the status");
            }
            Err(e)
        }
    }
}

/// Rules 3 and 4: the namespace and its managed objects.
async fn converge(
    client: &kube::Client,
    config: &NamespaceConfig,
    owner: &OwnerReference,
) -> Result<(Outcome, Option<Stats>), ReconcileError> {
    let ns = config.namespace_name();
    let mut messages = match objects::ensure_namespace(client, ns, owner).await? {
        NamespaceState::Waiting(why) => return Ok((Outcome::Waiting(why), None)),
        NamespaceState::PreExisting => vec![Message::info(format!(
            "namespace {ns} existed before this configuration: it is configured, and kept when the configuration is deleted"
        ))],
        NamespaceState::Owned => Vec::new(),
    };
    let want = desired::desired(config, Some(owner));
    messages.extend(want.messages);
    // Bindings first: a changed role is granted before the old one is withdrawn.
    objects::sync_kind::<RoleBinding>(client, ns, owner, &want.role_bindings).await?;
    let quotas = objects::sync_kind::<ResourceQuota>(client, ns, owner, want.quota.as_slice()).await?;
    objects::sync_kind::<LimitRange>(client, ns, owner, want.limit_range.as_slice()).await?;
    Ok((Outcome::Ready(messages), Stats::from_quota(quotas.first())))
}

/// Writes the status for `outcome` when it differs from the stored one (one JSON merge patch of
/// the status subresource; `null`s remove what is no longer reported).
async fn write_status(
    client: &kube::Client,
    config: &NamespaceConfig,
    outcome: &Outcome,
    stats: Option<Stats>,
) -> Result<(), ReconcileError> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let next: NamespaceConfigStatus =
        next_status(config.status.as_ref(), config.metadata.generation, outcome, stats, now);
    if config.status.as_ref() == Some(&next) {
        return Ok(());
    }
    let name = config.name_any();
    let api: Api<NamespaceConfig> = Api::all(client.clone());
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    let patch = serde_json::json!({ "status": next });
    match api.patch_status(&name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {}
        // Deleted meanwhile: nothing left to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(ReconcileError::api("updating the status of", "NamespaceConfig", name)(e)),
    }
    let before = config.status.as_ref().and_then(|s| s.config_status);
    if before != next.config_status {
        tracing::info!(config_status = ?next.config_status, "config status changed");
    }
    Ok(())
}
