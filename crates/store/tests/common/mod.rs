//! Test fixtures shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use canopy_store::{
    KeyValue, ListOptions, ListResult, Precondition, RedbStore, Revision, Store, StoreConfig, StoreError, WatchStream,
};
use tempfile::TempDir;

/// A `RedbStore` in a temporary directory that is removed when the store is dropped.
pub struct TempRedb {
    // Field order matters: the store closes its file before the directory goes away.
    pub store: RedbStore,
    pub dir: TempDir,
}

impl TempRedb {
    pub fn new() -> Self {
        Self::with_config(StoreConfig::default())
    }

    pub fn with_config(config: StoreConfig) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let store = RedbStore::open_with(dir.path().join("store.redb"), config).expect("open redb store");
        Self { store, dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store.redb")
    }
}

#[async_trait]
impl Store for TempRedb {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.store.get(key).await
    }
    async fn list(&self, opts: ListOptions) -> Result<ListResult, StoreError> {
        self.store.list(opts).await
    }
    async fn put(&self, key: &str, value: Bytes, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.store.put(key, value, pre).await
    }
    async fn delete(&self, key: &str, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.store.delete(key, pre).await
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.store.watch(prefix, after).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.store.compact(revision).await
    }
    fn current_revision(&self) -> Revision {
        self.store.current_revision()
    }
    fn compacted_revision(&self) -> Revision {
        self.store.compacted_revision()
    }
}
