//! Conformance cases for watches: replay from the past, live delivery, prefixes and events.

use super::{assert_quiet, delete, next_event, put};
use crate::{Event, EventKind, KeyValue, Store};

pub async fn watch_replays_then_live<S: Store>(store: S) {
    let r0 = store.current_revision();
    let a = put(&store, "/w/a", "1").await;
    let b = put(&store, "/w/b", "1").await;
    put(&store, "/other", "1").await;
    let a_deleted = delete(&store, "/w/a").await;

    let mut from_start = store.watch("/w/", r0).await.expect("watch from r0");
    let mut from_b = store.watch("/w/", b.mod_revision).await.expect("watch from b");
    let event = next_event(&mut from_start).await;
    assert_eq!((event.kind, event.revision, event.kv.clone(), event.prev), (EventKind::Put, a.mod_revision, a, None));
    let event = next_event(&mut from_start).await;
    assert_eq!((event.kind, event.revision, event.kv), (EventKind::Put, b.mod_revision, b));
    for watch in [&mut from_start, &mut from_b] {
        let event = next_event(watch).await;
        assert_eq!((event.kind, event.revision), (EventKind::Delete, a_deleted.mod_revision));
    }

    let c = put(&store, "/w/c", "1").await;
    for watch in [&mut from_start, &mut from_b] {
        let event = next_event(watch).await;
        assert_eq!((event.kind, event.revision, &event.kv), (EventKind::Put, c.mod_revision, &c));
        assert_quiet(watch).await;
    }
}

pub async fn watch_prefix_isolation<S: Store>(store: S) {
    let mut watch = store.watch("/a/", store.current_revision()).await.expect("watch");
    for key in ["/ab/1", "/a/1", "/b/1", "/a", "/a/2"] {
        put(&store, key, "v").await;
    }
    assert_eq!(next_event(&mut watch).await.kv.key, "/a/1");
    assert_eq!(next_event(&mut watch).await.kv.key, "/a/2");
    assert_quiet(&mut watch).await;
}

pub async fn delete_event_carries_prev<S: Store>(store: S) {
    let v1 = put(&store, "/d", "v1").await;
    let v2 = put(&store, "/d", "v2").await;
    let deleted = delete(&store, "/d").await;

    let mut watch = store.watch("/d", v1.mod_revision).await.expect("watch");
    let update = next_event(&mut watch).await;
    assert_eq!(
        update,
        Event { kind: EventKind::Put, revision: v2.mod_revision, kv: v2.clone(), prev: Some(v1.clone()) }
    );
    let delete_event = next_event(&mut watch).await;
    let expected_kv = KeyValue { mod_revision: deleted.mod_revision, ..v2.clone() };
    assert_eq!(
        delete_event,
        Event { kind: EventKind::Delete, revision: deleted.mod_revision, kv: expected_kv.clone(), prev: Some(v2) }
    );
    assert_eq!(deleted, expected_kv, "delete returns what the event reports");
}

pub async fn watch_future_revision<S: Store>(store: S) {
    let current = store.current_revision();
    let mut watch = store.watch("/fut/", current + 2).await.expect("watch from a future revision");
    put(&store, "/fut/1", "1").await;
    put(&store, "/fut/2", "2").await;
    let third = put(&store, "/fut/3", "3").await;
    assert_eq!(next_event(&mut watch).await.kv, third);
    assert_quiet(&mut watch).await;
}
