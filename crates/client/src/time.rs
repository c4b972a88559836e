//! Times as the API writes them: RFC 3339 in whole seconds, UTC (upstream's `metav1.Time`).
//! A component that writes times this way writes objects the server stores as they are; a
//! finer time is cut to the second there anyway.

use std::time::SystemTime;

use k8s_openapi::jiff::Timestamp;

/// `t` as the API writes times.
pub fn format(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now, as the API writes times.
pub fn now() -> String {
    format(Timestamp::now())
}

/// A system time as the API writes times (empty for one outside the representable range).
pub fn of_system(t: SystemTime) -> String {
    Timestamp::try_from(t).map(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_in_utc() {
        let t: Timestamp = "2026-01-02T03:04:05.678Z".parse().expect("a time");
        assert_eq!(format(t), "2026-01-02T03:04:05Z");
        let now = now();
        assert_eq!(now.len(), "2026-01-02T03:04:05Z".len(), "{now}");
        assert_eq!(of_system(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
