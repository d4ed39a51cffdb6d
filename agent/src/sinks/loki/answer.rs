//! Reading Loki's answer to a push it refused in part.
//!
//! Loki answers 400 both when it refuses a whole push and when it stores part of one, and the
//! entries it does not name in the body are stored either way:
//! - the distributor drops each entry that fails validation and answers with the messages of
//!   `pkg/validation` grouped by text (`util.GroupedErrors`): `<msg>` alone, or
//!   `N errors like: <msg>` joined by `; ` (for example `entry for stream '{app="x"}' has
//!   timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: ...`,
//!   `... has timestamp too new: ...`, `Max entry size '256' bytes exceeded for stream ...`);
//! - the ingester drops entries per stream (out of order, too far behind) and answers with one
//!   `entry with timestamp ... ignored, reason: '<why>',` line per entry (up to a limit) and a
//!   summary `total ignored: N out of M for stream: ...` (`user '<tenant>', ` before it since
//!   2.9).
//!
//! [`read_partial`] counts the refused entries per reason (Loki's own discard reason names) from
//! such a body; when the body says nothing countable (a whole-request error such as a label
//! parse error) or was cut, the whole push counts as refused with `http_400`.

/// The refused entries of one push, by reason. Their sum is at most the push's lines.
pub type Refused = Vec<(&'static str, u64)>;

/// What Loki refused of a push of `lines` entries it answered 400, read from the body
/// (`complete`: whether the body was read whole).
pub fn read_partial(body: &str, complete: bool, lines: u64) -> Refused {
    let whole = || vec![("http_400", lines)];
    if !complete {
        return whole();
    }
    let mut out: Refused = Vec::new();
    let mut add = |reason: &'static str, n: u64| match out.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, c)) => *c = c.saturating_add(n),
        None => out.push((reason, n)),
    };
    // The distributor's validation messages (each possibly "N errors like: " grouped).
    for (at, _) in body.match_indices("entry for stream '") {
        let rest = &body[at..];
        let reason = if rest.contains_before("has timestamp too old", "entry for stream '") {
            "greater_than_max_sample_age"
        } else if rest.contains_before("has timestamp too new", "entry for stream '") {
            "too_far_in_future"
        } else {
            "invalid_entry"
        };
        add(reason, grouped_count(&body[..at]));
    }
    for pat in ["Max entry size '", "max entry size '"] {
        for (at, _) in body.match_indices(pat) {
            add("line_too_long", grouped_count(&body[..at]));
        }
    }
    // The ingester's summary per stream; its reason from the first entry line.
    for (at, _) in body.match_indices("total ignored: ") {
        let Some(n) = ignored_count(&body[at + "total ignored: ".len()..]) else {
            continue;
        };
        let reason = if body[..at].contains("entry too far behind") {
            "too_far_behind"
        } else {
            "out_of_order"
        };
        add(reason, n);
    }
    let total: u64 = out.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return whole();
    }
    // Never more than the push held: cut the last reasons.
    let mut left = lines;
    for (_, n) in &mut out {
        *n = (*n).min(left);
        left -= *n;
    }
    out.retain(|(_, n)| *n > 0);
    out
}

trait ContainsBefore {
    fn contains_before(&self, needle: &str, stop: &str) -> bool;
}

impl ContainsBefore for str {
    /// Whether `needle` occurs before the next `stop` after the first character.
    fn contains_before(&self, needle: &str, stop: &str) -> bool {
        let end = self
            .get(1..)
            .and_then(|r| r.find(stop))
            .map_or(self.len(), |i| i + 1);
        self[..end].contains(needle)
    }
}

/// `N` when the text before a message ends with `N errors like: `, else 1.
fn grouped_count(before: &str) -> u64 {
    let Some(head) = before.strip_suffix(" errors like: ") else {
        return 1;
    };
    let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    head[head.len() - digits..].parse().unwrap_or(1)
}

/// `N` from `N out of M ...`.
fn ignored_count(rest: &str) -> Option<u64> {
    let (n, rest) = rest.split_once(' ')?;
    rest.starts_with("out of ").then_some(())?;
    n.parse().ok()
}
