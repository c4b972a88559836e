//! [`LeanPod`]: a pod decoded without `metadata.managedFields`; [`PodOutline`]: without its
//! containers and volumes either.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kube::runtime::watcher;
use serde::{Deserialize, Deserializer};

/// A [`Pod`] whose `metadata.managedFields` were skipped while decoding (always `None`); every
/// other field is decoded as `Pod` decodes it. Dereferences to the `Pod`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeanPod(pub Pod);

impl Deref for LeanPod {
    type Target = Pod;

    fn deref(&self) -> &Pod {
        &self.0
    }
}

impl DerefMut for LeanPod {
    fn deref_mut(&mut self) -> &mut Pod {
        &mut self.0
    }
}

impl From<LeanPod> for Pod {
    fn from(p: LeanPod) -> Pod {
        p.0
    }
}

/// `ObjectMeta` less `managedFields`: serde skips that key without building anything.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeanMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<LeanMeta> for ObjectMeta {
    fn from(m: LeanMeta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

#[derive(Deserialize)]
struct Body {
    metadata: Option<LeanMeta>,
    spec: Option<PodSpec>,
    status: Option<PodStatus>,
}

impl<'de> Deserialize<'de> for LeanPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = Body::deserialize(d)?;
        Ok(LeanPod(Pod { metadata: b.metadata.map(Into::into).unwrap_or_default(), spec: b.spec, status: b.status }))
    }
}

/// A [`Pod`] decoded for where it runs and how it does: its metadata (less managedFields), its
/// status, and of its spec only `nodeName`. For watchers that never look at containers or
/// volumes (the ReplicaSet controller's pod cache, the placement benchmark), which are most of
/// a pod's JSON. Dereferences to the `Pod`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodOutline(pub Pod);

#[derive(Deserialize)]
struct OutlineBody {
    metadata: Option<LeanMeta>,
    spec: Option<OutlineSpec>,
    status: Option<PodStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutlineSpec {
    node_name: Option<String>,
}

impl<'de> Deserialize<'de> for PodOutline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = OutlineBody::deserialize(d)?;
        let spec = b.spec.map(|s| PodSpec { node_name: s.node_name, ..PodSpec::default() });
        Ok(PodOutline(Pod { metadata: b.metadata.map(Into::into).unwrap_or_default(), spec, status: b.status }))
    }
}

impl Deref for PodOutline {
    type Target = Pod;

    fn deref(&self) -> &Pod {
        &self.0
    }
}

/// kube-rs sees both as pods.
macro_rules! pod_resource {
    ($t:ty) => {
        impl Resource for $t {
            type DynamicType = ();
            type Scope = <Pod as Resource>::Scope;

            fn kind(dt: &()) -> Cow<'_, str> {
                <Pod as Resource>::kind(dt)
            }

            fn group(dt: &()) -> Cow<'_, str> {
                <Pod as Resource>::group(dt)
            }

            fn version(dt: &()) -> Cow<'_, str> {
                <Pod as Resource>::version(dt)
            }

            fn plural(dt: &()) -> Cow<'_, str> {
                <Pod as Resource>::plural(dt)
            }

            fn meta(&self) -> &ObjectMeta {
                &self.0.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.0.metadata
            }
        }
    };
}

pod_resource!(LeanPod);
pod_resource!(PodOutline);

/// Decodings of pods that kube-rs can watch and that become [`Pod`]s.
pub trait PodDecoding: Resource + Into<Pod> {}

impl PodDecoding for LeanPod {}
impl PodDecoding for PodOutline {}

impl From<PodOutline> for Pod {
    fn from(p: PodOutline) -> Pod {
        p.0
    }
}

/// A watch event of lean pods or outlines as one of [`Pod`]s, for code that keeps `Pod`s.
pub fn into_pods<P: PodDecoding>(event: watcher::Event<P>) -> watcher::Event<Pod> {
    match event {
        watcher::Event::Apply(p) => watcher::Event::Apply(p.into()),
        watcher::Event::Delete(p) => watcher::Event::Delete(p.into()),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(p) => watcher::Event::InitApply(p.into()),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-1", "namespace": "ns", "uid": "u-1", "resourceVersion": "42", "generation": 2,
                "generateName": "web-", "labels": {"app": "web"}, "annotations": {"a": "b"},
                "finalizers": ["f"], "creationTimestamp": "2026-01-02T03:04:05Z",
                "deletionTimestamp": "2026-01-02T03:04:06Z", "deletionGracePeriodSeconds": 30,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "rs-1", "controller": true}],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}}],
            },
            "spec": {"nodeName": "h1", "containers": [{"name": "app", "image": "busybox",
                "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.2",
                "conditions": [{"type": "Ready", "status": "True"}]},
        })
    }

    #[test]
    fn decodes_everything_but_managed_fields() {
        let lean: LeanPod = serde_json::from_value(full()).expect("a pod");
        let mut want: Pod = serde_json::from_value(full()).expect("a pod");
        assert!(want.metadata.managed_fields.take().is_some());
        assert_eq!(lean.0, want);
    }

    #[test]
    fn keeps_kube_resource_identity() {
        assert_eq!(LeanPod::kind(&()), "Pod");
        assert_eq!(LeanPod::url_path(&(), Some("ns")), Pod::url_path(&(), Some("ns")));
        let lean: LeanPod = serde_json::from_value(full()).expect("a pod");
        assert_eq!(lean.meta().resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn an_outline_keeps_metadata_status_and_the_node() {
        let outline: PodOutline = serde_json::from_value(full()).expect("a pod");
        let lean: LeanPod = serde_json::from_value(full()).expect("a pod");
        assert_eq!(outline.metadata, lean.metadata);
        assert_eq!(outline.status, lean.status);
        let spec = outline.spec.as_ref().expect("a spec");
        assert_eq!(spec.node_name.as_deref(), Some("h1"));
        assert!(spec.containers.is_empty(), "containers are not decoded");
        assert_eq!(PodOutline::url_path(&(), None), Pod::url_path(&(), None));
    }

    #[test]
    fn rejects_what_pod_rejects() {
        let mut bad = full();
        bad["spec"]["containers"] = json!("not a list");
        assert!(serde_json::from_value::<LeanPod>(bad.clone()).is_err());
        assert!(serde_json::from_value::<Pod>(bad).is_err());
    }
}
