//! The watch hub: fans committed events out to live watchers.
//!
//! Owns: the set of registered watchers, their bounded per-watcher channels, and turning a
//! watcher's history backlog plus its live channel into one `WatchStream`.
//! Does not own: deciding which history a watcher replays (the engine does that under the same
//! lock that registers the watcher, so replay and live delivery meet without gap or overlap).
//!
//! Writers never block on a watcher: a watcher whose channel is full is dropped from the hub
//! and its stream ends with `StoreError::WatcherTooSlow` after the events it already buffered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::stream;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::{Event, Revision, StoreError, WatchStream};

/// One registered watcher, as the hub sees it.
struct Watcher {
    prefix: String,
    /// Only events with a revision above this one are delivered (covers watches that start at
    /// a revision newer than the current one).
    after: Revision,
    tx: mpsc::Sender<Event>,
    /// Set when the hub dropped this watcher for falling behind.
    overflowed: Arc<AtomicBool>,
}

/// All live watchers of one engine. Mutated only under the engine's write lock.
pub(crate) struct WatchHub {
    watchers: Vec<Watcher>,
    capacity: usize,
}

impl WatchHub {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { watchers: Vec::new(), capacity: capacity.max(1) }
    }

    /// Registers a watcher and returns its stream: `backlog` first, then live events.
    pub(crate) fn subscribe(&mut self, prefix: &str, after: Revision, backlog: Vec<Event>) -> WatchStream {
        // Forget watchers whose streams were dropped and that no event has reached since.
        self.watchers.retain(|w| !w.tx.is_closed());
        let (tx, rx) = mpsc::channel(self.capacity);
        let overflowed = Arc::new(AtomicBool::new(false));
        self.watchers.push(Watcher { prefix: prefix.to_owned(), after, tx, overflowed: overflowed.clone() });
        stream_of(backlog, rx, overflowed)
    }

    /// Delivers one committed event to every watcher whose prefix matches.
    pub(crate) fn publish(&mut self, event: &Event) {
        self.watchers.retain(|w| {
            if event.revision <= w.after || !event.kv.key.starts_with(&w.prefix) {
                return !w.tx.is_closed();
            }
            match w.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(prefix = %w.prefix, revision = event.revision, "closing watcher that fell behind");
                    w.overflowed.store(true, Ordering::Release);
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.watchers.len()
    }
}

/// The stream a watcher reads: the replayed backlog, then its live channel, then one final
/// error saying why the channel closed (`WatcherTooSlow`, or `Closed` when the store went away).
fn stream_of(backlog: Vec<Event>, rx: mpsc::Receiver<Event>, overflowed: Arc<AtomicBool>) -> WatchStream {
    let live = stream::unfold(Some((rx, overflowed)), |state| async move {
        let (mut rx, overflowed) = state?;
        match rx.recv().await {
            Some(event) => Some((Ok(event), Some((rx, overflowed)))),
            None if overflowed.load(Ordering::Acquire) => Some((Err(StoreError::WatcherTooSlow), None)),
            None => Some((Err(StoreError::Closed), None)),
        }
    });
    stream::iter(backlog.into_iter().map(Ok)).chain(live).boxed()
}
