//! `Objects`: kind-agnostic object storage over the `Store` (the upstream "generic registry").
//!
//! Owns: encoding, resourceVersion <-> revision, system metadata on create and update,
//! optimistic concurrency, version conversion, finalizers and deletion state, and pagination.
//! Does not own: HTTP, validation of a kind's fields (see `admit`) or patches.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use canopy_store::{KeyValue, ListOptions, Precondition, Revision, Store, StoreError};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Target};
use crate::filter::Filter;
use crate::meta;
use crate::projection::Projection;
use crate::registry::{Registry, Resource};

/// The finalizers the API server itself understands (as upstream).
pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

#[derive(Clone)]
pub struct Objects {
    pub store: Arc<dyn Store>,
    pub registry: Registry,
}

/// An object a write left, and what the store now holds for it when the write stored it
/// (not for a dry run, a no-op or a deletion): answers are spliced from those bytes.
pub struct Written {
    pub obj: Value,
    pub stored: Option<KeyValue>,
}

/// What a delete did.
pub enum Deleted {
    /// The object is gone; here is its last state.
    Now(Value),
    /// The object is marked for deletion and waits for finalizers or a grace period.
    Pending(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Value>,
    pub resource_version: Revision,
    pub continue_token: Option<String>,
}

/// How a list reads (from the query string).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// Read exactly at this revision (`resourceVersionMatch=Exact`).
    pub exact_revision: Option<Revision>,
    /// Serve at a revision not older than this one.
    pub min_revision: Option<Revision>,
}

fn corrupt(kv: &KeyValue, e: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("corrupt object at {}: {e}", kv.key))
}

fn target(res: &Resource, name: &str) -> Target {
    Target::new(&res.group, &res.plural, name)
}

pub fn parse_rv(rv: &str) -> ApiResult<Revision> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version {rv:?}")))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: Revision,
    start: String,
}

impl Objects {
    pub fn new(store: Arc<dyn Store>, registry: Registry) -> Self {
        Self { store, registry }
    }

