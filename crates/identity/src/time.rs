//! Conversions of the caller's `now` into the unix time the tokens and the throttle keep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the unix epoch; a clock before 1970 counts as the epoch.
pub(crate) fn since_epoch(now: SystemTime) -> Duration {
    now.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Whole seconds since the unix epoch.
pub(crate) fn unix_secs(now: SystemTime) -> u64 {
    since_epoch(now).as_secs()
}
