//! `RedbStore`: the durable embedded backend (one process, one data file).
//!
//! Owns: opening the redb file, loading it into the shared engine, and routing writes through
//! the group-commit writer thread (`writer`). Reads and watches are served from the engine's
//! memory. A write is acknowledged only after its transaction is durable on disk.
//! Does not own: the on-disk layout (`schema`) or MVCC rules (`engine`).
//!
//! On reopen the watch history starts empty: the stored revision becomes the compacted
//! revision, so watches from older revisions fail with `Compacted` and clients relist.

mod schema;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Engine, WriteOp};
use crate::{KeyValue, ListOptions, ListResult, Precondition, Revision, Store, StoreConfig, StoreError, WatchStream};

/// Group-commit counters since open: `writes / commits` is the average batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub commits: u64,
    pub writes: u64,
}

/// A `Store` persisted in a redb file.
pub struct RedbStore {
    engine: Arc<Engine>,
    counters: Arc<writer::Counters>,
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<writer::Request>>,
    writer: Option<JoinHandle<()>>,
}

impl RedbStore {
    /// Opens (or creates) the database file at `path` with the default configuration.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, StoreConfig::default())
    }

    pub fn open_with(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let backend = |e: &dyn std::fmt::Display| StoreError::Backend(format!("opening {}: {e}", path.display()));
        let db = redb::Builder::new().set_cache_size(config.disk_cache_bytes).create(path).map_err(|e| backend(&e))?;
        let loaded = schema::load(&db).map_err(|e| backend(&e))?;
        tracing::info!(path = %path.display(), keys = loaded.kv.len(), revision = loaded.revision, "opened redb store");
        let engine = Arc::new(Engine::restore(&config, loaded.kv, loaded.revision));
        let counters = Arc::new(writer::Counters::default());
        let (requests, rx) = mpsc::channel(config.max_batch.max(1) * 4);
        let writer = std::thread::Builder::new()
            .name("canopy-store-writer".into())
            .spawn({
                let (engine, counters) = (engine.clone(), counters.clone());
                move || writer::run(db, engine, counters, rx, config.max_batch.max(1))
            })
            .map_err(|e| backend(&e))?;
        Ok(Self { engine, counters, requests: Some(requests), writer: Some(writer) })
    }

    /// How many durable transactions this handle committed, and how many writes they carried.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    async fn submit(&self, op: WriteOp) -> Result<KeyValue, StoreError> {
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, outcome) = oneshot::channel();
        requests.send(writer::Request { op, reply }).await.map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for RedbStore {
    /// Lets the writer finish the queued writes and close the file, so the path can be
    /// reopened as soon as this returns.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("redb writer thread panicked");
        }
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.engine.get(key))
    }

    async fn list(&self, opts: ListOptions) -> Result<ListResult, StoreError> {
        self.engine.list(&opts)
    }

    async fn put(&self, key: &str, value: Bytes, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.engine.check_value_size(value.len())?;
        self.submit(WriteOp::Put { key: key.to_owned(), value, pre }).await
    }

    async fn delete(&self, key: &str, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.submit(WriteOp::Delete { key: key.to_owned(), pre }).await
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
