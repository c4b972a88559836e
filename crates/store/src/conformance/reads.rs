//! Conformance cases for range reads: prefixes, pagination, old revisions and compaction.

use std::collections::BTreeSet;

use super::{b, delete, keys, next_event, prefix, put};
use crate::{KeyValue, ListOptions, Store, StoreError};

pub async fn list_prefix_isolation<S: Store>(store: S) {
    for key in ["/a/1", "/ab/1", "/a", "/a/2", "/b/1", "/a/sub/3"] {
        put(&store, key, key).await;
    }
    assert_eq!(keys(&store, prefix("/a/")).await, ["/a/1", "/a/2", "/a/sub/3"]);
    assert_eq!(keys(&store, prefix("/ab/")).await, ["/ab/1"]);
    assert_eq!(keys(&store, prefix("/c/")).await, Vec::<String>::new());
    assert_eq!(keys(&store, prefix("")).await, ["/a", "/a/1", "/a/2", "/a/sub/3", "/ab/1", "/b/1"]);
    let result = store.list(prefix("/a/")).await.expect("list");
    assert_eq!(result.revision, store.current_revision());
    assert!(!result.more);
    assert_eq!(result.items[0].value, b("/a/1"));
}

pub async fn list_pagination<S: Store>(store: S) {
    for key in ["/o/x", "/p", "/q/x"] {
        put(&store, key, "decoy").await;
    }
    let expected: Vec<String> = (0..25).map(|i| format!("/p/{i:02}")).collect();
    for key in &expected {
        put(&store, key, key).await;
    }
    for limit in [1, 5, 7, 25, 100] {
        let mut seen = Vec::new();
        let mut start_after = None;
        let mut pinned = None;
        loop {
            let opts = ListOptions {
                prefix: "/p/".into(),
                start_after: start_after.clone(),
                limit: Some(limit),
                revision: pinned,
            };
            let page = store.list(opts).await.expect("list page");
            assert!(page.items.len() <= limit);
            seen.extend(page.items.iter().map(|kv| kv.key.clone()));
            assert_eq!(page.more, seen.len() < expected.len(), "`more` with limit {limit} after {}", seen.len());
            if pinned.is_none() {
                pinned = Some(page.revision);
                // Later pages read the first page's revision: newer writes stay invisible.
                put(&store, "/p/00a", "late").await;
                delete(&store, "/p/24").await;
                put(&store, "/p/24", "back").await;
            }
            assert_eq!(Some(page.revision), pinned);
            if !page.more {
                break;
            }
            start_after = page.items.last().map(|kv| kv.key.clone());
        }
        assert_eq!(seen, expected, "pages with limit {limit}");
        delete(&store, "/p/00a").await;
    }
}

pub async fn list_at_old_revision<S: Store>(store: S) {
    let r0 = store.current_revision();
    let a1 = put(&store, "/h/a", "a1").await;
    let b1 = put(&store, "/h/b", "b1").await;
    let a2 = put(&store, "/h/a", "a2").await;
    let b_deleted = delete(&store, "/h/b").await;
    let c1 = put(&store, "/h/c", "c1").await;
    put(&store, "/hx", "outside").await;

    let at = |revision| ListOptions { prefix: "/h/".into(), revision: Some(revision), ..ListOptions::default() };
    let items = |kvs: &[&KeyValue]| kvs.iter().map(|kv| (*kv).clone()).collect::<Vec<_>>();
    let list = |opts: ListOptions| {
        let store = &store;
        async move { store.list(opts).await.expect("list at revision") }
    };
    assert_eq!(list(at(r0)).await.items, []);
    assert_eq!(list(at(a1.mod_revision)).await.items, items(&[&a1]));
    assert_eq!(list(at(b1.mod_revision)).await.items, items(&[&a1, &b1]));
    assert_eq!(list(at(a2.mod_revision)).await.items, items(&[&a2, &b1]));
    assert_eq!(list(at(b_deleted.mod_revision)).await.items, items(&[&a2]));
    let latest = list(at(c1.mod_revision)).await;
    assert_eq!(latest.items, items(&[&a2, &c1]));
    assert_eq!(latest.revision, c1.mod_revision);

    let page = list(ListOptions { limit: Some(1), ..at(b1.mod_revision) }).await;
    assert_eq!((page.items, page.more), (items(&[&a1]), true));
    let page = list(ListOptions { start_after: Some("/h/a".into()), ..at(b1.mod_revision) }).await;
    assert_eq!((page.items, page.more), (items(&[&b1]), false));
}

pub async fn list_future_revision<S: Store>(store: S) {
    put(&store, "/f", "1").await;
    let current = store.current_revision();
    let opts = ListOptions { revision: Some(current + 1), ..ListOptions::default() };
    assert_eq!(store.list(opts).await, Err(StoreError::FutureRevision { requested: current + 1, current }));
}

pub async fn compaction<S: Store>(store: S) {
    let mut revisions = Vec::new();
    for i in 0..5 {
        revisions.push(put(&store, &format!("/cp/{i}"), "v").await.mod_revision);
    }
    let (r2, r3) = (revisions[1], revisions[2]);
    store.compact(r3).await.expect("compact");
    assert_eq!(store.compacted_revision(), r3);

    let at = |revision| ListOptions { prefix: "/cp/".into(), revision: Some(revision), ..ListOptions::default() };
    assert_eq!(store.list(at(r2)).await, Err(StoreError::Compacted { requested: r2, compacted: r3 }));
    let oldest = store.list(at(r3)).await.expect("the compacted revision itself stays readable");
    assert_eq!(oldest.items.len(), 3);
    match store.watch("/cp/", r2).await {
        Err(StoreError::Compacted { requested, compacted }) => assert_eq!((requested, compacted), (r2, r3)),
        Err(e) => panic!("watch from a compacted revision: {e}"),
        Ok(_) => panic!("watch from a compacted revision must fail"),
    }
    let mut watch = store.watch("/cp/", r3).await.expect("watch from the compacted revision");
    assert_eq!(next_event(&mut watch).await.revision, revisions[3]);
    assert_eq!(next_event(&mut watch).await.revision, revisions[4]);

    store.compact(r2).await.expect("compacting an older revision does nothing");
    assert_eq!(store.compacted_revision(), r3);
    let current = store.current_revision();
    assert_eq!(store.compact(current + 1).await, Err(StoreError::FutureRevision { requested: current + 1, current }));
    store.compact(current).await.expect("compact everything");
    let all: BTreeSet<String> = keys(&store, at(current)).await.into_iter().collect();
    assert_eq!(all.len(), 5, "the latest state survives compaction");
}