    /// Decodes a stored value as `res` (converting to its version) with its resourceVersion.
    pub fn decode(&self, res: &Resource, kv: &KeyValue) -> ApiResult<Value> {
        let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| corrupt(kv, e))?;
        obj["apiVersion"] = json!(res.api_version());
        meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
        Ok(obj)
    }

    fn encode(res: &Resource, obj: &Value) -> Bytes {
        let api_version = (res.version != res.storage_version).then(|| {
            if res.group.is_empty() {
                res.storage_version.clone()
            } else {
                format!("{}/{}", res.group, res.storage_version)
            }
        });
        let stored = Stored { obj, api_version: api_version.as_deref() };
        Bytes::from(serde_json::to_vec(&stored).expect("a serde_json::Value always serialises"))
    }

    pub async fn get(&self, res: &Resource, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let kv = self.get_kv(res, ns, name).await?;
        self.decode(res, &kv)
    }

    /// The fields `projection` keeps of one object (a check that reads a field or two).
    pub async fn get_projected(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        projection: &Projection,
    ) -> ApiResult<Value> {
        let kv = self.get_kv(res, ns, name).await?;
        projection.decode(&kv.value).map_err(|e| corrupt(&kv, e))
    }

    async fn get_kv(&self, res: &Resource, ns: Option<&str>, name: &str) -> ApiResult<KeyValue> {
        self.store
            .get(&res.key(ns, name))
            .await
            .map_err(|e| ApiError::from_store(e, target(res, name)))?
            .ok_or_else(|| ApiError::NotFound(target(res, name)))
    }

    /// Lists objects of `res` in `ns` (all namespaces when `None`) that pass `keep`.
    pub async fn list(
        &self,
        res: &Resource,
        ns: Option<&str>,
        params: &ListParams,
        keep: &(dyn Fn(&Value) -> bool + Sync),
    ) -> ApiResult<Page> {
        self.list_with(res, ns, params, &|kv| {
            let obj = self.decode(res, kv)?;
            Ok(keep(&obj).then_some(obj))
        })
        .await
    }

    /// The fields `projection` keeps of every object of `res` in every namespace, for passes
    /// over everything that read a few fields (parsing past the rest allocates nothing).
    pub async fn list_projected(&self, res: &Resource, projection: &Projection) -> ApiResult<Vec<Value>> {
        let page = self
            .list_with(res, None, &ListParams::default(), &|kv| {
                projection.decode(&kv.value).map(Some).map_err(|e| corrupt(kv, e))
            })
            .await?;
        Ok(page.items)
    }

    /// The objects `filter` selects; only those are decoded in full.
    pub async fn list_matching(
        &self,
        res: &Resource,
        ns: Option<&str>,
        params: &ListParams,
        filter: &Filter,
    ) -> ApiResult<Page> {
        self.list_with(res, ns, params, &|kv| {
            if !filter.matches_stored(&kv.value) {
                return Ok(None);
            }
            self.decode(res, kv).map(Some)
        })
        .await
    }

    async fn list_with(
        &self,
        res: &Resource,
        ns: Option<&str>,
        params: &ListParams,
        keep: &(dyn Fn(&KeyValue) -> ApiResult<Option<Value>> + Sync),
    ) -> ApiResult<Page> {
        let prefix = res.scope_prefix(ns);
        let (mut revision, mut start_after) = match &params.continue_token {
            Some(token) => {
                let t = decode_continue(token)?;
                if !t.start.starts_with(&prefix) {
                    return Err(ApiError::BadRequest("continue key is not valid for this list".into()));
                }
                (Some(t.rv), Some(t.start))
            }
            None => (params.exact_revision, None),
        };
        if let Some(min) = params.min_revision {
            let current = self.store.current_revision();
            if min > current {
                return Err(ApiError::Timeout(format!("Too large resource version: {min}, current: {current}")));
            }
        }
        let mut items = Vec::new();
        loop {
            let want = params.limit.map(|l| l.saturating_sub(items.len()).max(1));
            let page = self
                .store
                .list(ListOptions { prefix: prefix.clone(), start_after: start_after.clone(), limit: want, revision })
                .await
                .map_err(|e| match e {
                    StoreError::Compacted { .. } if params.continue_token.is_some() => ApiError::Gone(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                    ),
                    e => ApiError::from_store(e, target(res, "")),
                })?;
            revision = Some(page.revision);
            let last_key = page.items.last().map(|kv| kv.key.clone());
            for kv in &page.items {
                items.extend(keep(kv)?);
            }
            let full = params.limit.is_some_and(|l| items.len() >= l);
            if !page.more || full {
                let rv = page.revision;
                let continue_token = (page.more).then(|| encode_continue(rv, last_key.unwrap_or_default()));
                return Ok(Page { items, resource_version: rv, continue_token });
            }
            start_after = last_key;
        }
    }

    /// Creates `obj` (already validated); fills system metadata.
    pub async fn create(&self, res: &Resource, ns: Option<&str>, obj: Value, dry_run: bool) -> ApiResult<Value> {
        Ok(self.create_written(res, ns, obj, dry_run).await?.obj)
    }

    /// [`Objects::create`], with the stored bytes.
    pub async fn create_written(
        &self,
        res: &Resource,
        ns: Option<&str>,
        mut obj: Value,
        dry_run: bool,
    ) -> ApiResult<Written> {
        let name = meta::name(&obj).to_string();
        let meta = meta::meta_mut(&mut obj);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            meta.remove(f);
        }
        if res.namespaced {
            meta.insert("namespace".into(), json!(ns.unwrap_or_default()));
        } else {
            meta.remove("namespace");
        }
        if dry_run {
            return Ok(Written { obj, stored: None });
        }
        let kv = self
            .store
            .put(&res.key(ns, &name), Self::encode(res, &obj), Precondition::MustNotExist)
            .await
            .map_err(|e| ApiError::from_store(e, target(res, &name)))?;
        meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
        Ok(Written { obj, stored: Some(kv) })
    }

    /// Read-modify-write with optimistic concurrency. `change` gets the current object and returns
    /// the desired one. If the desired object carries a `resourceVersion`, it must be current
    /// (409 otherwise); without one, conflicts with concurrent writers are retried.
    /// Deleting objects whose last finalizer is removed are deleted.
    pub async fn update<F>(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        mut change: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(Value) -> ApiResult<Value> + Send,
    {
        Ok(self.update_written(res, ns, name, dry_run, |current| change(current.clone())).await?.obj)
    }

    /// [`Objects::update`] with `change` given the current object to read (requests build the
    /// desired object anew from it, so it is not copied for them), and with the stored bytes.
    pub async fn update_written<F>(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        mut change: F,
    ) -> ApiResult<Written>
    where
        F: FnMut(&Value) -> ApiResult<Value> + Send,
    {
        loop {
            let kv = self.get_kv(res, ns, name).await?;
            let current = self.decode(res, &kv)?;
            let mut next = change(&current)?;
            let pinned = meta::meta_str(&next, "resourceVersion").map(parse_rv).transpose()?;
            if let Some(rv) = pinned
                && rv != kv.mod_revision
            {
                return Err(ApiError::from_store(
                    StoreError::Conflict { key: kv.key.clone(), current: kv.mod_revision },
                    target(res, name),
                ));
            }
            carry_system_metadata(&current, &mut next);
            if next == current {
                return Ok(Written { obj: current, stored: None });
            }
            if bumps_generation(&current, &next) {
                let g = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
                meta::meta_mut(&mut next).insert("generation".into(), json!(g + 1));
            }
            if dry_run {
                return Ok(Written { obj: next, stored: None });
            }
            let cas = Precondition::ModRevision(kv.mod_revision);
            let deletes = meta::is_deleting(&next) && !blocks_deletion(res, &next);
            let result = if deletes {
                self.store.delete(&kv.key, cas).await
            } else {
                self.store.put(&kv.key, Self::encode(res, &next), cas).await
            };
            match result {
                Ok(written) => {
                    meta::meta_mut(&mut next).insert("resourceVersion".into(), json!(written.mod_revision.to_string()));
                    return Ok(Written { obj: next, stored: (!deletes).then_some(written) });
                }
                Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                Err(e) => return Err(ApiError::from_store(e, target(res, name))),
            }
        }
    }

    /// Deletes an object, or marks it for deletion when finalizers (or propagation) require.
    pub async fn delete(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        loop {
            let kv = self.get_kv(res, ns, name).await?;
            let mut obj = self.decode(res, &kv)?;
            if let Some(uid) = &opts.uid
                && meta::uid(&obj) != uid
            {
                return Err(ApiError::Conflict(
                    target(res, name),
                    format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta::uid(&obj)),
                ));
            }
            if let Some(rv) = &opts.resource_version
                && parse_rv(rv)? != kv.mod_revision
            {
                return Err(ApiError::Conflict(
                    target(res, name),
                    format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
            if meta::is_deleting(&obj) {
                // A deleting object goes at once when its grace period is cut to zero (the node
                // agent confirming a pod is gone) and nothing else holds it.
                let expedite = opts.grace_period_seconds == Some(0) && !blocks_deletion(res, &obj);
                if !expedite || opts.dry_run {
                    return Ok(Deleted::Pending(obj));
                }
                match self.store.delete(&kv.key, Precondition::ModRevision(kv.mod_revision)).await {
                    Ok(_) => return Ok(Deleted::Now(obj)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(ApiError::from_store(e, target(res, name))),
                }
            }
            let mut fins = meta::finalizers(&obj);
            let add = match opts.propagation {
                Some(Propagation::Orphan) => Some(FINALIZER_ORPHAN),
                Some(Propagation::Foreground) => Some(FINALIZER_FOREGROUND),
                _ => None,
            };
            if let Some(f) = add
                && !fins.iter().any(|x| x == f)
            {
                fins.push(f.to_string());
            }
            let graceful = graceful_seconds(res, &obj, opts.grace_period_seconds);
            let cas = Precondition::ModRevision(kv.mod_revision);
            meta::set_finalizers(&mut obj, &fins);
            if fins.is_empty() && graceful.is_none() && !blocks_deletion(res, &obj) {
                if opts.dry_run {
                    return Ok(Deleted::Now(obj));
                }
                match self.store.delete(&kv.key, cas).await {
                    Ok(_) => return Ok(Deleted::Now(obj)),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(ApiError::from_store(e, target(res, name))),
                }
            }
            let m = meta::meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(graceful.unwrap_or(0)));
            if res.group.is_empty() && res.plural == "namespaces" {
                obj["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(obj));
            }
            match self.store.put(&kv.key, Self::encode(res, &obj), cas).await {
                Ok(written) => {
                    meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(written.mod_revision.to_string()));
                    return Ok(Deleted::Pending(obj));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(ApiError::from_store(e, target(res, name))),
            }
        }
    }
}

/// Whether something other than finalizers keeps a deleting object alive: a namespace's
/// `spec.finalizers` (emptied by the namespace controller once its content is gone).
fn blocks_deletion(res: &Resource, obj: &Value) -> bool {
    !meta::finalizers(obj).is_empty()
        || (res.group.is_empty()
            && res.plural == "namespaces"
            && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty()))
}

/// Pods bound to a node are deleted gracefully (the node's agent finishes the deletion);
/// everything else goes at once, as upstream.
fn graceful_seconds(res: &Resource, obj: &Value, requested: Option<i64>) -> Option<i64> {
    if !(res.group.is_empty() && res.plural == "pods") {
        return None;
    }
    let bound = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let grace =
        requested.or_else(|| obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64)).unwrap_or(30);
    (bound && grace > 0).then_some(grace)
}

/// Keeps the fields clients may not change on update.
fn carry_system_metadata(current: &Value, next: &mut Value) {
    // Only the fields carried over are copied: the current metadata also holds managedFields.
    let cur = current.get("metadata");
    let m = meta::meta_mut(next);
    for f in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "name",
        "namespace",
    ] {
        match cur.and_then(|c| c.get(f)) {
            Some(v) => m.insert(f.into(), v.clone()),
            None => m.remove(f),
        };
    }
    m.insert("resourceVersion".into(), cur.and_then(|c| c.get("resourceVersion")).cloned().unwrap_or(Value::Null));
    if let Some(api_version) = current.get("apiVersion") {
        next["apiVersion"] = api_version.clone();
    }
    if let Some(kind) = current.get("kind") {
        next["kind"] = kind.clone();
    }
}

