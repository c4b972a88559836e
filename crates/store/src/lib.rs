//! The `Store`: Canopy's only persistence seam.
//!
//! Owns: the MVCC key-value contract the API server relies on (get, paginated range reads at a
//! revision, compare-and-swap writes, watch from a revision, compaction) and its backends.
//! Does not own: anything Kubernetes-shaped. Keys and values are opaque here; the API server
//! decides the key layout (`/registry/<group>/<resource>/<namespace>/<name>`) and the encoding.
//!
//! The contract mirrors etcd v3 (one global, strictly increasing revision; every write gets the
//! next revision; `mod_revision` is the CAS token) so that an etcd backend slots in beside the
//! embedded one without touching the API layer.
//!
//! Backends: [`MemoryStore`] (the fake) and [`RedbStore`] (durable, group commit) share one
//! in-memory MVCC engine (`engine`: current state, history window, watch hub). The
//! `conformance` module (feature `conformance`) is the suite every backend must pass.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

mod engine;
mod memory;
mod redb_store;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use engine::StoreConfig;
pub use memory::MemoryStore;
pub use redb_store::{CommitStats, RedbStore};

/// A store-wide, strictly increasing logical clock. `0` means "before the first write".
pub type Revision = i64;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this key (unchanged by later updates).
    pub create_revision: Revision,
    /// Revision of the last write to this key; the compare-and-swap token.
    pub mod_revision: Revision,
}

/// A condition checked atomically with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally (delete still requires the key to exist).
    None,
    /// The key must not exist (create).
    MustNotExist,
    /// The key must exist with exactly this `mod_revision` (update / delete).
    ModRevision(Revision),
}

/// A paginated range read over all keys that start with `prefix`, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub prefix: String,
    /// Exclusive lower bound: return keys strictly greater than this one (continuation).
    pub start_after: Option<String>,
    /// At most this many items; `None` means all.
    pub limit: Option<usize>,
    /// Read the state as of this revision; `None` means the latest.
    /// A revision below the compacted revision fails with `StoreError::Compacted` (the
    /// compacted revision itself is the oldest readable one, as in etcd);
    /// one above the current revision fails with `StoreError::FutureRevision`.
    pub revision: Option<Revision>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// True when more keys matched than `limit` allowed.
    pub more: bool,
    /// The revision the read was served at (for the latest read: the current revision).
    pub revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, delivered to watchers in revision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The revision of this change.
    pub revision: Revision,
    /// For `Put`: the new value. For `Delete`: the last value before deletion, with
    /// `mod_revision` set to the delete's revision (as Kubernetes reports deleted objects).
    pub kv: KeyValue,
    /// The value before this change, if the key existed.
    pub prev: Option<KeyValue>,
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event, StoreError>> + Send>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} not found")]
    NotFound { key: String },
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} was modified at revision {current}")]
    Conflict { key: String, current: Revision },
    #[error("revision {requested} has been compacted (oldest available is {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("watcher fell too far behind and was closed")]
    WatcherTooSlow,
    #[error("store is closed")]
    Closed,
    #[error("storage backend: {0}")]
    Backend(String),
}

/// The MVCC key-value store every Canopy object lives in.
///
/// Guarantees every backend must give (checked by the conformance suite in `conformance`):
/// - a write returns only after it is durable (for durable backends);
/// - every successful write gets a revision strictly greater than all earlier ones;
/// - a watch from revision `r` delivers every change with revision `> r`, in order, with no gaps,
///   then live changes; if `r` is below the compacted revision the watch fails with `Compacted`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;
    async fn list(&self, opts: ListOptions) -> Result<ListResult, StoreError>;
    /// Create or replace `key`; returns the stored value with its new revisions.
    async fn put(&self, key: &str, value: Bytes, pre: Precondition) -> Result<KeyValue, StoreError>;
    /// Delete `key`; returns the deleted value (its `mod_revision` is the delete's revision).
    async fn delete(&self, key: &str, pre: Precondition) -> Result<KeyValue, StoreError>;
    /// Stream every change under `prefix` with revision `> after`. An `after` above the current
    /// revision is allowed (the stream waits for it, as etcd does).
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;
    /// Forget the changes at and below `revision`: it becomes the oldest readable revision, and
    /// reads at older revisions and watches from older revisions fail with `Compacted`.
    /// Compacting above the current revision fails with `FutureRevision`; compacting at or
    /// below the compacted revision does nothing.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
    /// The revision of the latest write.
    fn current_revision(&self) -> Revision;
    /// The highest compacted revision (0 when nothing was compacted).
    fn compacted_revision(&self) -> Revision;
}
