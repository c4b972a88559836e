//! Field selectors, as upstream `k8s.io/apimachinery/pkg/fields`: `a=b`, `a==b`, `a!=b`
//! terms joined by commas, with `\,` `\=` `\\` escapes in values.
//!
//! Owns parsing, matching and printing. Which fields a resource supports (and how to read
//! them from an object) is the API server's table: use [`FieldSelector::fields`] to reject
//! unsupported ones with [`unsupported_field`].

use std::fmt;
use std::str::FromStr;

/// Errors from parsing a field selector; texts are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term has no recognised operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Term {
        /// The whole selector.
        selector: String,
        /// The offending term.
        term: String,
    },
    /// A backslash escapes something other than `\`, `,` or `=`, or ends the value.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// An unescaped `,` or `=` in a value; upstream prints the code point as a number.
    #[error("invalid field selector: unescaped character in value: {}", *.0 as u32)]
    UnescapedRune(char),
}

/// The API server's rejection of a field the resource does not support
/// (`field label not supported: spec.foo`).
pub fn unsupported_field(field: &str) -> String {
    format!("field label not supported: {field}")
}

/// A term operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field op value` term (value unescaped).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    /// The field path, e.g. `metadata.name`.
    pub field: String,
    /// The operator.
    pub operator: FieldOperator,
    /// The unescaped value; empty matches an absent field.
    pub value: String,
}

impl FieldTerm {
    fn matches(&self, actual: Option<&str>) -> bool {
        let actual = actual.unwrap_or("");
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A conjunction of field terms, in the order of their (sorted) source terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the query-string syntax (`?fieldSelector=`).
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(FieldSelectorError::Term { selector: selector.to_string(), term: part.to_string() });
            };
            terms.push(FieldTerm { field: lhs.to_string(), operator: op, value: unescape_value(rhs)? });
        }
        Ok(Self { terms })
    }

    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector requiring `field=value` for each pair.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let terms = pairs
            .into_iter()
            .map(|(f, v)| FieldTerm { field: f.to_string(), operator: FieldOperator::Equals, value: v.to_string() })
            .collect();
        Self { terms }
    }

    /// True when there is no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The distinct fields referenced, in first-use order.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for t in &self.terms {
            if !out.contains(&t.field.as_str()) {
                out.push(&t.field);
            }
        }
        out
    }

    /// Whether an object matches; `get` returns a field's value (absent counts as empty,
    /// as upstream's `Fields.Get` returns `""`).
    pub fn matches<F>(&self, mut get: F) -> bool
    where
        F: FnMut(&str) -> Option<String>,
    {
        self.terms.iter().all(|t| t.matches(get(&t.field).as_deref()))
    }

    /// The value a selector needs for `field` when it pins one with `=` / `==`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| t.field == field && t.operator == FieldOperator::Equals).map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits on commas not preceded by an escaping backslash (the backslash is kept).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first operator (`!=` before `==` before `=`).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in
            [("!=", FieldOperator::NotEquals), ("==", FieldOperator::Equals), ("=", FieldOperator::Equals)]
        {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, rhs));
            }
        }
    }
    None
}

/// Escapes `\`, `,` and `=` in a value.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`], rejecting unknown escapes and bare `,` / `=`.
pub fn unescape_value(s: &str) -> Result<String, FieldSelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(FieldSelectorError::InvalidEscape(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c)),
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj(field: &str) -> Option<String> {
        match field {
            "metadata.name" => Some("web-1".into()),
            "metadata.namespace" => Some("default".into()),
            "spec.nodeName" => None,
            "status.phase" => Some("Running".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_and_matches() {
        let cases = [
            ("", true),
            ("metadata.name=web-1", true),
            ("metadata.name==web-1", true),
            ("metadata.name!=web-1", false),
            ("metadata.namespace!=kube-system", true),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("metadata.name=web-1,status.phase=Running", true),
            ("metadata.name=web-1,status.phase=Pending", false),
        ];
        for (s, want) in cases {
            let sel = FieldSelector::parse(s).expect(s);
            assert_eq!(sel.matches(obj), want, "{s}");
        }
    }

    #[test]
    fn escaping_round_trips() {
        let sel = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").expect("valid");
        assert_eq!(sel.terms()[0].value, r"a,b=c\d");
        assert_eq!(sel.to_string(), r"metadata.name=a\,b\=c\\d");
        assert_eq!(sel.fields(), vec!["metadata.name"]);
    }

    #[test]
    fn errors_match_upstream() {
        let cases = [
            ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            ("a=b=c", "invalid field selector: unescaped character in value: 61"),
            ("a!==b", "invalid field selector: unescaped character in value: 61"),
            (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
            (r"a=b\", r"invalid field selector: invalid escape sequence: \"),
        ];
        for (s, want) in cases {
            assert_eq!(FieldSelector::parse(s).expect_err(s).to_string(), want, "{s}");
        }
        assert_eq!(unsupported_field("spec.foo"), "field label not supported: spec.foo");
    }

    #[test]
    fn terms_are_sorted_and_listed() {
        let sel = FieldSelector::parse("status.phase=Running,metadata.name=x").expect("valid");
        assert_eq!(sel.to_string(), "metadata.name=x,status.phase=Running");
        assert_eq!(sel.fields(), vec!["metadata.name", "status.phase"]);
        assert_eq!(sel.requires_exact_match("metadata.name"), Some("x"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = FieldSelector::parse(&s);
        }

        #[test]
        fn escape_round_trips(v in "\\PC{0,20}") {
            prop_assert_eq!(unescape_value(&escape_value(&v)).ok(), Some(v));
        }

        #[test]
        fn selector_round_trips(
            terms in proptest::collection::vec(("[a-z]{1,5}(\\.[a-z]{1,5})?", "[a-z=,\\\\ ]{0,6}", any::<bool>()), 0..4)
        ) {
            let sel = FieldSelector {
                terms: terms.iter().map(|(f, v, ne)| FieldTerm {
                    field: f.clone(),
                    operator: if *ne { FieldOperator::NotEquals } else { FieldOperator::Equals },
                    value: v.clone(),
                }).collect(),
            };
            let reparsed = FieldSelector::parse(&sel.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut want = sel.terms.clone();
            want.sort_by_key(|t| t.to_string());
            let mut got = reparsed.terms.clone();
            got.sort_by_key(|t| t.to_string());
            prop_assert_eq!(got, want);
        }
    }
}
