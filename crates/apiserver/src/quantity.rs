//! `resource.Quantity` arithmetic for quota: parse `500m`, `2`, `1Gi`, `1.5G`, `1e3` into
//! milli-units and print them back.

/// A quantity in thousandths of its unit (cores, bytes, counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Milli(pub i128);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct QuantityError(String);

const SUFFIXES: &[(&str, i128, i128)] = &[
    // (suffix, numerator, denominator) of the multiplier, in milli-units
    ("Ki", 1 << 10, 1),
    ("Mi", 1 << 20, 1),
    ("Gi", 1 << 30, 1),
    ("Ti", 1 << 40, 1),
    ("Pi", 1 << 50, 1),
    ("Ei", 1 << 60, 1),
    ("n", 1, 1_000_000_000),
    ("u", 1, 1_000_000),
    ("m", 1, 1_000),
    ("k", 1_000, 1),
    ("M", 1_000_000, 1),
    ("G", 1_000_000_000, 1),
    ("T", 1_000_000_000_000, 1),
    ("P", 1_000_000_000_000_000, 1),
    ("E", 1_000_000_000_000_000_000, 1),
];

impl Milli {
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let bad = || QuantityError(s.to_string());
        let s = s.trim();
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if number.is_empty() || number.len() > 40 {
            return Err(bad());
        }
        let (mut num, mut den): (i128, i128) = (1, 1);
        if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = exp.parse().map_err(|_| bad())?;
            if e.abs() > 18 {
                return Err(bad());
            }
            if e >= 0 { num = 10i128.pow(e as u32) } else { den = 10i128.pow((-e) as u32) }
        } else if !suffix.is_empty() {
            let &(_, n, d) = SUFFIXES.iter().find(|(sfx, ..)| *sfx == suffix).ok_or_else(bad)?;
            (num, den) = (n, d);
        }
        let negative = number.starts_with('-');
        let digits = number.trim_start_matches(['+', '-']);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let scale = 10i128.pow(frac.len().min(30) as u32);
        let mantissa: i128 = format!("{int}{}", &frac[..frac.len().min(30)]).parse().unwrap_or(0);
        // value = mantissa / scale * num / den, in milli-units (x1000), rounded up like upstream.
        let numer = mantissa.checked_mul(num).and_then(|v| v.checked_mul(1000)).ok_or_else(bad)?;
        let denom = scale.checked_mul(den).ok_or_else(bad)?;
        let value = (numer + denom - 1) / denom;
        Ok(Self(if negative { -value } else { value }))
    }

    /// Canonical text: whole units when exact (`2`, `1073741824`), else milli (`500m`).
    pub fn format(self) -> String {
        if self.0 % 1000 == 0 { (self.0 / 1000).to_string() } else { format!("{}m", self.0) }
    }

    /// Canonical text for a byte count: the largest binary suffix that is exact (`2Gi`,
    /// `1536Mi`), as upstream prints quantities given in binary units.
    pub fn format_bytes(self) -> String {
        if self.0 % 1000 != 0 || self.0 == 0 {
            return self.format();
        }
        let bytes = self.0 / 1000;
        let suffix = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            .iter()
            .enumerate()
            .rev()
            .map(|(i, s)| (1i128 << (10 * (i + 1)), *s))
            .find(|(unit, _)| bytes % unit == 0);
        match suffix {
            Some((unit, s)) => format!("{}{s}", bytes / unit),
            None => bytes.to_string(),
        }
    }
}

impl std::ops::Add for Milli {
    type Output = Milli;
    fn add(self, o: Milli) -> Milli {
        Milli(self.0.saturating_add(o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        let m = |s: &str| Milli::parse(s).map(|q| q.0);
        assert_eq!(m("500m"), Ok(500));
        assert_eq!(m("2"), Ok(2000));
        assert_eq!(m("1.5"), Ok(1500));
        assert_eq!(m("1Gi"), Ok(1000 * (1 << 30)));
        assert_eq!(m("1G"), Ok(1000 * 1_000_000_000));
        assert_eq!(m("1e3"), Ok(1_000_000));
        assert_eq!(m("100Mi"), Ok(1000 * 100 * (1 << 20)));
        assert!(Milli::parse("abc").is_err());
        assert!(Milli::parse("1Qi").is_err());
        assert_eq!(Milli(1500).format(), "1500m");
        assert_eq!(Milli(2000).format(), "2");
        assert_eq!(Milli(2 * 1000 * (1 << 30)).format_bytes(), "2Gi");
        assert_eq!(Milli(1536 * 1000 * (1 << 20)).format_bytes(), "1536Mi");
        assert_eq!(Milli(1000 * 1000).format_bytes(), "1000");
        assert_eq!(Milli(0).format_bytes(), "0");
    }
}
