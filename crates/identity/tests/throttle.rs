//! Login throttling: lockouts on schedule, resets, window, memory bound.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canopy_identity::{LoginThrottle, RetryAfter, ThrottleConfig, ThrottleKey};

const T0: u64 = 1_700_000_000;

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(ms)
}

fn key(user: &str, last_octet: u8) -> ThrottleKey {
    ThrottleKey::new(user, IpAddr::V4(Ipv4Addr::new(10, 0, 0, last_octet)))
}

fn secs(s: u64) -> Result<(), RetryAfter> {
    Err(RetryAfter(Duration::from_secs(s)))
}

#[test]
fn locks_after_five_failures_and_doubles_each_time() {
    let mut throttle = LoginThrottle::default();
    let alice = key("alice", 1);
    for i in 0..4 {
        throttle.record_failure(&alice, at_ms(i * 100));
        assert_eq!(throttle.check(&alice, at_ms(i * 100)), Ok(()), "failure {}", i + 1);
    }
    throttle.record_failure(&alice, at_ms(1000));
    assert_eq!(throttle.check(&alice, at_ms(1000)), secs(1));
    assert_eq!(throttle.check(&alice, at_ms(1500)), Err(RetryAfter(Duration::from_millis(500))));
    assert_eq!(throttle.check(&alice, at_ms(2000)), Ok(()), "unlocked after 1 s");

    // Each further failure locks for twice as long: 2 s, 4 s, 8 s ...
    let mut now = 2000;
    for lockout in [2, 4, 8, 16, 32, 64, 128, 256] {
        throttle.record_failure(&alice, at_ms(now));
        assert_eq!(throttle.check(&alice, at_ms(now)), secs(lockout));
        assert!(throttle.check(&alice, at_ms(now + lockout * 1000 - 1)).is_err());
        now += lockout * 1000;
        assert_eq!(throttle.check(&alice, at_ms(now)), Ok(()));
    }
    // ... capped at five minutes.
    for _ in 0..3 {
        throttle.record_failure(&alice, at_ms(now));
        assert_eq!(throttle.check(&alice, at_ms(now)), secs(300));
        now += 300_000;
    }
}

#[test]
fn success_resets_the_count() {
    let mut throttle = LoginThrottle::default();
    let alice = key("alice", 1);
    for i in 0..4 {
        throttle.record_failure(&alice, at_ms(i));
    }
    throttle.record_success(&alice);
    assert!(throttle.is_empty());
    for i in 0..4 {
        throttle.record_failure(&alice, at_ms(10 + i));
    }
    assert_eq!(throttle.check(&alice, at_ms(20)), Ok(()), "four failures since the success");
    throttle.record_failure(&alice, at_ms(20));
    assert_eq!(throttle.check(&alice, at_ms(20)), secs(1));
}

#[test]
fn keys_are_per_user_and_address() {
    let mut throttle = LoginThrottle::default();
    for i in 0..5 {
        throttle.record_failure(&key("alice", 1), at_ms(i));
    }
    assert!(throttle.check(&key("alice", 1), at_ms(5)).is_err());
    assert!(throttle.check(&key("ALICE ", 1), at_ms(5)).is_err(), "user names compare case-insensitively");
    assert_eq!(throttle.check(&key("alice", 2), at_ms(5)), Ok(()));
    assert_eq!(throttle.check(&key("bob", 1), at_ms(5)), Ok(()));
}

#[test]
fn failures_outside_the_window_start_over() {
    let config = ThrottleConfig { window: Duration::from_secs(60), ..ThrottleConfig::default() };
    let mut throttle = LoginThrottle::new(config);
    let alice = key("alice", 1);
    for i in 0..4 {
        throttle.record_failure(&alice, at_ms(i * 1000));
    }
    // A quiet minute and a bit: the fifth failure is the first of a new run.
    throttle.record_failure(&alice, at_ms(3000 + 61_000));
    assert_eq!(throttle.check(&alice, at_ms(64_000)), Ok(()));
    throttle.prune(at_ms(64_000 + 61_000));
    assert!(throttle.is_empty(), "nothing left to remember");
}

#[test]
fn memory_is_bounded_by_evicting_the_oldest_keys() {
    let config = ThrottleConfig { max_keys: 3, max_failures: 1, ..ThrottleConfig::default() };
    let mut throttle = LoginThrottle::new(config);
    for (i, user) in ["a", "b", "c"].iter().enumerate() {
        throttle.record_failure(&key(user, 1), at_ms(i as u64));
    }
    throttle.record_failure(&key("a", 1), at_ms(10)); // a is now the most recent
    throttle.record_failure(&key("d", 1), at_ms(11)); // evicts b, the oldest
    assert_eq!(throttle.len(), 3);
    assert!(throttle.check(&key("a", 1), at_ms(11)).is_err());
    assert_eq!(throttle.check(&key("b", 1), at_ms(11)), Ok(()), "evicted");
    assert!(throttle.check(&key("c", 1), at_ms(11)).is_err());
    assert!(throttle.check(&key("d", 1), at_ms(11)).is_err());
    for i in 0..1000u32 {
        throttle.record_failure(&key(&format!("u{i}"), 1), at_ms(100 + u64::from(i)));
    }
    assert_eq!(throttle.len(), 3);
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(RetryAfter(Duration::from_millis(1)).secs(), 1);
    assert_eq!(RetryAfter(Duration::from_secs(4)).secs(), 4);
    assert_eq!(RetryAfter(Duration::from_millis(4001)).secs(), 5);
    assert_eq!(RetryAfter(Duration::from_millis(1500)).to_string(), "too many failed logins, retry after 2 s");
}
