//! `Quantity`: a Kubernetes resource quantity (`500m`, `4`, `8Gi`, `1e3`) as users write it in
//! a spec, checked against upstream's grammar before a controller copies it into a
//! ResourceQuota or LimitRange (the API server stores those values as typed strings and would not
//! catch a typo).
//!
//! Owns: parsing and validation only. Arithmetic on quantities is the API server's business
//! (quota admission); controllers copy the user's text unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A quantity as written by the user. Accepts a JSON string or number (the CRD schema declares
/// it `x-kubernetes-int-or-string`), always serialises as a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quantity(String);

/// Why a quantity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantity {0:?} does not match the Kubernetes quantity format (e.g. 500m, 4, 8Gi)")]
    Format(String),
    #[error("quantity {0:?} is negative")]
    Negative(String),
}

/// Upstream's quantity pattern, restricted to non-negative values (limits and defaults).
pub const PATTERN: &str =
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

impl Quantity {
    /// A quantity from text, without validation (see [`Quantity::validate`]).
    pub fn new(text: impl Into<String>) -> Self {
        Quantity(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the text against upstream's grammar:
    /// `[+]<digits>[.<digits>]` then one of `Ki..Ei`, `n u m k M G T P E`, `e<signed number>`, or nothing.
    pub fn validate(&self) -> Result<(), QuantityError> {
        let text = self.0.as_str();
        if text.starts_with('-') {
            return Err(QuantityError::Negative(text.to_string()));
        }
        let rest = text.strip_prefix('+').unwrap_or(text);
        let (number_len, rest) = split_number(rest);
        let suffix_ok = match rest {
            "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
            exp if exp.starts_with(['e', 'E']) => {
                let signed = &exp[1..];
                let unsigned = signed.strip_prefix(['+', '-']).unwrap_or(signed);
                let (len, tail) = split_number(unsigned);
                len > 0 && tail.is_empty()
            }
            _ => false,
        };
        if number_len == 0 || !suffix_ok {
            return Err(QuantityError::Format(text.to_string()));
        }
        Ok(())
    }
}

/// Length of the leading `<digits>[.<digits>]` (or `.<digits>`) and what follows; 0 if none.
fn split_number(text: &str) -> (usize, &str) {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let int = digits(text);
    let mut len = int;
    if text[len..].starts_with('.') {
        let frac = digits(&text[len + 1..]);
        if int == 0 && frac == 0 {
            return (0, text);
        }
        len += 1 + frac;
    }
    (len, &text[len..])
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Quantity::new(s)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrString {
            Int(i64),
            Float(f64),
            String(String),
        }
        Ok(match IntOrString::deserialize(d)? {
            IntOrString::Int(i) => Quantity(i.to_string()),
            IntOrString::Float(f) => Quantity(f.to_string()),
            IntOrString::String(s) => Quantity(s),
        })
    }
}

impl From<&Quantity> for k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    fn from(q: &Quantity) -> Self {
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(q.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_upstream_forms() {
        for ok in ["0", "4", "500m", "1.5", ".5", "5.", "8Gi", "1Ki", "100M", "1e3", "1E-2", "+2", "10n", "3u", "2k"] {
            assert_eq!(Quantity::new(ok).validate(), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_typos_and_negatives() {
        for bad in ["", ".", "Gi", "8GB", "8 Gi", "1e", "1.2.3", "abc", "4gi", "1ee3", "0x10"] {
            assert!(matches!(Quantity::new(bad).validate(), Err(QuantityError::Format(_))), "{bad}");
        }
        assert_eq!(Quantity::new("-1").validate(), Err(QuantityError::Negative("-1".into())));
    }

    #[test]
    fn numbers_deserialise_as_text() {
        let q: Quantity = serde_json::from_value(serde_json::json!(4)).expect("int");
        assert_eq!(q.as_str(), "4");
        let q: Quantity = serde_json::from_value(serde_json::json!("8Gi")).expect("string");
        assert_eq!(serde_json::to_value(&q).expect("ser"), serde_json::json!("8Gi"));
    }
}
