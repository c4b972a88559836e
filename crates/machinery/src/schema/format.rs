//! String formats known to kube-openapi's default registry, checked leniently, and a
//! per-thread cache of compiled `pattern` regular expressions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::{Regex, RegexBuilder};

const CACHE_LIMIT: usize = 512;

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Whether `text` matches the (unanchored, ECMA/RE2-style) `pattern`; `None` when the
/// pattern does not compile (upstream rejects such CRDs at creation).
pub(super) fn pattern_matches(pattern: &str, text: &str) -> Option<bool> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            let compiled = RegexBuilder::new(pattern).size_limit(1 << 20).build().ok();
            cache.insert(pattern.to_string(), compiled);
        }
        cache.get(pattern).and_then(|r| r.as_ref()).map(|r| r.is_match(text))
    })
}

/// Whether `text` is a valid instance of `format`; unknown formats accept everything.
pub(super) fn valid(format: &str, text: &str) -> bool {
    match format {
        "byte" => is_base64(text),
        "date" => is_date(text),
        "date-time" | "datetime" => is_date_time(text),
        "duration" => is_duration(text),
        "uuid" => is_uuid(text, None),
        "uuid3" => is_uuid(text, Some(b'3')),
        "uuid4" => is_uuid(text, Some(b'4')),
        "uuid5" => is_uuid(text, Some(b'5')),
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(text),
        "hostname" => is_hostname(text),
        "email" => is_email(text),
        "mac" => is_mac(text),
        "hexcolor" => is_hexcolor(text),
        "rgbcolor" => is_rgbcolor(text),
        "ssn" => is_ssn(text),
        _ => true,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    pad <= 2 && b[..b.len() - pad].iter().all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else { return false };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 and the ISO 8601 variants kube-openapi accepts (optional seconds, fraction and
/// zone; `T` or space separator).
fn is_date_time(s: &str) -> bool {
    if s.len() < 16 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    let Some(rest) = rest.strip_prefix(['T', 't', ' ']) else { return false };
    let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let zone_ok = match zone {
        "" | "Z" | "z" => true,
        z => {
            let z = &z[1..];
            let (h, m) = z.split_once(':').unwrap_or((z.get(..2).unwrap_or(""), z.get(2..).unwrap_or("")));
            digits(h, 2).is_some_and(|h| h < 24) && digits(m, 2).is_some_and(|m| m < 60)
        }
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut f = hms.split(':');
    let (Some(h), Some(m)) = (f.next(), f.next()) else { return false };
    let sec = f.next().unwrap_or("00");
    zone_ok
        && f.next().is_none()
        && digits(h, 2).is_some_and(|h| h < 24)
        && digits(m, 2).is_some_and(|m| m < 60)
        && digits(sec, 2).is_some_and(|s| s < 61)
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Go `time.ParseDuration` syntax (`1h30m`, `-1.5s`), or a number and a unit word
/// (`3 days`), as strfmt accepts.
fn is_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let go_units = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"];
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            break;
        }
        let after = &rest[num_len..];
        let Some(unit) = go_units.iter().filter(|u| after.starts_with(**u)).max_by_key(|u| u.len()) else {
            break;
        };
        rest = &after[unit.len()..];
        any = true;
    }
    if any && rest.is_empty() {
        return true;
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let unit = unit.trim_start().trim_end_matches('s');
    !num.is_empty()
        && [
            "n",
            "nano",
            "nanosecond",
            "u",
            "micro",
            "microsecond",
            "m",
            "milli",
            "millisecond",
            "sec",
            "second",
            "s",
            "min",
            "minute",
            "h",
            "hr",
            "hour",
            "d",
            "day",
            "w",
            "wk",
            "week",
            "ns",
            "us",
            "ms",
        ]
        .contains(&unit)
}

fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(
            |(i, &c)| {
                if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() }
            },
        )
        && version.is_none_or(|v| b[14] == v)
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else { return false };
    let Ok(addr) = addr.parse::<IpAddr>() else { return false };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.len() <= 3
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= max)
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn is_email(s: &str) -> bool {
    let addr = match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    !local.is_empty() && !domain.is_empty() && !addr.contains(char::is_whitespace)
}

fn is_mac(s: &str) -> bool {
    let groups: Vec<&str> = if s.contains(':') { s.split(':').collect() } else { s.split('-').collect() };
    matches!(groups.len(), 6 | 8 | 20)
        && groups.iter().all(|g| g.len() == 2 && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn is_hexcolor(s: &str) -> bool {
    let h = s.strip_prefix('#').unwrap_or(s);
    matches!(h.len(), 3 | 6) && h.bytes().all(|c| c.is_ascii_hexdigit())
}

fn is_rgbcolor(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else { return false };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn is_ssn(s: &str) -> bool {
    let d: String = s.chars().filter(|c| *c != '-' && *c != ' ').collect();
    d.len() == 9 && d.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 11
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn formats() {
        let ok = [
            ("date-time", "2024-01-02T03:04:05Z"),
            ("date-time", "2024-01-02T03:04:05.123+01:00"),
            ("date-time", "2024-02-29 03:04"),
            ("date", "2024-02-29"),
            ("byte", "aGVsbG8="),
            ("duration", "1h30m"),
            ("duration", "3 days"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000"),
            ("ipv4", "10.0.0.1"),
            ("ipv6", "::1"),
            ("cidr", "10.0.0.0/8"),
            ("hostname", "example.com"),
            ("email", "a@b.c"),
            ("mac", "00:1a:2b:3c:4d:5e"),
            ("int32", "anything"),
            ("unknown", "anything"),
        ];
        for (f, v) in ok {
            assert!(valid(f, v), "{f} {v}");
        }
        let bad = [
            ("date-time", "yesterday"),
            ("date-time", "2023-02-29T00:00:00Z"),
            ("date", "2024-13-01"),
            ("byte", "abc"),
            ("duration", "soon"),
            ("uuid", "123"),
            ("ipv4", "300.0.0.1"),
            ("cidr", "10.0.0.0/33"),
            ("hostname", "-bad-"),
            ("email", "nope"),
            ("mac", "00:1a"),
        ];
        for (f, v) in bad {
            assert!(!valid(f, v), "{f} {v}");
        }
    }
}
