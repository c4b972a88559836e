//! The engine's state machine: current keys, the global revision and the history window.
//!
//! Owns: precondition checks and revision assignment (`prepare`), applying planned events
//! (`apply`), point-in-time reads by undoing newer history (`list`), and compaction.
//! Does not own: locking, persistence or watcher channels (see `engine` and `watch`).
//!
//! Invariant: `history` holds exactly one event for every revision in `(compacted, revision]`,
//! oldest first, so the state at any revision in `[compacted, revision]` can be rebuilt.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;

use super::watch::WatchHub;
use crate::{Event, EventKind, KeyValue, ListOptions, ListResult, Precondition, Revision, StoreError, WatchStream};

/// One requested write, before it has a revision.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    Put { key: String, value: Bytes, pre: Precondition },
    Delete { key: String, pre: Precondition },
}

impl WriteOp {
    fn key(&self) -> &str {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// A batch of writes checked against the state at revision `base`.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) base: Revision,
    /// The events of the writes whose preconditions held, with consecutive revisions.
    pub(crate) events: Vec<Event>,
    /// One outcome per requested write, in request order.
    pub(crate) outcomes: Vec<Result<KeyValue, StoreError>>,
}

pub(crate) struct State {
    kv: BTreeMap<String, KeyValue>,
    revision: Revision,
    compacted: Revision,
    history: VecDeque<Event>,
    history_window: usize,
    max_value_size: usize,
    pub(crate) hub: WatchHub,
}

impl State {
    /// A state that starts at `revision` with no history (everything older is compacted).
    pub(crate) fn new(kv: BTreeMap<String, KeyValue>, revision: Revision, config: &crate::StoreConfig) -> Self {
        Self {
            kv,
            revision,
            compacted: revision,
            history: VecDeque::new(),
            history_window: config.history_window,
            max_value_size: config.max_value_size,
            hub: WatchHub::new(config.watch_buffer),
        }
    }

    pub(crate) fn revision(&self) -> Revision {
        self.revision
    }

    pub(crate) fn compacted(&self) -> Revision {
        self.compacted
    }

    pub(crate) fn get(&self, key: &str) -> Option<KeyValue> {
        self.kv.get(key).cloned()
    }

    /// Fails unless the state at `at` can be served.
    fn check_readable(&self, at: Revision) -> Result<(), StoreError> {
        if at > self.revision {
            return Err(StoreError::FutureRevision { requested: at, current: self.revision });
        }
        if at < self.compacted {
            return Err(StoreError::Compacted { requested: at, compacted: self.compacted });
        }
        Ok(())
    }

    /// Checks each write in order against the current state plus the earlier writes of the
    /// same batch, and assigns consecutive revisions to the ones that succeed.
    pub(crate) fn prepare(&self, ops: &[WriteOp]) -> Prepared {
        let mut pending: HashMap<&str, Option<KeyValue>> = HashMap::new();
        let mut revision = self.revision;
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let key = op.key();
            let current = match pending.get(key) {
                Some(staged) => staged.as_ref(),
                None => self.kv.get(key),
            };
            match self.plan(op, current, revision + 1) {
                Ok(event) => {
                    revision = event.revision;
                    let after = (event.kind == EventKind::Put).then(|| event.kv.clone());
                    pending.insert(key, after);
                    outcomes.push(Ok(event.kv.clone()));
                    events.push(event);
                }
                Err(err) => outcomes.push(Err(err)),
            }
        }
        Prepared { base: self.revision, events, outcomes }
    }

