//! An in-memory set of revoked token ids, each kept until the token would have expired anyway.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::time::unix_secs;

/// Revoked token ids with their expiry (unix seconds). The server consults it after
/// [`TokenIssuer::verify`](super::TokenIssuer::verify) succeeds, persists it as it sees fit, and
/// calls [`RevocationList::prune`] now and then so it holds only tokens that could still verify.
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    revoked: HashMap<String, u64>,
}

impl RevocationList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token `id` that expires at `expires_at` (unix seconds).
    pub fn revoke(&mut self, id: impl Into<String>, expires_at: u64) {
        let entry = self.revoked.entry(id.into()).or_insert(expires_at);
        *entry = (*entry).max(expires_at);
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        self.revoked.contains_key(id)
    }

    /// Forgets revoked tokens that have expired at `now` (verification refuses them anyway);
    /// returns how many were dropped.
    pub fn prune(&mut self, now: SystemTime) -> usize {
        let now = unix_secs(now);
        let before = self.revoked.len();
        self.revoked.retain(|_, expires_at| *expires_at > now);
        before - self.revoked.len()
    }

    /// The revoked ids and their expiry, for persisting the list.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.revoked.iter().map(|(id, exp)| (id.as_str(), *exp))
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}
