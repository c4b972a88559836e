//! The resource registry: every kind the server serves, built-in or from a CRD.
//!
//! Owns the mapping between URL segments (group, version, plural), kinds, storage keys and
//! per-kind behaviour (namespaced or not, subresources, how to validate, how to print a Table).
//! Does not own: storage or HTTP.

mod builtin;
mod crd;
mod same_value;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use builtin::builtin_resources;
pub use crd::{resources_from_crd, version_priority};

/// How objects of a kind are checked and normalised before they are stored.
#[derive(Clone)]
pub enum Validation {
    /// A built-in kind: decoded into its k8s-openapi type (so its full upstream shape is enforced)
    /// and re-encoded, which also drops unknown fields (`normalize` gives `None` for an object
    /// that re-encodes to itself); `schema` names its OpenAPI component.
    Builtin {
        normalize: fn(&serde_json::Value) -> Result<Option<serde_json::Value>, String>,
        schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
        schema_name: fn() -> std::borrow::Cow<'static, str>,
    },
    /// A custom kind: an OpenAPI v3 structural schema per version (`None` = accept anything).
    Custom { schema: Option<serde_json::Value> },
}

/// A printer column, as in a CRD's `additionalPrinterColumns`.
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// A simple JSONPath such as `.spec.replicas` (for built-ins: a computed column, see `table`).
    pub json_path: String,
}

/// Paths of the scale subresource (CRDs configure them; Deployment/ReplicaSet have fixed ones).
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served group/version/resource.
#[derive(Clone)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Whether strategic merge patch is supported (built-ins only, as upstream).
    pub strategic_merge: bool,
    /// The version objects are stored in; reads of other versions are converted.
    pub storage_version: String,
    pub validation: Validation,
    pub columns: Vec<PrinterColumn>,
    /// Custom resources: the CRD's name, so deleting the CRD deletes its objects.
    pub crd: Option<String>,
    /// Computed on create and never stored (the access and identity reviews).
    pub review: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The key prefix all objects of this resource share (every version shares one prefix).
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() { "core" } else { &self.group };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The key prefix for one namespace (or all objects when `namespace` is `None`).
    pub fn scope_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// `deployments.apps`, `pods`: how error messages name the resource.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }
}

/// All resources served right now. Cheap to clone; CRD changes swap entries in place.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<Inner>>,
    /// Bumped on every change, so derived documents (OpenAPI) know when to rebuild.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Default)]
struct Inner {
    /// (group, version, plural) -> resource.
    by_gvr: BTreeMap<(String, String, String), Arc<Resource>>,
    /// Group order as first registered, so discovery lists core groups first.
    group_order: Vec<String>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let reg = Self::default();
        for r in builtin_resources() {
            reg.insert(r);
        }
        reg
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn insert(&self, r: Resource) {
        self.bump();
        let mut inner = self.inner.write().expect("registry lock poisoned");
        if !inner.group_order.contains(&r.group) {
            inner.group_order.push(r.group.clone());
        }
        inner.by_gvr.insert((r.group.clone(), r.version.clone(), r.plural.clone()), Arc::new(r));
    }

    /// Serves exactly `resources` for a CRD, swapped in under one lock so no request sees the
    /// kind missing while its definition is re-read.
    pub fn replace_crd(&self, crd_name: &str, resources: Vec<Resource>) {
        self.bump();
        let mut inner = self.inner.write().expect("registry lock poisoned");
        inner.by_gvr.retain(|_, r| r.crd.as_deref() != Some(crd_name));
        for r in resources {
            if !inner.group_order.contains(&r.group) {
                inner.group_order.push(r.group.clone());
            }
            inner.by_gvr.insert((r.group.clone(), r.version.clone(), r.plural.clone()), Arc::new(r));
        }
        let groups: Vec<String> = inner.by_gvr.values().map(|r| r.group.clone()).collect();
        inner.group_order.retain(|g| groups.contains(g));
    }

    /// Removes every version served for a CRD.
    pub fn remove_crd(&self, crd_name: &str) {
        self.bump();
        let mut inner = self.inner.write().expect("registry lock poisoned");
        inner.by_gvr.retain(|_, r| r.crd.as_deref() != Some(crd_name));
        let groups: Vec<String> = inner.by_gvr.values().map(|r| r.group.clone()).collect();
        inner.group_order.retain(|g| groups.contains(g));
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        let inner = self.inner.read().expect("registry lock poisoned");
        inner.by_gvr.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// Every resource, groups in registration order, versions and plurals sorted.
    pub fn all(&self) -> Vec<Arc<Resource>> {
        let inner = self.inner.read().expect("registry lock poisoned");
        let mut out = Vec::new();
        for g in &inner.group_order {
            out.extend(inner.by_gvr.values().filter(|r| &r.group == g).cloned());
        }
        out
    }

    /// One entry per stored resource (group + plural), at its storage version.
    pub fn storage_resources(&self) -> Vec<Arc<Resource>> {
        self.all().into_iter().filter(|r| r.version == r.storage_version && !r.review).collect()
    }
}
