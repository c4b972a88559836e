//! Engine unit tests: batch preparation, the history window, and the watch hub's limits.

use bytes::Bytes;
use futures::StreamExt;

use super::{Engine, WriteOp};
use crate::{ListOptions, Precondition, StoreConfig, StoreError};

fn put(key: &str, value: &str, pre: Precondition) -> WriteOp {
    WriteOp::Put { key: key.into(), value: Bytes::copy_from_slice(value.as_bytes()), pre }
}

#[test]
fn a_batch_checks_each_write_against_the_earlier_ones() {
    let engine = Engine::new(&StoreConfig::default());
    let ops = [
        put("/a", "1", Precondition::MustNotExist),
        put("/a", "2", Precondition::MustNotExist),
        put("/a", "3", Precondition::ModRevision(1)),
        WriteOp::Delete { key: "/b".into(), pre: Precondition::None },
        WriteOp::Delete { key: "/a".into(), pre: Precondition::ModRevision(2) },
        put("/a", "4", Precondition::MustNotExist),
    ];
    let prepared = engine.prepare(&ops);
    let revisions: Vec<_> = prepared.outcomes.iter().map(|o| o.as_ref().map(|kv| kv.mod_revision)).collect();
    assert_eq!(
        revisions,
        [
            Ok(1),
            Err(&StoreError::AlreadyExists { key: "/a".into() }),
            Ok(2),
            Err(&StoreError::NotFound { key: "/b".into() }),
            Ok(3),
            Ok(4),
        ]
    );
    assert_eq!(engine.revision(), 0, "prepare changes nothing");
    engine.apply(prepared.base, prepared.events);
    let kv = engine.get("/a").expect("recreated");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.value.as_ref()), (4, 4, b"4".as_ref()));
    assert_eq!(engine.revision(), 4);
}

#[test]
#[should_panic(expected = "between prepare and apply")]
fn applying_a_stale_batch_panics() {
    let engine = Engine::new(&StoreConfig::default());
    let stale = engine.prepare(&[put("/a", "1", Precondition::None)]);
    engine.write(put("/b", "1", Precondition::None)).expect("write");
    engine.apply(stale.base, stale.events);
}

#[test]
fn dropping_old_history_advances_the_compacted_revision() {
    let engine = Engine::new(&StoreConfig::default().with_history_window(3));
    for i in 0..10 {
        engine.write(put(&format!("/k/{i}"), "v", Precondition::None)).expect("write");
    }
    assert_eq!(engine.compacted(), 7);
    let at = |revision| ListOptions { revision: Some(revision), ..ListOptions::default() };
    assert_eq!(engine.list(&at(6)), Err(StoreError::Compacted { requested: 6, compacted: 7 }));
    assert_eq!(engine.list(&at(7)).expect("oldest readable").items.len(), 7);
    assert!(matches!(engine.watch("", 6), Err(StoreError::Compacted { requested: 6, compacted: 7 })));
    assert!(engine.watch("", 7).is_ok());
}

#[tokio::test]
async fn a_slow_watcher_is_closed_without_blocking_writers() {
    let engine = Engine::new(&StoreConfig::default().with_watch_buffer(4));
    let mut slow = engine.watch("/", 0).expect("watch");
    for i in 0..10 {
        engine.write(put(&format!("/k/{i}"), "v", Precondition::None)).expect("writers never block");
    }
    for revision in 1..=4 {
        let event = slow.next().await.expect("buffered event").expect("not an error yet");
        assert_eq!(event.revision, revision);
    }
    assert_eq!(slow.next().await, Some(Err(StoreError::WatcherTooSlow)));
    assert!(slow.next().await.is_none(), "the stream ends after the error");
    assert_eq!(engine.watcher_count(), 0);
}

#[tokio::test]
async fn watch_streams_end_with_closed_when_the_engine_goes_away() {
    let engine = Engine::new(&StoreConfig::default());
    let mut watch = engine.watch("/", 0).expect("watch");
    drop(engine);
    assert_eq!(watch.next().await, Some(Err(StoreError::Closed)));
    assert!(watch.next().await.is_none());
}

#[test]
fn dropped_watch_streams_are_forgotten() {
    let engine = Engine::new(&StoreConfig::default());
    let kept = engine.watch("/a/", 0).expect("watch");
    drop(engine.watch("/b/", 0).expect("watch"));
    drop(engine.watch("/a/", 0).expect("watch"));
    engine.write(put("/a/1", "v", Precondition::None)).expect("write");
    assert_eq!(engine.watcher_count(), 1, "a publish forgets every dropped stream");
    drop(engine.watch("/c/", 0).expect("watch"));
    drop(engine.watch("/d/", 0).expect("watch"));
    assert_eq!(engine.watcher_count(), 2, "a subscription forgets dropped streams too");
    drop(kept);
}
