//! Upstream's `getAllReplicaSetsAndSyncRevision`: find the new ReplicaSet (the Deployment's
//! template) or create it as `<deployment>-<pod-template-hash>`, with the next revision, and
//! mirror its revision on the Deployment. A name taken by a different ReplicaSet raises
//! `collisionCount`, which changes the hash.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::FIELD_MANAGER;
use super::error::SyncError;
use super::family::Family;
use super::hash::{POD_TEMPLATE_HASH, compute_hash, equal_ignore_hash};
use super::reconcile::Context;
use super::status::{
    self, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING, RS_CREATE_ERROR, condition, has_progress_deadline,
};
use super::util::{self, REVISION};
use crate::events::EventType;
use crate::owners::is_controlled_by;

/// The family with its new ReplicaSet found, or created when `create` and missing.
pub async fn sync_revision(
    ctx: &Context,
    d: &mut Deployment,
    rss: Vec<ReplicaSet>,
    create: bool,
) -> Result<Family, SyncError> {
    let mut family = Family {
        new: util::find_new(d, &rss).and_then(|rs| rss.iter().position(|r| r.metadata.name == rs.metadata.name)),
        rss,
    };
    let max_old = family.old().iter().map(|rs| util::revision(rs)).max().unwrap_or(0);
    let new_revision = max_old + 1;
    if let Some(i) = family.new {
        update_existing(ctx, d, &mut family, i, new_revision).await?;
        return Ok(family);
    }
    if !create {
        return Ok(family);
    }
    let rs = create_new(ctx, d, &family, new_revision).await?;
    family.rss.push(rs);
    family.new = Some(family.rss.len() - 1);
    Ok(family)
}

/// Brings an existing new ReplicaSet's annotations and `minReadySeconds` up to date.
async fn update_existing(
    ctx: &Context,
    d: &mut Deployment,
    family: &mut Family,
    i: usize,
    new_revision: i64,
) -> Result<(), SyncError> {
    let mut copy = family.rss[i].clone();
    let annotations_changed = util::set_new_rs_annotations(d, &mut copy, new_revision, true);
    let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
    let min_ready_changed = copy.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
    if annotations_changed || min_ready_changed {
        let (ns, name) = (copy.namespace().unwrap_or_default(), copy.name_any());
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": copy.metadata.resource_version, "annotations": copy.metadata.annotations},
            "spec": {"minReadySeconds": min_ready},
        });
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        family.rss[i] = api
            .patch(&name, &params(), &Patch::Merge(&patch))
            .await
            .map_err(SyncError::api("updating ReplicaSet", format!("{ns}/{name}")))?;
    }
    let revision = util::revision(&family.rss[i]);
    set_revision(ctx, d, revision).await?;
    if has_progress_deadline(d) && status::get_condition(d.status.as_ref(), PROGRESSING).is_none() {
        let mut next = d.status.clone().unwrap_or_default();
        let msg = format!("Found new replica set \"{}\"", family.rss[i].name_any());
        status::set_condition(&mut next, condition(PROGRESSING, "True", FOUND_NEW_RS, msg));
        status::write(ctx, d, next).await?;
    }
    Ok(())
}

async fn create_new(
    ctx: &Context,
    d: &mut Deployment,
    family: &Family,
    new_revision: i64,
) -> Result<ReplicaSet, SyncError> {
    let (ns, dname) = (d.namespace().ok_or(SyncError::MissingIdentity)?, d.name_any());
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let template = util::template(d);
    let hash = compute_hash(&template, collision_count);
    let mut rs = new_replica_set(d, template, &hash)?;
    let mut all = family.all();
    all.push(&rs);
    let size = util::new_rs_new_replicas(d, &all, &rs);
    if let Some(spec) = rs.spec.as_mut() {
        spec.replicas = Some(size);
    }
    util::set_new_rs_annotations(d, &mut rs, new_revision, false);
    let name = rs.name_any();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let (created, already_existed) = match api.create(&PostParams::default(), &rs).await {
        Ok(created) => (created, false),
        Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {
            let existing =
                api.get(&name).await.map_err(SyncError::api("reading ReplicaSet", format!("{ns}/{name}")))?;
            let uid = d.metadata.uid.clone().unwrap_or_default();
            let existing_template = existing.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
            if is_controlled_by(&existing.metadata, &uid) && equal_ignore_hash(&existing_template, &util::template(d)) {
                (existing, true)
            } else {
                // Another template hashed to this name: hash again with a higher count.
                let mut next = d.status.clone().unwrap_or_default();
                next.collision_count = Some(collision_count.unwrap_or(0) + 1);
                status::write(ctx, d, next).await?;
                return Err(SyncError::HashCollision(name));
            }
        }
        Err(e) => {
            if has_progress_deadline(d) {
                let mut next = d.status.clone().unwrap_or_default();
                let msg = format!("Failed to create new replica set \"{name}\": {}", crate::describe(&e));
                status::set_condition(&mut next, condition(PROGRESSING, "False", RS_CREATE_ERROR, msg));
                status::write(ctx, d, next).await?;
            }
            return Err(SyncError::api("creating ReplicaSet", format!("{ns}/{name}"))(e));
        }
    };
    if !already_existed && size > 0 {
        let msg = format!("Scaled up replica set {name} from 0 to {size}");
        ctx.recorder.record(d, EventType::Normal, "ScalingReplicaSet", msg);
    }
    set_revision(ctx, d, new_revision).await?;
    if !already_existed && has_progress_deadline(d) {
        let mut next = d.status.clone().unwrap_or_default();
        let msg = format!("Created new replica set \"{name}\"");
        status::set_condition(&mut next, condition(PROGRESSING, "True", NEW_RS_CREATED, msg));
        status::write(ctx, d, next).await?;
    }
    tracing::info!(deployment = %dname, replicaset = %name, revision = new_revision, "created the new ReplicaSet");
    Ok(created)
}

/// The new ReplicaSet (not yet sized): template and selector carry the hash label.
fn new_replica_set(d: &Deployment, mut template: PodTemplateSpec, hash: &str) -> Result<ReplicaSet, SyncError> {
    let owner = crate::owners::controller_owner_ref(d).ok_or(SyncError::MissingIdentity)?;
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels.get_or_insert_with(Default::default).insert(POD_TEMPLATE_HASH.into(), hash.into());
    let labels = meta.labels.clone();
    let mut selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
    selector.match_labels.get_or_insert_with(Default::default).insert(POD_TEMPLATE_HASH.into(), hash.into());
    Ok(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.as_ref().and_then(|s| s.min_ready_seconds),
            selector,
            template: Some(template),
        }),
        status: None,
    })
}

/// Upstream's `SetDeploymentRevision`: mirrors the new ReplicaSet's revision on the Deployment.
async fn set_revision(ctx: &Context, d: &mut Deployment, revision: i64) -> Result<(), SyncError> {
    let revision = revision.to_string();
    if d.annotations().get(REVISION) == Some(&revision) {
        return Ok(());
    }
    let (ns, name) = (d.namespace().unwrap_or_default(), d.name_any());
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = serde_json::json!({"metadata": {"annotations": {REVISION: revision}}});
    *d = api
        .patch(&name, &params(), &Patch::Merge(&patch))
        .await
        .map_err(SyncError::api("annotating Deployment", format!("{ns}/{name}")))?;
    Ok(())
}

fn params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() }
}
