//! `MemoryStore`: the engine with no persistence.
//!
//! Owns: nothing but the wiring of the `Store` trait onto the shared engine. It is the fake the
//! API server's tests run against, and it passes the same conformance suite as the durable
//! backend. Does not own: durability (everything is lost when it is dropped).

use async_trait::async_trait;
use bytes::Bytes;

use crate::engine::{Engine, WriteOp};
use crate::{KeyValue, ListOptions, ListResult, Precondition, Revision, Store, StoreConfig, StoreError, WatchStream};

/// An in-memory `Store`; every write is applied (and watchers notified) before it returns.
pub struct MemoryStore {
    engine: Engine,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_config(StoreConfig::default())
    }

    pub fn with_config(config: StoreConfig) -> Self {
        Self { engine: Engine::new(&config) }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.engine.get(key))
    }

    async fn list(&self, opts: ListOptions) -> Result<ListResult, StoreError> {
        self.engine.list(&opts)
    }

    async fn put(&self, key: &str, value: Bytes, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.engine.write(WriteOp::Put { key: key.to_owned(), value, pre })
    }

    async fn delete(&self, key: &str, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.engine.write(WriteOp::Delete { key: key.to_owned(), pre })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.engine.watch(prefix, after)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.engine.compact(revision)
    }

    fn current_revision(&self) -> Revision {
        self.engine.revision()
    }

    fn compacted_revision(&self) -> Revision {
        self.engine.compacted()
    }
}
