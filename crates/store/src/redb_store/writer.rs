//! The single writer thread of a `RedbStore`: group commit.
//!
//! Owns: the redb `Database` handle and the only path that mutates the engine. It takes every
//! write queued since its last commit (up to `max_batch`), checks their preconditions in order
//! against the engine, persists the ones that hold in one durable transaction, applies them to
//! the engine (publishing watch events) and only then answers each caller. One fsync thus
//! acknowledges many concurrent writers. A batch whose writes all fail their preconditions
//! commits nothing.
//!
//! It is an OS thread, not a tokio task: commits block on fsync.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::Database;
use tokio::sync::{mpsc, oneshot};

use super::schema;
use crate::StoreError;
use crate::engine::{Engine, Prepared, WriteOp};

/// One queued write and where its outcome goes.
pub(super) struct Request {
    pub(super) op: WriteOp,
    pub(super) reply: oneshot::Sender<Result<crate::KeyValue, StoreError>>,
}

/// Durable transactions committed and the writes they carried (see `RedbStore::commit_stats`).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) writes: AtomicU64,
}

/// Runs until every sender of `rx` is dropped, then closes the database.
pub(super) fn run(
    db: Database,
    engine: Arc<Engine>,
    counters: Arc<Counters>,
    mut rx: mpsc::Receiver<Request>,
    max_batch: usize,
) {
    let mut ops = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        ops.push(first.op);
        replies.push(first.reply);
        while ops.len() < max_batch {
            let Ok(next) = rx.try_recv() else { break };
            ops.push(next.op);
            replies.push(next.reply);
        }
        commit_batch(&db, &engine, &counters, &ops, replies.drain(..));
        ops.clear();
    }
    tracing::debug!("redb writer stopped");
}

fn commit_batch(
    db: &Database,
    engine: &Engine,
    counters: &Counters,
    ops: &[WriteOp],
    replies: impl Iterator<Item = oneshot::Sender<Result<crate::KeyValue, StoreError>>>,
) {
    let Prepared { base, events, outcomes } = engine.prepare(ops);
    let span = tracing::trace_span!("group_commit", writes = ops.len(), applied = events.len(), base);
    let _entered = span.enter();
    let outcomes = match schema::persist(db, &events, engine.compacted()) {
        Ok(()) => {
            if !events.is_empty() {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters.writes.fetch_add(events.len() as u64, Ordering::Relaxed);
            }
            engine.apply(base, events);
            outcomes
        }
        Err(err) => {
            tracing::error!(error = %err, writes = ops.len(), "redb commit failed");
            let err = StoreError::Backend(err.to_string());
            outcomes.into_iter().map(|o| o.and_then(|_| Err(err.clone()))).collect()
        }
    };
    for (reply, outcome) in replies.zip(outcomes) {
        // The caller may have given up waiting; its write is committed either way.
        let _ = reply.send(outcome);
    }
}
