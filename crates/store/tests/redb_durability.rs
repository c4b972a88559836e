//! `RedbStore` across restarts: acknowledged state and the revision survive a reopen, the watch
//! history does not (its start becomes the compacted revision).

mod common;

use bytes::Bytes;
use canopy_store::{ListOptions, Precondition, RedbStore, Store, StoreConfig, StoreError};
use futures::StreamExt;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn everything(store: &RedbStore) -> Vec<canopy_store::KeyValue> {
    store.list(ListOptions::default()).await.expect("list").items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_state_and_continues_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");

    let (state, revision, kept) = {
        let store = RedbStore::open(&path).expect("open");
        let kept = store.put("/k/kept", b("1"), Precondition::None).await.expect("put");
        for i in 0..20 {
            store.put(&format!("/k/{i}"), b(&i.to_string()), Precondition::None).await.expect("put");
        }
        for i in (0..20).step_by(3) {
            store.delete(&format!("/k/{i}"), Precondition::None).await.expect("delete");
        }
        let kept = store.put("/k/kept", b("2"), Precondition::ModRevision(kept.mod_revision)).await.expect("update");
        // The last write is a delete: the revision must survive even though no key carries it.
        store.delete("/k/1", Precondition::None).await.expect("delete");
        (everything(&store).await, store.current_revision(), kept)
    };

    let store = RedbStore::open(&path).expect("reopen");
    assert_eq!(everything(&store).await, state);
    assert_eq!(store.current_revision(), revision);
    assert_eq!(store.compacted_revision(), revision, "history starts empty after a reopen");
    assert_eq!(store.get("/k/0").await, Ok(None), "deletes are durable");
    assert_eq!(store.get("/k/kept").await, Ok(Some(kept.clone())));

    match store.watch("", revision - 1).await {
        Err(StoreError::Compacted { requested, compacted }) => {
            assert_eq!((requested, compacted), (revision - 1, revision))
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("watching from before the reopen must fail with Compacted"),
    }
    let mut watch = store.watch("/k/", revision).await.expect("watch from the current revision");
    let next =
        store.put("/k/kept", b("3"), Precondition::ModRevision(kept.mod_revision)).await.expect("cas after reopen");
    assert_eq!(next.mod_revision, revision + 1);
    assert_eq!(next.create_revision, kept.create_revision);
    let event = watch.next().await.expect("event").expect("not an error");
    assert_eq!(event.kv, next);
    drop(store);

    let store = RedbStore::open(&path).expect("reopen again");
    assert_eq!(store.current_revision(), revision + 1);
    assert_eq!(store.get("/k/kept").await, Ok(Some(next)));
}

/// Concurrent writers share durable transactions; a failed precondition fails only its write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    let store = std::sync::Arc::new(common::TempRedb::new());
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..64 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                let key = format!("/g/{task}/{i}");
                store.store.put(&key, b("v"), Precondition::None).await.expect("put");
                let conflict = store.store.put(&key, b("w"), Precondition::MustNotExist).await;
                assert_eq!(conflict, Err(StoreError::AlreadyExists { key }));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task");
    }
    let stats = store.store.commit_stats();
    assert_eq!(stats.writes, 64 * 20);
    assert!(stats.commits < stats.writes, "no write shared a commit: {stats:?}");
    assert_eq!(store.current_revision(), 64 * 20);
}

#[tokio::test]
async fn a_database_file_is_opened_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.redb");
    let _first = RedbStore::open(&path).expect("open");
    match RedbStore::open(&path) {
        Err(StoreError::Backend(message)) => assert!(message.contains("store.redb"), "{message}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second open of the same file must fail"),
    }
}

#[tokio::test]
async fn the_value_size_limit_is_configurable() {
    let store = common::TempRedb::with_config(StoreConfig::default().with_max_value_size(8));
    store.put("/small", b("12345678"), Precondition::None).await.expect("at the limit");
    assert_eq!(
        store.put("/big", b("123456789"), Precondition::None).await,
        Err(StoreError::TooLarge { size: 9, limit: 8 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_database_is_a_backend_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.redb");
    std::fs::write(&path, vec![7u8; 4096]).expect("write garbage");
    assert!(matches!(RedbStore::open(&path), Err(StoreError::Backend(_))));
}
