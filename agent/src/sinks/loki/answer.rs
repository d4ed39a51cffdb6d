//! Reading Loki's answer to a push it partly refused.
//!
//! Loki answers 400 both when it refuses a whole push and when it stores part of one: the
//! distributor drops each entry that fails validation (too old, too new, line too long, ...) with
//! one line `entry for stream '<labels>' has ...`, and the ingester drops entries per stream and
//! sums them up as `total ignored: N out of M` (`user '<tenant>', total ignored: ...` since 2.9);
//! the entries that passed are stored either way. [`rejected_entries`] counts the refused entries
//! from such a body; when the body says nothing countable, the whole push counts as refused.

/// How many of the push's `lines` Loki refused, read from its 400 body. `complete` is whether the
/// body was read whole (a cut body cannot be counted, so everything counts as refused).
pub fn rejected_entries(body: &str, complete: bool, lines: u64) -> u64 {
    if !complete {
        return lines;
    }
    let mut counted = 0u64;
    let mut found = false;
    for line in body.lines() {
        if let Some(n) = total_ignored(line) {
            counted = counted.saturating_add(n);
            found = true;
        } else if line.trim_start().starts_with("entry for stream '") {
            counted = counted.saturating_add(1);
            found = true;
        }
    }
    if found { counted.min(lines) } else { lines }
}

/// `N` from `... total ignored: N out of M ...`.
fn total_ignored(line: &str) -> Option<u64> {
    let rest = &line[line.find("total ignored: ")? + "total ignored: ".len()..];
    let (n, rest) = rest.split_once(' ')?;
    rest.starts_with("out of ").then_some(())?;
    n.parse().ok()
}
