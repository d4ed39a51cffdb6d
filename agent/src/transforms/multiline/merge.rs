//! The multiline state of one file.

use std::time::{Duration, Instant};

use super::MultilineConfig;

/// A bad multiline setting.
#[derive(Debug, thiserror::Error)]
pub enum MultilineError {
    /// `start_pattern` is not a valid regular expression.
    #[error("multiline start_pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The regex error.
        source: regex::Error,
    },
}

/// One event out of the merger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged<T> {
    /// The time of the first line.
    pub ts_ns: i64,
    /// The tag of the first line (e.g. the container stream).
    pub tag: T,
    /// The lines, joined with `\n`.
    pub msg: String,
    /// True when a bound, not a new start line, ended it.
    pub cut: bool,
}

#[derive(Debug)]
struct Pending<T> {
    ts_ns: i64,
    tag: T,
    msg: String,
    lines: usize,
    start_offset: u64,
    touched: Instant,
}

/// Per-file multiline state.
#[derive(Debug)]
pub struct Multiline<T> {
    start: regex::Regex,
    timeout: Duration,
    max_bytes: usize,
    max_lines: usize,
    pending: Option<Pending<T>>,
}

impl<T: Copy + PartialEq> Multiline<T> {
    /// Compiles the config.
    pub fn new(c: &MultilineConfig) -> Result<Self, MultilineError> {
        let start =
            regex::Regex::new(&c.start_pattern).map_err(|source| MultilineError::Pattern {
                pattern: c.start_pattern.clone(),
                source,
            })?;
        Ok(Multiline {
            start,
            timeout: Duration::from_millis(c.timeout_ms),
            max_bytes: c.max_bytes.max(1),
            max_lines: c.max_lines.max(1),
            pending: None,
        })
    }

    /// Feeds one line that started at file offset `start_offset`.
    pub fn push(
        &mut self,
        ts_ns: i64,
        tag: T,
        line: String,
        start_offset: u64,
        now: Instant,
        out: &mut Vec<Merged<T>>,
    ) {
        let starts = self.start.is_match(&line);
        if let Some(p) = &mut self.pending {
            let fits = p.msg.len() + 1 + line.len() <= self.max_bytes && p.lines < self.max_lines;
            if !starts && p.tag == tag && fits {
                p.msg.push('\n');
                p.msg.push_str(&line);
                p.lines += 1;
                p.touched = now;
                return;
            }
            let cut = !starts && p.tag == tag;
            if let Some(p) = self.pending.take() {
                out.push(Merged {
                    ts_ns: p.ts_ns,
                    tag: p.tag,
                    msg: p.msg,
                    cut,
                });
            }
        }
        if line.len() >= self.max_bytes {
            out.push(Merged {
                ts_ns,
                tag,
                msg: line,
                cut: true,
            });
            return;
        }
        self.pending = Some(Pending {
            ts_ns,
            tag,
            msg: line,
            lines: 1,
            start_offset,
            touched: now,
        });
    }

    /// Where the pending event starts in the file.
    pub fn pending_start(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.start_offset)
    }

    /// Emits the pending event if it has been idle for the timeout.
    pub fn flush_expired(&mut self, now: Instant, out: &mut Vec<Merged<T>>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| now.duration_since(p.touched) >= self.timeout)
        {
            self.flush(out);
        }
    }

    /// Emits the pending event.
    pub fn flush(&mut self, out: &mut Vec<Merged<T>>) {
        if let Some(p) = self.pending.take() {
            out.push(Merged {
                ts_ns: p.ts_ns,
                tag: p.tag,
                msg: p.msg,
                cut: false,
            });
        }
    }
}
