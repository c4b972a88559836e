//! Go's `%q` formatting, so messages read exactly as upstream's (`fmt.Sprintf("%q", s)` for a
//! string, `["a" "b"]` for a `[]string`).
//!
//! Owns string quoting only.

use std::fmt::Write;

/// `strconv.Quote`: double-quoted, with `"` and `\` escaped and non-printable characters as Go
/// escapes (`\n`, `\x01`, `\u00a0`). Printability follows Go closely for ASCII and control
/// characters; other Unicode is treated as printable unless it is whitespace or a control.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' ' => out.push(' '),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c.is_whitespace() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`, `[]` when empty.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s.as_ref())).collect();
    format!("[{}]", quoted.join(" "))
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as itself, several (deduplicated) as
/// `[a, b]`.
pub fn aggregate<S: AsRef<str>>(messages: &[S]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        if !seen.contains(&m.as_ref()) {
            seen.push(m.as_ref());
        }
    }
    match seen.as_slice() {
        [one] => (*one).to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        let cases = [
            ("", "\"\""),
            ("pods", "\"pods\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("line\nnext\ttab", "\"line\\nnext\\ttab\""),
            ("\u{01}", "\"\\x01\""),
            ("\u{7f}", "\"\\x7f\""),
            ("\u{a0}", "\"\\u00a0\""),
            ("héllo ✓", "\"héllo ✓\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "{input:?}");
        }
    }

    #[test]
    fn lists_like_go() {
        assert_eq!(quote_list::<&str>(&[]), "[]");
        assert_eq!(quote_list(&[""]), "[\"\"]");
        assert_eq!(quote_list(&["get", "list"]), "[\"get\" \"list\"]");
    }

    #[test]
    fn aggregates_like_apimachinery() {
        assert_eq!(aggregate(&["a"]), "a");
        assert_eq!(aggregate(&["a", "b", "a"]), "[a, b]");
        assert_eq!(aggregate(&["a", "a"]), "a");
    }
}
