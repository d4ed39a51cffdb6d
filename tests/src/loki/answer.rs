//! The body of a 400 exactly as Loki 2.9/3.x writes it, so that clients are tested against the
//! text they will read:
//!
//! - the distributor validates each entry (`pkg/validation/validate.go` messages) and drops the
//!   ones that fail; the push still succeeds for the rest, and the answer is 400 with the
//!   messages grouped by text (`pkg/util` `GroupedErrors`): a single error alone, otherwise
//!   `N errors like: <msg>` joined by `; `;
//! - the ingester drops entries per stream (`pkg/ingester/stream.go`): one
//!   `entry with timestamp <Go time> ignored, reason: '<why>',` line per entry (at most 10),
//!   then `user '<tenant>', total ignored: N out of M for stream: <labels>`. When the ingester
//!   refuses anything, its error is the answer (the distributor's messages are lost), and with
//!   several streams refused, the last one's.
//!
//! `net/http`'s `http.Error` ends the body with a newline.

use time::OffsetDateTime;

/// Entry lines the ingester lists before its summary (`max_returned_stream_errors`).
const MAX_RETURNED_ERRORS: usize = 10;

/// `{a="b", c="d"}`: Prometheus `labels.Labels.String()`, names sorted, values Go-quoted.
pub fn labels_string(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    let inner: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn go_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn parts(ts_ns: i64) -> Option<(OffsetDateTime, u32)> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ns)).ok()?;
    Some((t, t.nanosecond()))
}

/// Go's `time.RFC3339` (whole seconds, `Z`), as the distributor formats entry times.
pub fn rfc3339(ts_ns: i64) -> String {
    match parts(ts_ns) {
        Some((t, _)) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => ts_ns.to_string(),
    }
}

/// Go's `time.Time.String()` in UTC (`2026-12-05 10:00:00.5 +0000 UTC`), as the ingester writes
/// entry times.
pub fn go_time(ts_ns: i64) -> String {
    match parts(ts_ns) {
        Some((t, nanos)) => {
            let frac = if nanos == 0 {
                String::new()
            } else {
                format!(".{nanos:09}").trim_end_matches('0').to_string()
            };
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        None => ts_ns.to_string(),
    }
}

/// `GreaterThanMaxSampleAgeErrorMsg`.
pub fn too_old(stream: &str, ts_ns: i64, oldest_ns: i64) -> String {
    format!(
        "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
        rfc3339(ts_ns),
        rfc3339(oldest_ns)
    )
}

/// `TooFarInFutureErrorMsg`.
pub fn too_new(stream: &str, ts_ns: i64) -> String {
    format!(
        "entry for stream '{stream}' has timestamp too new: {}",
        rfc3339(ts_ns)
    )
}

/// `LineTooLongErrorMsg`.
pub fn line_too_long(stream: &str, max: usize, len: usize) -> String {
    format!(
        "Max entry size '{max}' bytes exceeded for stream '{stream}' while adding an entry with length '{len}' bytes"
    )
}

/// `GroupedErrors.Error()`: messages grouped by text (in first-seen order here; Go's map order
/// is random).
pub fn grouped(errors: &[String]) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for e in errors {
        match groups.iter_mut().find(|(m, _)| *m == e.as_str()) {
            Some((_, n)) => *n += 1,
            None => groups.push((e.as_str(), 1)),
        }
    }
    let unique = groups.len();
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(m, n)| {
            if unique > 1 || n > 1 {
                format!("{n} errors like: {m}")
            } else {
                m.to_string()
            }
        })
        .collect();
    parts.join("; ")
}

/// The ingester's error for one stream: `failed` (entry time, reason) of `total` entries.
pub fn ingester_refused(
    tenant: &str,
    stream: &str,
    failed: &[(i64, String)],
    total: usize,
) -> String {
    let mut out = String::new();
    for (ts, why) in failed.iter().take(MAX_RETURNED_ERRORS) {
        out.push_str(&format!(
            "entry with timestamp {} ignored, reason: '{why}',\n",
            go_time(*ts)
        ));
    }
    let tenant = if tenant.is_empty() { "fake" } else { tenant };
    out.push_str(&format!(
        "user '{tenant}', total ignored: {} out of {total} for stream: {stream}",
        failed.len()
    ));
    out
}
