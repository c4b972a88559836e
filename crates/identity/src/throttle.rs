//! Login throttling keyed by (user name, client address).
//!
//! After [`ThrottleConfig::max_failures`] failed logins, each within
//! [`ThrottleConfig::window`] of the previous one, the key is locked out: the N-th failure locks
//! it for [`ThrottleConfig::base_lockout`], every further failure for twice as long as the one
//! before (1 s, 2 s, 4 s, ...), capped at [`ThrottleConfig::max_lockout`]. A success forgets the
//! key; a quiet spell longer than the window starts the count again. At most
//! [`ThrottleConfig::max_keys`] keys are kept, the least recently failed evicted first, so a
//! flood of distinct keys cannot grow memory.
//!
//! Owns the bookkeeping; does not own clocks (every call takes `now`), locking for concurrent
//! use (the server wraps it in a mutex), or per-address limits across user names.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::time::since_epoch;

/// Who is trying to log in, from where. User names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThrottleKey {
    user: String,
    client: IpAddr,
}

impl ThrottleKey {
    pub fn new(user: &str, client: IpAddr) -> Self {
        Self { user: user.trim().to_lowercase(), client }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn client(&self) -> IpAddr {
        self.client
    }
}

/// A refused attempt: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins, retry after {} s", self.secs())]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, for a `Retry-After` header.
    pub fn secs(&self) -> u64 {
        self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)
    }
}

/// Throttling parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures in a row (each within `window` of the previous) before the first lockout.
    pub max_failures: u32,
    /// How long a failure counts.
    pub window: Duration,
    /// The first lockout.
    pub base_lockout: Duration,
    /// The longest lockout.
    pub max_lockout: Duration,
    /// The most keys remembered.
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(5 * 60),
            max_keys: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    last_failure: Duration,
    locked_until: Duration,
    /// This entry's key in `LoginThrottle::by_age`.
    age: (Duration, u64),
}

/// Failed-login bookkeeping; see the module docs for the schedule.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    entries: HashMap<ThrottleKey, Entry>,
    /// Keys by last failure (and insertion order), oldest first, for eviction.
    by_age: BTreeMap<(Duration, u64), ThrottleKey>,
    seq: u64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self { config, entries: HashMap::new(), by_age: BTreeMap::new(), seq: 0 }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Whether `key` may try to log in at `now`.
    pub fn check(&self, key: &ThrottleKey, now: SystemTime) -> Result<(), RetryAfter> {
        let now = since_epoch(now);
        match self.entries.get(key) {
            Some(entry) if entry.locked_until > now => Err(RetryAfter(entry.locked_until - now)),
            _ => Ok(()),
        }
    }

    /// Records a failed login of `key` at `now`, locking it out once it has failed too often.
    pub fn record_failure(&mut self, key: &ThrottleKey, now: SystemTime) {
        let now = since_epoch(now);
        let age = (now, self.seq);
        self.seq += 1;
        if let Some(entry) = self.entries.get_mut(key) {
            self.by_age.remove(&entry.age);
            let stale = now.saturating_sub(entry.last_failure) > self.config.window;
            entry.failures = if stale { 1 } else { entry.failures.saturating_add(1) };
            entry.last_failure = now;
            entry.age = age;
            entry.locked_until = entry
                .locked_until
                .max(lockout_after(&self.config, entry.failures).map_or(now, |d| now.saturating_add(d)));
        } else {
            while self.entries.len() >= self.config.max_keys.max(1) {
                let Some((_, oldest)) = self.by_age.pop_first() else { break };
                self.entries.remove(&oldest);
            }
            let locked_until = lockout_after(&self.config, 1).map_or(now, |d| now.saturating_add(d));
            self.entries.insert(key.clone(), Entry { failures: 1, last_failure: now, locked_until, age });
        }
        self.by_age.insert(age, key.clone());
    }

    /// Records a successful login: `key` starts afresh.
    pub fn record_success(&mut self, key: &ThrottleKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_age.remove(&entry.age);
        }
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets keys that are neither locked nor have a failure inside the window at `now`.
    pub fn prune(&mut self, now: SystemTime) {
        let now = since_epoch(now);
        let window = self.config.window;
        let by_age = &mut self.by_age;
        self.entries.retain(|_, e| {
            let keep = e.locked_until > now || now.saturating_sub(e.last_failure) <= window;
            if !keep {
                by_age.remove(&e.age);
            }
            keep
        });
    }
}

/// The lockout the `failures`-th failure in a row earns, if any.
fn lockout_after(config: &ThrottleConfig, failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(config.max_failures.max(1))?;
    let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
    Some(config.base_lockout.saturating_mul(factor).min(config.max_lockout))
}
