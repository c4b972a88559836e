//! Expectations, as upstream's `ControllerExpectations`: the pod creations and deletions a
//! ReplicaSet has issued but its pod cache has not observed yet. While any are pending the
//! ReplicaSet is not resized again, so a lagging watch never makes it create (or delete) twice.
//!
//! Upstream counts; this tracks pod names (the server's answer to a `generateName` create), so an
//! observation is matched to the request that caused it. A registration and an observation take
//! the same lock, and a creation is only registered when the cache does not already hold the
//! pod; the informer observes after writing its cache. So an event can never slip between the
//! two and leave an expectation that is never met. Expectations also expire (after [`TTL`], like
//! upstream), in case an event is lost for good.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long an unmet expectation holds a ReplicaSet back (upstream's `ExpectationsTimeout`).
pub const TTL: Duration = Duration::from_secs(5 * 60);

/// A ReplicaSet, as `(namespace, name)`.
pub type Key = (String, String);

#[derive(Default)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.deletes.is_empty()
    }
}

/// Pending pod creations and deletions per ReplicaSet.
#[derive(Default)]
pub struct Expectations {
    pending: Mutex<HashMap<Key, Pending>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        // A panic elsewhere while holding the lock leaves the sets consistent (every operation
        // is a single insert or remove), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Nothing pending for `key` (or what is pending has expired, and is dropped): the ReplicaSet
    /// may be resized.
    pub fn satisfied(&self, key: &Key) -> bool {
        let mut pending = self.lock();
        match pending.get(key) {
            None => true,
            Some(p) if p.is_empty() => true,
            Some(p) if p.since.is_some_and(|s| s.elapsed() >= TTL) => {
                tracing::warn!(namespace = %key.0, replicaset = %key.1, "pod expectations expired; resyncing");
                pending.remove(key);
                true
            }
            Some(_) => false,
        }
    }

    /// Expects the creation of `pod` to be observed, unless `already_seen()` (asked under the
    /// lock) says the cache holds it.
    pub fn expect_creation(&self, key: &Key, pod: &str, already_seen: impl FnOnce() -> bool) {
        let mut pending = self.lock();
        if already_seen() {
            return;
        }
        let p = pending.entry(key.clone()).or_default();
        p.since.get_or_insert_with(Instant::now);
        p.creates.insert(pod.to_string());
    }

    /// Expects the deletion of `pod` to be observed (registered before the request is sent).
    pub fn expect_deletion(&self, key: &Key, pod: &str) {
        let mut pending = self.lock();
        let p = pending.entry(key.clone()).or_default();
        p.since.get_or_insert_with(Instant::now);
        p.deletes.insert(pod.to_string());
    }

    /// The cache saw `pod` (created by `key`). True when this met an expectation.
    pub fn creation_observed(&self, key: &Key, pod: &str) -> bool {
        self.observe(key, |p| p.creates.remove(pod))
    }

    /// The cache saw `pod` deleted or being deleted, or its deletion failed. True when this met
    /// an expectation.
    pub fn deletion_observed(&self, key: &Key, pod: &str) -> bool {
        self.observe(key, |p| p.deletes.remove(pod))
    }

    fn observe(&self, key: &Key, remove: impl FnOnce(&mut Pending) -> bool) -> bool {
        let mut pending = self.lock();
        let Some(p) = pending.get_mut(key) else { return false };
        let met = remove(p);
        if p.is_empty() {
            pending.remove(key);
        }
        met
    }

    /// After the cache was relisted: settles what the new list shows (`present` says whether a
    /// pod is in the cache and not being deleted). Returns the ReplicaSets that became satisfied.
    pub fn settle(&self, present: impl Fn(&str, &str) -> bool) -> Vec<Key> {
        let mut pending = self.lock();
        let mut settled = Vec::new();
        pending.retain(|key, p| {
            p.creates.retain(|pod| !present(&key.0, pod));
            p.deletes.retain(|pod| present(&key.0, pod));
            if p.is_empty() {
                settled.push(key.clone());
            }
            !p.is_empty()
        });
        settled
    }

    /// Drops everything pending for a deleted ReplicaSet.
    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        ("ns".into(), "rs".into())
    }

    #[test]
    fn creations_and_deletions_hold_the_replicaset_until_observed() {
        let e = Expectations::default();
        assert!(e.satisfied(&key()));
        e.expect_creation(&key(), "rs-a", || false);
        e.expect_deletion(&key(), "rs-b");
        assert!(!e.satisfied(&key()));
        assert!(!e.creation_observed(&key(), "rs-other"), "an unrelated pod meets nothing");
        assert!(e.creation_observed(&key(), "rs-a"));
        assert!(!e.satisfied(&key()));
        assert!(e.deletion_observed(&key(), "rs-b"));
        assert!(e.satisfied(&key()));
    }

    #[test]
    fn a_creation_the_cache_already_holds_is_not_expected() {
        let e = Expectations::default();
        e.expect_creation(&key(), "rs-a", || true);
        assert!(e.satisfied(&key()));
    }

    #[test]
    fn a_relist_settles_what_it_shows() {
        let e = Expectations::default();
        e.expect_creation(&key(), "rs-a", || false);
        e.expect_deletion(&key(), "rs-b");
        assert!(e.settle(|_, pod| pod == "rs-b").is_empty(), "rs-b still there");
        assert_eq!(e.settle(|_, _| false), Vec::<Key>::new(), "rs-a not there yet");
        assert_eq!(e.settle(|_, pod| pod == "rs-a"), vec![key()]);
        assert!(e.satisfied(&key()));
    }

    #[tokio::test(start_paused = true)]
    async fn expectations_expire() {
        let e = Expectations::default();
        e.expect_creation(&key(), "rs-a", || false);
        tokio::time::advance(TTL).await;
        assert!(e.satisfied(&key()));
    }
}
