//! The in-memory MVCC engine every embedded backend shares.
//!
//! Owns: the current key-value state, the global revision, a bounded window of recent events
//! (serving watches from the past and reads at old revisions) and the watch hub, all behind
//! one lock. Reads take it shared; writes, watch registration and compaction take it exclusive.
//! Does not own: durability. A durable backend persists a prepared batch between
//! [`Engine::prepare`] and [`Engine::apply`]; the in-memory backend calls [`Engine::write`].

mod state;
mod watch;

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) use state::{Prepared, WriteOp};

use crate::{KeyValue, ListOptions, ListResult, Revision, StoreError, WatchStream};

/// Knobs shared by the embedded backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// How many recent events are kept for watches from the past and reads at old revisions.
    /// Dropping older events advances the compacted revision.
    pub history_window: usize,
    /// Events buffered per watcher before it is closed with `WatcherTooSlow`.
    pub watch_buffer: usize,
    /// Largest accepted value; larger puts fail with `TooLarge`.
    pub max_value_size: usize,
    /// Most writes a durable backend commits in one transaction (group commit).
    pub max_batch: usize,
    /// Page cache of a disk backend. Reads are served from memory, so the disk cache only
    /// speeds up B-tree updates; redb's own default (1 GiB) would mostly hold cold pages.
    pub disk_cache_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            history_window: 100_000,
            // Deep enough for a watcher to ride out bursts of thousands of writes per second on
            // a busy host: buffered events share their bytes with the history, so each costs
            // about its key.
            watch_buffer: 32_768,
            max_value_size: 3 * 1024 * 1024,
            max_batch: 1_024,
            disk_cache_bytes: 32 * 1024 * 1024,
        }
    }
}

impl StoreConfig {
    pub fn with_history_window(mut self, events: usize) -> Self {
        self.history_window = events;
        self
    }

    pub fn with_watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events;
        self
    }

    pub fn with_max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    pub fn with_max_batch(mut self, writes: usize) -> Self {
        self.max_batch = writes.max(1);
        self
    }
}

/// The shared engine. Cheap reads; one writer path at a time (see the module docs).
pub(crate) struct Engine {
    state: RwLock<state::State>,
    max_value_size: usize,
}

impl Engine {
    /// An empty engine at revision 0.
    pub(crate) fn new(config: &StoreConfig) -> Self {
        Self::restore(config, BTreeMap::new(), 0)
    }

    /// An engine holding `kv` at `revision`, with no history: `revision` is also the compacted one.
    pub(crate) fn restore(config: &StoreConfig, kv: BTreeMap<String, KeyValue>, revision: Revision) -> Self {
        Self { state: RwLock::new(state::State::new(kv, revision, config)), max_value_size: config.max_value_size }
    }

    fn read(&self) -> RwLockReadGuard<'_, state::State> {
        self.state.read().expect("engine lock poisoned by a panic while writing")
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, state::State> {
        self.state.write().expect("engine lock poisoned by a panic while writing")
    }

    /// Fails with `TooLarge` before a value is queued anywhere.
    pub(crate) fn check_value_size(&self, size: usize) -> Result<(), StoreError> {
        if size > self.max_value_size {
            return Err(StoreError::TooLarge { size, limit: self.max_value_size });
        }
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Option<KeyValue> {
        self.read().get(key)
    }

    pub(crate) fn list(&self, opts: &ListOptions) -> Result<ListResult, StoreError> {
        self.read().list(opts)
    }

    /// Checks and applies one write atomically (the in-memory backend's write path).
    pub(crate) fn write(&self, op: WriteOp) -> Result<KeyValue, StoreError> {
        let mut state = self.write_lock();
        let Prepared { base, events, mut outcomes } = state.prepare(std::slice::from_ref(&op));
        state.apply(base, events);
        outcomes.pop().expect("prepare returns one outcome per write")
    }

    /// Checks a batch of writes in order against the current state (durable backends).
    pub(crate) fn prepare(&self, ops: &[WriteOp]) -> Prepared {
        self.read().prepare(ops)
    }

    /// Applies a prepared batch once it is durable, and publishes its events to watchers.
    pub(crate) fn apply(&self, base: Revision, events: Vec<crate::Event>) {
        if !events.is_empty() {
            self.write_lock().apply(base, events);
        }
    }

    pub(crate) fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.write_lock().watch(prefix, after)
    }

    pub(crate) fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.write_lock().compact(revision)
    }

    pub(crate) fn revision(&self) -> Revision {
        self.read().revision()
    }

    pub(crate) fn compacted(&self) -> Revision {
        self.read().compacted()
    }

    /// Number of registered watchers (including ones whose streams were dropped but not yet
    /// noticed).
    #[cfg(test)]
    pub(crate) fn watcher_count(&self) -> usize {
        self.read().hub.len()
    }
}

#[cfg(test)]
mod tests;
