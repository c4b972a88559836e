//! The Deployment controller against a real API server and the real kubectl: rolling updates
//! within maxSurge/maxUnavailable at every step, `kubectl rollout status`, history, undo and
//! scale, and the status conditions.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::eventually;
use common::workloads::{self, Options, Workloads};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn deployment(name: &str, replicas: i32, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }))
    .expect("deployment")
}

async fn set_image(env: &Workloads, name: &str, image: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    env.api::<Deployment>().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("image set");
}

/// The Deployment once its status shows the current generation fully rolled out.
async fn complete(env: &Workloads, name: &str, replicas: i32) -> Deployment {
    eventually(&format!("{name} rolled out to {replicas}"), || async {
        let d = env.api::<Deployment>().get(name).await.ok()?;
        let s = d.status.clone()?;
        (s.observed_generation == d.metadata.generation
            && s.updated_replicas == Some(replicas)
            && s.replicas == Some(replicas)
            && s.available_replicas == Some(replicas))
        .then_some(d)
    })
    .await
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String)> {
    let c = d.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_update_stays_within_surge_and_unavailability() {
    let env = workloads::start(Options { deployment: true, kubelet: true, ..Default::default() }).await;
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    env.api::<Deployment>().create(&PostParams::default(), &deployment("web", 4, strategy)).await.expect("created");
    let d = complete(&env, "web", 4).await;
    assert_eq!(condition(&d, "Available"), Some(("True".into(), "MinimumReplicasAvailable".into())));
    assert_eq!(condition(&d, "Progressing"), Some(("True".into(), "NewReplicaSetAvailable".into())));
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("1"));

    // Every ReplicaSet change the server announces, checked against the bounds: at most 4 + 1
    // pods wanted, at least 4 - 1 available.
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let (sink, mut sizes) = (violations.clone(), BTreeMap::<String, (i32, i32)>::new());
    let stream = watcher(env.api::<ReplicaSet>(), watcher::Config::default().labels("app=web")).default_backoff();
    let observer = tokio::spawn(async move {
        // A re-list replays every ReplicaSet one at a time: judge only whole snapshots.
        let mut relisting = BTreeMap::new();
        futures::pin_mut!(stream);
        while let Some(Ok(event)) = stream.next().await {
            let size = |rs: &ReplicaSet| {
                let wanted = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                (wanted, rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0))
            };
            match event {
                watcher::Event::Init => {
                    relisting.clear();
                    continue;
                }
                watcher::Event::InitApply(rs) => {
                    relisting.insert(rs.name_any(), size(&rs));
                    continue;
                }
                watcher::Event::InitDone => sizes = std::mem::take(&mut relisting),
                watcher::Event::Apply(rs) => drop(sizes.insert(rs.name_any(), size(&rs))),
                watcher::Event::Delete(rs) => drop(sizes.remove(&rs.name_any())),
            }
            let total: i32 = sizes.values().map(|v| v.0).sum();
            let up: i32 = sizes.values().map(|v| v.1).sum();
            if total > 5 || up < 3 {
                sink.lock().expect("lock").push(format!("{sizes:?}"));
            }
        }
    });
    set_image(&env, "web", "nginx:2").await;
    let (ok, out) = env.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(ok, "kubectl rollout status: {out}");
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = complete(&env, "web", 4).await;
    observer.abort();
    assert_eq!(violations.lock().expect("lock").as_slice(), &[] as &[String], "steps outside the bounds");
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("2"));

    // Named after the template's hash, which labels the pods and selects them.
    let rss = env.api::<ReplicaSet>().list(&Default::default()).await.expect("list").items;
    let new = rss.iter().find(|rs| rs.spec.as_ref().and_then(|s| s.replicas) == Some(4)).expect("the new ReplicaSet");
    let hash = new.labels().get("pod-template-hash").expect("hash label").clone();
    assert_eq!(new.name_any(), format!("web-{hash}"));
    assert_eq!(new.owner_references()[0].uid, d.uid().unwrap_or_default());
    assert_eq!(env.active_pods(&format!("pod-template-hash={hash}")).await.len(), 4);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_undo_and_scale_work_with_kubectl() {
    let env = workloads::start(Options { deployment: true, kubelet: true, ..Default::default() }).await;
    env.api::<Deployment>()
        .create(&PostParams::default(), &deployment("app", 2, json!({"type": "RollingUpdate"})))
        .await
        .expect("created");
    complete(&env, "app", 2).await;
    set_image(&env, "app", "nginx:2").await;
    let (ok, out) = env.kubectl(&["rollout", "status", "deployment/app", "--timeout=60s"]);
    assert!(ok, "{out}");

    let (ok, history) = env.kubectl(&["rollout", "history", "deployment/app"]);
    assert!(ok && history.contains('1') && history.contains('2'), "{history}");

    let (ok, out) = env.kubectl(&["rollout", "undo", "deployment/app"]);
    assert!(ok, "kubectl rollout undo: {out}");
    let (ok, out) = env.kubectl(&["rollout", "status", "deployment/app", "--timeout=60s"]);
    assert!(ok, "{out}");
    let d = complete(&env, "app", 2).await;
    let image = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("nginx:1".into())));
    // The first ReplicaSet is new again, with the next revision.
    assert_eq!(d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str), Some("3"));
    assert_eq!(env.api::<ReplicaSet>().list(&Default::default()).await.expect("list").items.len(), 2);

    let (ok, out) = env.kubectl(&["scale", "deployment/app", "--replicas=5"]);
    assert!(ok, "kubectl scale: {out}");
    complete(&env, "app", 5).await;
    assert_eq!(env.active_pods("app=app").await.len(), 5);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recreate_stops_the_old_pods_before_starting_new_ones() {
    let env = workloads::start(Options { deployment: true, kubelet: true, ..Default::default() }).await;
    env.api::<Deployment>()
        .create(&PostParams::default(), &deployment("batch", 2, json!({"type": "Recreate"})))
        .await
        .expect("created");
    complete(&env, "batch", 2).await;
    let overlap = Arc::new(Mutex::new(false));
    let (sink, mut sizes) = (overlap.clone(), BTreeMap::<String, i32>::new());
    let stream = watcher(env.api::<ReplicaSet>(), watcher::Config::default().labels("app=batch"))
        .default_backoff()
        .applied_objects();
    let observer = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(Ok(rs)) = stream.next().await {
            sizes.insert(rs.name_any(), rs.status.as_ref().map_or(0, |s| s.replicas));
            if sizes.values().filter(|n| **n > 0).count() > 1 {
                *sink.lock().expect("lock") = true;
            }
        }
    });
    set_image(&env, "batch", "nginx:2").await;
    let d = eventually("the new template rolled out", || async {
        let d = complete(&env, "batch", 2).await;
        (d.annotations().get("deployment.kubernetes.io/revision").map(String::as_str) == Some("2")).then_some(d)
    })
    .await;
    observer.abort();
    assert!(!*overlap.lock().expect("lock"), "old and new pods ran together");
    assert_eq!(condition(&d, "Progressing").map(|c| c.1), Some("NewReplicaSetAvailable".into()));
    env.shutdown().await;
}
