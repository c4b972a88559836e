//! The pod informer of the ReplicaSet controller: one watch of every pod feeding a cache (a
//! `kube::runtime::reflector` store), settling [expectations](super::expectations) after the
//! cache has the change, and turning each change into the ReplicaSets to reconcile (the
//! controlling one, or for an orphan every ReplicaSet in its namespace whose selector matches).

use std::sync::Arc;
use std::time::Duration;

use canopy_client::{PodOutline, into_pods};
use futures::{Stream, StreamExt, TryStreamExt, future};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use super::expectations::{Expectations, Key};
use crate::owners::controller_ref;

/// Starts watching pods (lazily: the returned stream drives the watch). Every event is delayed
/// by `lag` before the cache sees it (zero in production; tests use it to play a slow watch).
pub fn pods(
    client: kube::Client,
    expectations: Arc<Expectations>,
    replicasets: Store<ReplicaSet>,
    lag: Duration,
) -> (Store<Pod>, impl Stream<Item = ObjectRef<ReplicaSet>> + Send + 'static) {
    let (cache, writer) = reflector::store();
    // Outlines: the controller reads pods' metadata, status and node, never their containers or
    // managedFields (most of a pod), and its cache holds every pod.
    let events =
        watcher(Api::<PodOutline>::all(client), watcher::Config::default()).default_backoff().map_ok(into_pods);
    let events = if lag.is_zero() {
        events.boxed()
    } else {
        // Each event is held for `lag` from its arrival, in order (`buffered` keeps reading).
        events
            .map(move |e| async move {
                tokio::time::sleep(lag).await;
                e
            })
            .buffered(4096)
            .boxed()
    };
    let reader = cache.clone();
    let triggers = reflector::reflector(writer, events)
        .filter_map(|e| {
            future::ready(match e {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::debug!(controller = "replicaset", error = %crate::describe(&e), "pod watch error; retrying");
                    None
                }
            })
        })
        .flat_map(move |event| futures::stream::iter(affected(&event, &expectations, &replicasets, &reader)));
    (cache, triggers)
}

/// The ReplicaSet controlling `pod`, as an expectations key.
pub fn owner_key(pod: &Pod) -> Option<Key> {
    let owner = controller_ref(&pod.metadata).filter(|r| r.kind == "ReplicaSet" && r.api_version == "apps/v1")?;
    Some((pod.namespace().unwrap_or_default(), owner.name.clone()))
}

/// Settles expectations for one watch event (the cache already has it) and names the
/// ReplicaSets to reconcile.
fn affected(
    event: &watcher::Event<Pod>,
    expectations: &Expectations,
    replicasets: &Store<ReplicaSet>,
    cache: &Store<Pod>,
) -> Vec<ObjectRef<ReplicaSet>> {
    let to_ref = |(ns, name): Key| ObjectRef::new(&name).within(&ns);
    match event {
        watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => match owner_key(pod) {
            Some(key) => {
                let name = pod.name_any();
                expectations.creation_observed(&key, &name);
                if pod.metadata.deletion_timestamp.is_some() {
                    // Upstream counts a pod being deleted as deleted: it is not active anymore.
                    expectations.deletion_observed(&key, &name);
                }
                vec![to_ref(key)]
            }
            None if pod.metadata.deletion_timestamp.is_none() => matching_replicasets(pod, replicasets),
            None => Vec::new(),
        },
        watcher::Event::Delete(pod) => match owner_key(pod) {
            Some(key) => {
                expectations.deletion_observed(&key, &pod.name_any());
                vec![to_ref(key)]
            }
            None => Vec::new(),
        },
        watcher::Event::InitDone => {
            let present = |ns: &str, name: &str| {
                cache.get(&ObjectRef::new(name).within(ns)).is_some_and(|p| p.metadata.deletion_timestamp.is_none())
            };
            expectations.settle(present).into_iter().map(to_ref).collect()
        }
        watcher::Event::Init => Vec::new(),
    }
}

/// Every ReplicaSet in the orphan's namespace whose selector matches it (candidates to adopt it).
fn matching_replicasets(pod: &Pod, replicasets: &Store<ReplicaSet>) -> Vec<ObjectRef<ReplicaSet>> {
    let labels = pod.labels();
    replicasets
        .state()
        .iter()
        .filter(|rs| rs.namespace() == pod.namespace())
        .filter(|rs| {
            let selector = rs.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
            Selector::try_from(selector).is_ok_and(|s| !s.selects_all() && s.matches(labels))
        })
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

/// The cached pods of one namespace.
pub fn pods_in(cache: &Store<Pod>, namespace: &str) -> Vec<Arc<Pod>> {
    cache.state().into_iter().filter(|p| p.meta().namespace.as_deref() == Some(namespace)).collect()
}
