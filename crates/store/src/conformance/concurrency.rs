//! Conformance cases under concurrent writers: CAS contention, distinct keys, and watchers
//! that start while writes are in flight (the replay-to-live boundary).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{b, next_event, prefix, put};
use crate::{Precondition, Revision, Store, StoreError, WatchStream};

const CAS_TASKS: usize = 20;
const CAS_INCREMENTS: usize = 50;

pub async fn concurrent_cas_increments<S: Store>(store: S) {
    let store = Arc::new(store);
    put(&*store, "/counter", "0").await;
    let mut tasks = JoinSet::new();
    for _ in 0..CAS_TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut revisions = Vec::new();
            for _ in 0..CAS_INCREMENTS {
                loop {
                    let kv = store.get("/counter").await.expect("get").expect("counter exists");
                    let count: u64 = std::str::from_utf8(&kv.value).expect("utf8").parse().expect("a number");
                    let next = b(&(count + 1).to_string());
                    match store.put("/counter", next, Precondition::ModRevision(kv.mod_revision)).await {
                        Ok(kv) => {
                            revisions.push(kv.mod_revision);
                            break;
                        }
                        Err(StoreError::Conflict { current, .. }) => {
                            assert!(current > kv.mod_revision)
                        }
                        Err(e) => panic!("increment: {e}"),
                    }
                }
            }
            revisions
        });
    }
    let mut revisions = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        for revision in done.expect("increment task") {
            assert!(revisions.insert(revision), "revision {revision} acknowledged twice");
        }
    }
    let total = CAS_TASKS * CAS_INCREMENTS;
    let counter = store.get("/counter").await.expect("get").expect("counter exists");
    assert_eq!(counter.value, b(&total.to_string()));
    assert_eq!(revisions.len(), total);
}

pub async fn concurrent_distinct_keys<S: Store>(store: S) {
    let store = Arc::new(store);
    let mut tasks = JoinSet::new();
    for task in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut written = Vec::new();
            for i in 0..50 {
                let key = format!("/dk/{task:02}/{i:02}");
                written.push(put(&*store, &key, &key).await);
            }
            written
        });
    }
    let mut revisions = BTreeSet::new();
    let mut count = 0;
    while let Some(done) = tasks.join_next().await {
        for kv in done.expect("writer task") {
            assert!(revisions.insert(kv.mod_revision), "revision {} acknowledged twice", kv.mod_revision);
            assert_eq!(store.get(&kv.key).await, Ok(Some(kv)));
            count += 1;
        }
    }
    let listed = store.list(prefix("/dk/")).await.expect("list");
    assert_eq!(listed.items.len(), count);
    assert_eq!(revisions.last().copied(), Some(store.current_revision()));
}

/// Watchers started before, during and after a burst of concurrent writes each see every
/// revision after their start exactly once and in order.
pub async fn watchers_see_every_revision<S: Store>(store: S) {
    const WRITERS: usize = 8;
    const WRITES: usize = 50;
    const MAX_WATCHERS: usize = 200;
    let store = Arc::new(store);
    let start = store.current_revision();
    let mut watchers: Vec<(Revision, WatchStream)> = vec![(start, store.watch("/ev/", start).await.expect("watch"))];

    let mut writers = JoinSet::new();
    for task in 0..WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..WRITES {
                let key = format!("/ev/{task}/{}", i % 5);
                if i % 7 == 6 {
                    store.delete(&key, Precondition::None).await.expect("delete");
                } else {
                    put(&*store, &key, &i.to_string()).await;
                }
            }
        });
    }
    while !writers.is_empty() {
        // Start watchers at the newest revision and at slightly older ones, mid-burst.
        if watchers.len() < MAX_WATCHERS {
            let now = store.current_revision();
            for after in [now, (now - 3).max(start)] {
                watchers.push((after, store.watch("/ev/", after).await.expect("watch mid-burst")));
            }
        }
        tokio::select! {
            done = writers.join_next() => done.expect("a writer").expect("writer task"),
            () = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    let end = store.current_revision();
    assert_eq!(end - start, (WRITERS * WRITES) as Revision, "every write took one revision");
    for (after, mut watch) in watchers {
        for expected in after + 1..=end {
            let event = next_event(&mut watch).await;
            assert_eq!(event.revision, expected, "watcher from {after}");
        }
    }
}