/// An object as stored: without `metadata.resourceVersion` (the store's revision is the
/// version) and at the storage version. Written straight from the object, not a copy of it.
struct Stored<'a> {
    obj: &'a Value,
    api_version: Option<&'a str>,
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(fields) = self.obj.as_object() else { return self.obj.serialize(s) };
        let mut out = s.serialize_map(None)?;
        for (k, v) in fields {
            match (k.as_str(), self.api_version, v.as_object()) {
                ("apiVersion", Some(version), _) => out.serialize_entry(k, version)?,
                ("metadata", _, Some(meta)) => {
                    out.serialize_entry(k, &Unversioned(meta))?;
                }
                _ => out.serialize_entry(k, v)?,
            }
        }
        if self.api_version.is_some() && !fields.contains_key("apiVersion") {
            out.serialize_entry("apiVersion", &self.api_version)?;
        }
        out.end()
    }
}

/// Metadata less `resourceVersion`.
struct Unversioned<'a>(&'a serde_json::Map<String, Value>);

impl Serialize for Unversioned<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| *k != "resourceVersion") {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

/// `metadata.generation` counts changes to anything but metadata and status (compared in
/// place: the objects are whole pods and more, written thousands of times a second).
fn bumps_generation(current: &Value, next: &Value) -> bool {
    fn counted(v: &Value) -> Vec<(&str, &Value)> {
        let mut fields: Vec<(&str, &Value)> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        fields.sort_unstable_by_key(|(k, _)| *k);
        fields
    }
    match (current.is_object(), next.is_object()) {
        (true, true) => counted(current) != counted(next),
        _ => current != next,
    }
}

fn encode_continue(rv: Revision, start: String) -> String {
    let raw = serde_json::to_vec(&ContinueToken { rv, start }).expect("token serialises");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_counts_changes_outside_metadata_and_status() {
        let old =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"r": 1, "s": 2}, "status": {"p": 1}});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = old.clone();
            f(&mut v);
            v
        };
        assert!(!bumps_generation(&old, &with(&|v| v["metadata"]["labels"]["x"] = json!("2"))));
        assert!(!bumps_generation(&old, &with(&|v| v["status"]["p"] = json!(2))));
        assert!(bumps_generation(&old, &with(&|v| v["spec"]["r"] = json!(2))));
        assert!(bumps_generation(&old, &with(&|v| v["data"] = json!({"k": "v"}))));
        assert!(bumps_generation(&old, &with(&|v| drop(v.as_object_mut().map(|o| o.remove("spec"))))));
        let reordered = json!({"status": {"p": 1}, "spec": {"s": 2, "r": 1}, "metadata": {"name": "a"}});
        assert!(!bumps_generation(&old, &reordered));
    }

    #[test]
    fn stored_bytes_leave_out_the_resource_version_and_carry_the_storage_version() {
        let obj = json!({"apiVersion": "g/v2", "kind": "K", "metadata": {"name": "a", "resourceVersion": "9",
            "labels": {"x": "1"}}, "spec": {"resourceVersion": "kept"}});
        let stored = |api_version| -> Value {
            serde_json::from_slice(&serde_json::to_vec(&Stored { obj: &obj, api_version }).expect("serialises"))
                .expect("JSON")
        };
        let mut want = obj.clone();
        meta::meta_mut(&mut want).remove("resourceVersion");
        assert_eq!(stored(None), want);
        want["apiVersion"] = json!("g/v1");
        assert_eq!(stored(Some("g/v1")), want);
        let keys: Vec<String> = stored(None).as_object().expect("object").keys().cloned().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"], "members keep their order");
    }

    #[test]
    fn system_metadata_comes_from_the_stored_object() {
        let current = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "uid": "u1",
            "resourceVersion": "7", "generation": 3, "managedFields": [{"manager": "m"}], "labels": {"x": "1"}}});
        let mut next = json!({"metadata": {"name": "b", "uid": "forged", "labels": {"y": "2"},
            "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        carry_system_metadata(&current, &mut next);
        assert_eq!(next["metadata"]["name"], "a");
        assert_eq!(next["metadata"]["uid"], "u1");
        assert_eq!(next["metadata"]["generation"], 3);
        assert_eq!(next["metadata"]["resourceVersion"], "7");
        assert!(next["metadata"].get("deletionTimestamp").is_none());
        assert_eq!(next["metadata"]["labels"], json!({"y": "2"}));
        assert_eq!((next["apiVersion"].as_str(), next["kind"].as_str()), (Some("v1"), Some("Pod")));
    }
}
