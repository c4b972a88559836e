//! The ReplicaSet controller against a real API server: it keeps `replicas` active pods,
//! replaces deleted and Failed ones, never overshoots under a lagging watch, adopts orphans,
//! releases pods that stop matching, and reports its status.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::eventually;
use common::workloads::{self, Options, Workloads};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }))
    .expect("replicaset")
}

async fn create(env: &Workloads, rs: &ReplicaSet) -> ReplicaSet {
    env.api::<ReplicaSet>().create(&PostParams::default(), rs).await.expect("replicaset created")
}

async fn wait_active(env: &Workloads, selector: &str, n: usize) -> Vec<Pod> {
    eventually(&format!("{n} active pods for {selector}"), || async {
        let pods = env.active_pods(selector).await;
        (pods.len() == n).then_some(pods)
    })
    .await
}

async fn set_replicas(env: &Workloads, name: &str, n: i32) {
    let patch = json!({"spec": {"replicas": n}});
    env.api::<ReplicaSet>().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("scaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keeps_replicas_replacing_deleted_and_failed_pods() {
    let env = workloads::start(Options::default()).await;
    let rs = create(&env, &replicaset("web", 3)).await;
    let pods = wait_active(&env, "app=web", 3).await;
    for p in &pods {
        let owner = &p.owner_references()[0];
        assert_eq!(
            (owner.uid.as_str(), owner.controller, owner.block_owner_deletion),
            (rs.uid().as_deref().unwrap_or_default(), Some(true), Some(true))
        );
        assert!(p.name_any().starts_with("web-"), "{}", p.name_any());
        assert_eq!(p.labels().get("tier").map(String::as_str), Some("web"));
    }

    // Deleted: replaced.
    let victim = pods[0].name_any();
    env.pods().delete(&victim, &DeleteParams::default()).await.expect("deleted");
    let pods = wait_active(&env, "app=web", 3).await;
    assert!(pods.iter().all(|p| p.name_any() != victim));

    // Failed (as the node lifecycle controller marks them): replaced, the failed pod kept.
    let failed = pods[0].name_any();
    let patch = json!({"status": {"phase": "Failed", "reason": "NodeLost"}});
    env.pods().patch_status(&failed, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("failed");
    eventually("a replacement for the failed pod", || async {
        let active = env.active_pods("app=web").await;
        (active.len() == 3 && active.iter().all(|p| p.name_any() != failed)).then_some(())
    })
    .await;
    assert!(env.pods().get_opt(&failed).await.expect("get").is_some(), "failed pods are not deleted");

    // Ready pods show in the status.
    for p in env.active_pods("app=web").await {
        workloads::set_ready(&env.pods(), &p.name_any()).await.expect("ready");
    }
    eventually("status counts ready pods", || async {
        let rs = env.api::<ReplicaSet>().get("web").await.ok()?;
        let s = rs.status?;
        (s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.fully_labeled_replicas == Some(3)
            && s.observed_generation == rs.metadata.generation)
            .then_some(())
    })
    .await;

    // Scale down keeps ready pods over unready ones.
    set_replicas(&env, "web", 5).await;
    let grown = wait_active(&env, "app=web", 5).await;
    let unready: HashSet<String> =
        grown.iter().filter(|p| !canopy_controllers::pods::is_ready(p)).map(|p| p.name_any()).collect();
    assert_eq!(unready.len(), 2);
    set_replicas(&env, "web", 3).await;
    let kept = wait_active(&env, "app=web", 3).await;
    assert!(kept.iter().all(|p| !unready.contains(&p.name_any())), "the unready pods go first");
    env.shutdown().await;
}

/// Every pod name the server ever announced for `selector`, collected by a watch of our own.
fn record_pods(
    api: Api<Pod>,
    selector: &str,
) -> (std::sync::Arc<std::sync::Mutex<HashSet<String>>>, tokio::task::JoinHandle<()>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let sink = seen.clone();
    let stream = watcher(api, watcher::Config::default().labels(selector)).default_backoff().applied_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(Ok(p)) = stream.next().await {
            sink.lock().expect("lock").insert(p.name_any());
        }
    });
    (seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_overshoots_under_a_lagging_watch() {
    let lag = Duration::from_millis(700);
    let env = workloads::start(Options {
        replicaset: canopy_controllers::replicaset::Config { watch_lag: lag },
        ..Default::default()
    })
    .await;
    let (seen, recorder) = record_pods(env.pods(), "app=slow");
    create(&env, &replicaset("slow", 5)).await;
    // Poke the ReplicaSet while its pod watch lags, so it syncs again and again before the
    // creations are observed; without expectations each sync would create more pods.
    let poke = |i: usize| {
        let api = env.api::<ReplicaSet>();
        async move {
            let patch = json!({"metadata": {"annotations": {"poke": i.to_string()}}});
            api.patch("slow", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("poked");
        }
    };
    for i in 0..20 {
        poke(i).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_active(&env, "app=slow", 5).await;
    // Replacements too: two deleted pods are replaced by exactly two.
    let pods = env.active_pods("app=slow").await;
    for p in &pods[..2] {
        env.pods().delete(&p.name_any(), &DeleteParams::default()).await.expect("deleted");
    }
    for i in 20..40 {
        poke(i).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_active(&env, "app=slow", 5).await;
    // Let any overshoot (which would be seen by now plus a lag) show up.
    tokio::time::sleep(lag * 2).await;
    assert_eq!(env.active_pods("app=slow").await.len(), 5);
    let created = seen.lock().expect("lock").len();
    assert_eq!(created, 7, "5 pods and 2 replacements, never more");
    recorder.abort();
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adopts_orphans_and_releases_pods_that_stop_matching() {
    let env = workloads::start(Options::default()).await;
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
    }))
    .expect("pod");
    env.pods().create(&PostParams::default(), &orphan).await.expect("orphan created");
    let rs = create(&env, &replicaset("adopt", 2)).await;
    let pods = wait_active(&env, "app=adopt", 2).await;
    assert!(pods.iter().any(|p| p.name_any() == "orphan"), "the orphan counts as one of the two");
    let adopted = env.pods().get("orphan").await.expect("orphan");
    assert_eq!(adopted.owner_references().first().map(|r| r.uid.clone()), rs.uid());

    // Relabelled out of the selector: released (ownerReference dropped) and replaced.
    let patch = json!({"metadata": {"labels": {"app": "elsewhere"}}});
    env.pods().patch("orphan", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("relabelled");
    eventually("the stray is released", || async {
        let p = env.pods().get("orphan").await.ok()?;
        p.owner_references().is_empty().then_some(())
    })
    .await;
    let pods = wait_active(&env, "app=adopt", 2).await;
    assert!(pods.iter().all(|p| p.name_any() != "orphan"));
    env.shutdown().await;
}
