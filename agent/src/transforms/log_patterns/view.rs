//! Which part of a line names its log statement. For a JSON object with a `message` or `msg`
//! string (tracing-subscriber, zap, slog, logrus, Prometheus' JSON; tracing's `fields.message`
//! too), that is its message (its level is kept as the template's level): the other fields are
//! the statement's values, and which of them are present varies within one statement (an
//! optional `error_code`), so the whole JSON text would split one statement into several
//! templates and let a long tail of values outvote the message's words. Any other line is
//! mined whole.
//!
//! The scan is a byte search (no JSON parse, no allocation; `memchr`'s vectorised searches for
//! the key and for the value's closing quote): the first `"message":"` or
//! `"msg":"` key (a key: after `{` or `,`, optional spaces around the colon) and the first
//! `"level":"`; a line not shaped as an object (`{...}`) is not looked at.

use std::sync::LazyLock;

use memchr::memmem;

/// The keys searched for, built once (a searcher per call would cost more than the search).
static MESSAGE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"message\""));
/// See [`MESSAGE`].
static MSG: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"msg\""));
/// See [`MESSAGE`].
static LEVEL: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"level\""));

/// Byte ranges of a JSON line's level and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonMessage {
    /// The whole `"level":"info"` pair, when there is one.
    pub level: Option<(usize, usize)>,
    /// The message string's contents (inside its quotes).
    pub message: (usize, usize),
}

/// The value range of the first string-valued key `key` (written with its quotes) in `b`.
/// Returns (start of the key, start of the value, end of the value).
fn string_field(b: &[u8], key: &memmem::Finder<'static>) -> Option<(usize, usize, usize)> {
    let mut from = 0;
    for _ in 0..8 {
        let at = from + key.find(&b[from..])?;
        let key = key.needle();
        from = at + key.len();
        // A key follows `{` or `,` (spaces allowed); otherwise it is inside a value.
        let before = b[..at].iter().rev().find(|c| !c.is_ascii_whitespace());
        if !matches!(before, Some(b'{' | b',')) {
            continue;
        }
        let mut i = from;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            continue;
        }
        let vs = i + 1;
        // The closing quote: the first `"` not escaped (a `\\` escapes the byte after it),
        // found by `memchr2` (a message is often tens of bytes).
        let mut e = vs;
        loop {
            let p = b.get(e..).and_then(|r| memchr::memchr2(b'"', b'\\', r))?;
            e += p;
            if b[e] == b'"' {
                return Some((at, vs, e));
            }
            e += 2;
        }
    }
    None
}

/// The level and message of a JSON object line with a `message` or `msg` string (see the
/// module docs); `None` for any other line.
pub fn json_message(line: &str) -> Option<JsonMessage> {
    let message = message_range(line)?;
    let level = string_field(line.as_bytes(), &LEVEL).map(|(ks, _, ve)| (ks, ve + 1));
    Some(JsonMessage { level, message })
}

/// The message range of [`json_message`] alone (what mining needs on every line; the level is
/// looked up only when a template is made).
pub fn message_range(line: &str) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let first = b.iter().position(|c| !c.is_ascii_whitespace())?;
    let last = b.iter().rposition(|c| !c.is_ascii_whitespace())?;
    if b[first] != b'{' || b[last] != b'}' {
        return None;
    }
    let (_, ms, me) = string_field(b, &MESSAGE).or_else(|| string_field(b, &MSG))?;
    Some((ms, me))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(line: &str) -> Option<(Option<&str>, &str)> {
        json_message(line).map(|m| {
            (
                m.level.map(|(s, e)| &line[s..e]),
                &line[m.message.0..m.message.1],
            )
        })
    }

    #[test]
    fn finds_level_and_message_of_json_lines_only() {
        assert_eq!(
            parts(
                r#"{"timestamp":"t","level":"INFO","message":"request","op":"put","status":200}"#
            ),
            Some((Some(r#""level":"INFO""#), "request"))
        );
        assert_eq!(
            parts(
                r#"{"level":"WARN","fields":{"message":"scrape \"x\" failed","error":"e"},"target":"a"}"#
            ),
            Some((Some(r#""level":"WARN""#), r#"scrape \"x\" failed"#))
        );
        assert_eq!(
            parts(r#" { "msg" : "hello", "level": "debug" } "#),
            Some((Some(r#""level": "debug""#), "hello"))
        );
        // A `"message"` inside a value is not a key.
        assert_eq!(
            parts(r#"{"log":"say \"message\":\"x\"","stream":"stdout"}"#),
            None
        );
        // Docker's json-file lines, numbers as messages, unterminated strings, not objects.
        assert_eq!(
            parts(r#"{"log":"GET /\n","stream":"stdout","time":"t"}"#),
            None
        );
        assert_eq!(parts(r#"{"message":42}"#), None);
        assert_eq!(parts(r#"{"message":"open"#), None);
        assert_eq!(parts(r#"level=info msg="x""#), None);
        assert_eq!(parts(""), None);
        assert_eq!(parts("{"), None);
        assert_eq!(parts(r#"{"message":"a\"#), None);
    }

    #[test]
    fn the_message_ends_at_its_first_unescaped_quote() {
        // Escaped quotes and backslashes, before and after the vector searches' 16/32-byte steps.
        let long = "x".repeat(40);
        for (value, ends) in [
            (r#"a\\"#.to_string(), true),
            (r#"a\"b"#.to_string(), true),
            (format!(r#"{long}\"{long}\\"#), true),
            (format!(r#"{long}\\\"{long}"#), true),
            (format!(r#"{long}\"#), false),
            (format!(r#"{long}\\\"#), false),
        ] {
            let line = format!(r#"{{"level":"INFO","message":"{value}"}}"#);
            let got = parts(&line).map(|(_, m)| m.to_string());
            if ends {
                assert_eq!(got.as_deref(), Some(value.as_str()), "{line}");
            } else {
                assert_eq!(got, None, "{line}");
            }
        }
    }
}