    /// The event `op` produces at `revision`, or why its precondition fails.
    fn plan(&self, op: &WriteOp, current: Option<&KeyValue>, revision: Revision) -> Result<Event, StoreError> {
        match op {
            WriteOp::Put { key, value, pre } => {
                if value.len() > self.max_value_size {
                    return Err(StoreError::TooLarge { size: value.len(), limit: self.max_value_size });
                }
                check_precondition(key, current, *pre, true)?;
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: current.map_or(revision, |kv| kv.create_revision),
                    mod_revision: revision,
                };
                Ok(Event { kind: EventKind::Put, revision, kv, prev: current.cloned() })
            }
            WriteOp::Delete { key, pre } => {
                check_precondition(key, current, *pre, false)?;
                let prev = current.cloned().ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
                let kv = KeyValue { mod_revision: revision, ..prev.clone() };
                Ok(Event { kind: EventKind::Delete, revision, kv, prev: Some(prev) })
            }
        }
    }

    /// Applies events planned by `prepare` on this same state at revision `base`.
    ///
    /// # Panics
    /// If another write was applied since `prepare` (each engine has exactly one writer path).
    pub(crate) fn apply(&mut self, base: Revision, events: Vec<Event>) {
        assert_eq!(self.revision, base, "engine written concurrently between prepare and apply");
        for event in events {
            debug_assert_eq!(event.revision, self.revision + 1, "revisions must be consecutive");
            match event.kind {
                EventKind::Put => {
                    self.kv.insert(event.kv.key.clone(), event.kv.clone());
                }
                EventKind::Delete => {
                    self.kv.remove(&event.kv.key);
                }
            }
            self.revision = event.revision;
            self.hub.publish(&event);
            self.history.push_back(event);
        }
        while self.history.len() > self.history_window {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.revision;
            }
        }
    }

    /// Drops history at and below `revision`; it becomes the oldest readable revision.
    pub(crate) fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: self.revision });
        }
        if revision <= self.compacted {
            return Ok(());
        }
        let drop = self.history.partition_point(|e| e.revision <= revision);
        self.history.drain(..drop);
        self.compacted = revision;
        Ok(())
    }

    /// The events after `after` under `prefix`, then a live subscription, atomically.
    pub(crate) fn watch(&mut self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        if after < self.compacted {
            return Err(StoreError::Compacted { requested: after, compacted: self.compacted });
        }
        let start = self.history.partition_point(|e| e.revision <= after);
        let backlog = self.history.range(start..).filter(|e| e.kv.key.starts_with(prefix)).cloned().collect();
        Ok(self.hub.subscribe(prefix, after, backlog))
    }

    pub(crate) fn list(&self, opts: &ListOptions) -> Result<ListResult, StoreError> {
        let at = opts.revision.unwrap_or(self.revision);
        self.check_readable(at)?;
        let prefix = opts.prefix.as_str();
        let start_after = opts.start_after.as_deref();
        let in_range = |key: &str| key.starts_with(prefix) && start_after.is_none_or(|s| key > s);

        // The value at `at` of every key changed since: the `prev` of its first newer event.
        let mut undone: BTreeMap<&str, Option<&KeyValue>> = BTreeMap::new();
        let newer = self.history.partition_point(|e| e.revision <= at);
        for event in self.history.range(newer..).filter(|e| in_range(&e.kv.key)) {
            undone.entry(event.kv.key.as_str()).or_insert(event.prev.as_ref());
        }
        let unchanged = self.range(prefix, start_after).filter(|kv| !undone.contains_key(kv.key.as_str()));
        let restored = undone.values().filter_map(|kv| *kv);

        let limit = opts.limit.unwrap_or(usize::MAX);
        let mut merged = MergeByKey::new(unchanged, restored);
        let items: Vec<KeyValue> = merged.by_ref().take(limit).cloned().collect();
        let more = merged.next().is_some();
        Ok(ListResult { items, more, revision: at })
    }

    /// Current keys under `prefix`, strictly after `start_after`, in key order.
    fn range<'a>(&'a self, prefix: &'a str, start_after: Option<&'a str>) -> impl Iterator<Item = &'a KeyValue> {
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        self.kv
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(move |(key, _)| key.starts_with(prefix))
            .map(|(_, kv)| kv)
    }
}

fn check_precondition(
    key: &str,
    current: Option<&KeyValue>,
    pre: Precondition,
    is_put: bool,
) -> Result<(), StoreError> {
    match (pre, current) {
        (Precondition::None, None) if !is_put => Err(StoreError::NotFound { key: key.to_owned() }),
        (Precondition::None, _) => Ok(()),
        (Precondition::MustNotExist, None) if is_put => Ok(()),
        (Precondition::MustNotExist, None) => Err(StoreError::NotFound { key: key.to_owned() }),
        (Precondition::MustNotExist, Some(_)) => Err(StoreError::AlreadyExists { key: key.to_owned() }),
        (Precondition::ModRevision(_), None) => Err(StoreError::NotFound { key: key.to_owned() }),
        (Precondition::ModRevision(expected), Some(kv)) if kv.mod_revision == expected => Ok(()),
        (Precondition::ModRevision(_), Some(kv)) => {
            Err(StoreError::Conflict { key: key.to_owned(), current: kv.mod_revision })
        }
    }
}

/// Merges two key-ordered iterators over disjoint key sets into one key-ordered iterator.
struct MergeByKey<'a, A: Iterator<Item = &'a KeyValue>, B: Iterator<Item = &'a KeyValue>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'a, A: Iterator<Item = &'a KeyValue>, B: Iterator<Item = &'a KeyValue>> MergeByKey<'a, A, B> {
    fn new(a: A, b: B) -> Self {
        Self { a: a.peekable(), b: b.peekable() }
    }
}

impl<'a, A: Iterator<Item = &'a KeyValue>, B: Iterator<Item = &'a KeyValue>> Iterator for MergeByKey<'a, A, B> {
    type Item = &'a KeyValue;

    fn next(&mut self) -> Option<&'a KeyValue> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if b.key < a.key => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}
