//! Parsing of Kubernetes `Quantity` strings into integers.
//!
//! Upstream (`k8s.io/apimachinery/pkg/api/resource`) keeps quantities as exact decimals and
//! rounds *up* when a value is read at a coarser scale (`MilliValue`, `Value`); a request of
//! `0.5m` cpu is therefore 1 milli-cpu, and `1.5` bytes is 2 bytes. We do the same with exact
//! integer arithmetic (`i128`), saturating at `i64::MAX` like upstream's clamping.

use thiserror::Error;

/// Why a quantity string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    /// The string was empty.
    #[error("quantity is empty")]
    Empty,
    /// The numeric part was malformed (no digits, two dots, stray characters).
    #[error("quantity {0:?} has no valid number")]
    Number(String),
    /// The suffix is neither a binary SI, decimal SI nor decimal exponent suffix.
    #[error("quantity {0:?} has an unknown suffix")]
    Suffix(String),
}

/// A parsed quantity: `mantissa * 10^exp10 * 2^exp2`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exact {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

fn parse_exact(input: &str) -> Result<Exact, QuantityError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if bytes[0] == b'+' || bytes[0] == b'-' {
        negative = bytes[0] == b'-';
        i = 1;
    }
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            digits += 1;
            // Digits beyond i128's precision cannot change the rounded i64 result except by
            // one unit; drop them but keep the scale so magnitude stays right.
            if mantissa < i128::MAX / 100 {
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_dot {
                    exp10 -= 1;
                }
            } else if !seen_dot {
                exp10 += 1;
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return Err(QuantityError::Number(input.to_string()));
    }
    let suffix = &s[i..];
    let (e10, e2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or_else(|| QuantityError::Suffix(input.to_string()))?;
            let exp: i32 = rest.parse().map_err(|_| QuantityError::Suffix(input.to_string()))?;
            (exp, 0)
        }
    };
    if negative {
        mantissa = -mantissa;
    }
    Ok(Exact { mantissa, exp10: exp10.saturating_add(e10), exp2: e2 })
}

/// `ceil(|q| * 10^scale)` with the sign of `q`, saturated to the i64 range.
fn scaled(q: Exact, scale: i32) -> i64 {
    let negative = q.mantissa < 0;
    let mut value: i128 = q.mantissa.abs();
    let mut exp10 = q.exp10.saturating_add(scale);
    // Multiply the binary factor first: it is exact and at most 2^60.
    value = match value.checked_mul(1i128 << q.exp2) {
        Some(v) => v,
        None => return saturate(negative),
    };
    while exp10 > 0 {
        value = match value.checked_mul(10) {
            Some(v) => v,
            None => return saturate(negative),
        };
        exp10 -= 1;
    }
    if exp10 < 0 {
        if exp10 < -38 {
            // Smaller than any representable unit, but non-zero rounds up to one.
            value = i128::from(value != 0);
        } else {
            let divisor = 10i128.pow(exp10.unsigned_abs());
            value = value / divisor + i128::from(value % divisor != 0);
        }
    }
    let signed = if negative { -value } else { value };
    i64::try_from(signed).unwrap_or_else(|_| saturate(negative))
}

fn saturate(negative: bool) -> i64 {
    if negative { i64::MIN } else { i64::MAX }
}

/// Parses a quantity and returns its value in thousandths, rounded up (upstream `MilliValue`).
/// Used for cpu: `"500m"` is 500, `"2"` is 2000.
pub fn parse_milli(q: &str) -> Result<i64, QuantityError> {
    parse_exact(q).map(|e| scaled(e, 3))
}

/// Parses a quantity and returns its integer value, rounded up (upstream `Value`).
/// Used for memory and counts: `"1Gi"` is 1073741824, `"1.5G"` is 1500000000.
pub fn parse_value(q: &str) -> Result<i64, QuantityError> {
    parse_exact(q).map(|e| scaled(e, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_in_millis() {
        assert_eq!(parse_milli("500m"), Ok(500));
        assert_eq!(parse_milli("2"), Ok(2000));
        assert_eq!(parse_milli("0.5"), Ok(500));
        assert_eq!(parse_milli("1.5"), Ok(1500));
        assert_eq!(parse_milli("100u"), Ok(1), "sub-milli rounds up");
        assert_eq!(parse_milli("1n"), Ok(1));
        assert_eq!(parse_milli("0"), Ok(0));
        assert_eq!(parse_milli("1e3"), Ok(1_000_000));
        assert_eq!(parse_milli("1k"), Ok(1_000_000));
    }

    #[test]
    fn memory_quantities_in_bytes() {
        assert_eq!(parse_value("1Gi"), Ok(1 << 30));
        assert_eq!(parse_value("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_value("128974848"), Ok(128_974_848));
        assert_eq!(parse_value("129e6"), Ok(129_000_000));
        assert_eq!(parse_value("123Mi"), Ok(123 * (1 << 20)));
        assert_eq!(parse_value("1e3"), Ok(1000));
        assert_eq!(parse_value("1E3"), Ok(1000));
        assert_eq!(parse_value("0.5Ki"), Ok(512));
        assert_eq!(parse_value("1.5"), Ok(2), "fractions round up");
        assert_eq!(parse_value("100m"), Ok(1));
        assert_eq!(parse_value("+5"), Ok(5));
        assert_eq!(parse_value("-5"), Ok(-5));
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(parse_value("9Ei"), Ok(i64::MAX));
        assert_eq!(parse_value("1e100"), Ok(i64::MAX));
        assert_eq!(parse_milli("9E"), Ok(i64::MAX));
        assert_eq!(parse_value("1e-100"), Ok(1));
    }

    #[test]
    fn malformed_quantities_are_errors() {
        assert_eq!(parse_value(""), Err(QuantityError::Empty));
        assert!(matches!(parse_value("abc"), Err(QuantityError::Number(_))));
        assert!(matches!(parse_value("."), Err(QuantityError::Number(_))));
        assert!(matches!(parse_value("1Qi"), Err(QuantityError::Suffix(_))));
        assert!(matches!(parse_value("1.2.3"), Err(QuantityError::Suffix(_))));
        assert!(matches!(parse_value("1ex"), Err(QuantityError::Suffix(_))));
    }
}
