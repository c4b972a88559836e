//! Compatibility: kube-rs, a real third-party client (list, watch, patch, conflicts, pagination).

mod common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, VersionMatch, WatchEvent, WatchParams};

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"batch": "one"}},
        "data": {"v": value},
    }))
    .expect("configmap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_paginate_and_select() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    for i in 0..25 {
        api.create(&PostParams::default(), &cm(&format!("c{i:02}"), "x")).await.expect("create");
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(10);
    loop {
        let page = api.list(&lp).await.expect("list page");
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names.len(), 25);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "pages overlapped");
    let selected =
        api.list(&ListParams::default().labels("batch=one").fields("metadata.name=c03")).await.expect("select");
    assert_eq!(selected.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimistic_concurrency() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    let created = api.create(&PostParams::default(), &cm("occ", "1")).await.expect("create");
    let mut first = created.clone();
    first.data = Some([("v".to_string(), "2".to_string())].into());
    api.replace("occ", &PostParams::default(), &first).await.expect("first update");
    let mut stale = created;
    stale.data = Some([("v".to_string(), "3".to_string())].into());
    let err = api.replace("occ", &PostParams::default(), &stale).await.expect_err("stale update must fail");
    match err {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("unexpected error {other}"),
    }
    let patched = api
        .patch("occ", &PatchParams::default(), &Patch::Merge(serde_json::json!({"data": {"w": "9"}})))
        .await
        .expect("merge patch");
    assert_eq!(patched.data.expect("data").get("w").map(String::as_str), Some("9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_from_resource_version() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    let rv = api.list(&ListParams::default()).await.expect("list").metadata.resource_version.expect("rv");
    let mut stream = api.watch(&WatchParams::default().timeout(10), &rv).await.expect("watch").boxed();
    api.create(&PostParams::default(), &cm("w1", "a")).await.expect("create");
    api.patch("w1", &PatchParams::default(), &Patch::Merge(serde_json::json!({"data": {"v": "b"}})))
        .await
        .expect("patch");
    api.delete("w1", &Default::default()).await.expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream.try_next().await.expect("watch event") {
            Some(WatchEvent::Added(c)) => seen.push(("ADDED", c.metadata.name)),
            Some(WatchEvent::Modified(c)) => seen.push(("MODIFIED", c.metadata.name)),
            Some(WatchEvent::Deleted(c)) => seen.push(("DELETED", c.metadata.name)),
            Some(WatchEvent::Bookmark(_)) => {}
            Some(WatchEvent::Error(e)) => panic!("watch error {e:?}"),
            None => break,
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_at_an_exact_resource_version() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    let first = api.create(&PostParams::default(), &cm("snap", "old")).await.expect("create");
    let rv = first.metadata.resource_version.expect("rv");
    api.patch("snap", &PatchParams::default(), &Patch::Merge(serde_json::json!({"data": {"v": "new"}})))
        .await
        .expect("patch");
    api.create(&PostParams::default(), &cm("later", "x")).await.expect("create");
    let then = api.list(&ListParams::default().at(&rv).matching(VersionMatch::Exact)).await.expect("exact list");
    assert_eq!(then.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let names: Vec<_> = then.items.iter().filter_map(|c| c.metadata.name.as_deref()).collect();
    assert_eq!(names, ["snap"]);
    assert_eq!(then.items[0].data.as_ref().and_then(|d| d.get("v")).map(String::as_str), Some("old"));
    let now = api.list(&ListParams::default().at(&rv).matching(VersionMatch::NotOlderThan)).await.expect("list");
    assert_eq!(now.items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runtime_watcher_sees_objects() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    api.create(&PostParams::default(), &cm("seen", "a")).await.expect("create");
    let stream = kube::runtime::watcher(api.clone(), Default::default());
    let found = kube::runtime::WatchStreamExt::applied_objects(stream)
        .try_filter(|c| futures::future::ready(c.metadata.name.as_deref() == Some("seen")))
        .boxed()
        .try_next()
        .await
        .expect("watcher");
    assert!(found.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bound_pods_are_deleted_gracefully() {
    use k8s_openapi::api::core::v1::Pod;
    let t = common::start().await;
    let pods: Api<Pod> = Api::namespaced(t.client().await, "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bound"},
        "spec": {"nodeName": "host-1", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create");
    pods.delete("bound", &Default::default()).await.expect("delete");
    let deleting = pods.get("bound").await.expect("still there while its node stops it");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(30));
    // The node agent confirms with a zero grace period.
    pods.delete("bound", &kube::api::DeleteParams::default().grace_period(0)).await.expect("confirm");
    assert!(pods.get_opt("bound").await.expect("get").is_none());

    // Namespaced objects cannot be written outside a namespace.
    let all: Api<Pod> = Api::all(t.client().await);
    assert!(all.list(&ListParams::default()).await.is_ok(), "listing across namespaces works");
    let err = all.create(&PostParams::default(), &pod).await.expect_err("no namespace");
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_bookmarks_and_generated_names() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    let generated: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"generateName": "gen-"}})).expect("configmap");
    let a = api.create(&PostParams::default(), &generated).await.expect("create a");
    let b = api.create(&PostParams::default(), &generated).await.expect("create b");
    let (na, nb) = (a.metadata.name.expect("name"), b.metadata.name.expect("name"));
    assert!(na.starts_with("gen-") && na.len() == 9 && na != nb, "{na} {nb}");

    let rv = a.metadata.resource_version.expect("rv");
    // kube-rs asks for bookmarks by default (allowWatchBookmarks=true).
    let mut stream = api.watch(&WatchParams::default().timeout(10), &rv).await.expect("watch").boxed();
    let mut bookmark = None;
    while let Some(ev) = stream.try_next().await.expect("event") {
        if let WatchEvent::Bookmark(b) = ev {
            bookmark = Some(b.metadata.resource_version);
            break;
        }
    }
    let bookmark = bookmark.expect("a bookmark arrives before the watch times out");
    let at: i64 = bookmark.parse().expect("numeric resourceVersion");
    assert!(at >= rv.parse::<i64>().expect("numeric"), "bookmark {at} is older than the watch start {rv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_only_lists_and_watches() {
    let t = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
    api.create(&PostParams::default(), &cm("meta-a", "big value")).await.expect("create");
    let list = api.list_metadata(&ListParams::default()).await.expect("metadata list");
    assert!(list.items.iter().any(|m| m.metadata.name.as_deref() == Some("meta-a")));
    let meta_api: Api<kube::core::PartialObjectMeta<ConfigMap>> = Api::namespaced(t.client().await, "default");
    let stream = kube::runtime::watcher(meta_api, Default::default());
    let found = kube::runtime::WatchStreamExt::applied_objects(stream)
        .try_filter(|m| futures::future::ready(m.metadata.name.as_deref() == Some("meta-a")))
        .boxed()
        .try_next()
        .await
        .expect("metadata watcher");
    assert!(found.is_some());
}
