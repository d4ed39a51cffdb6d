//! Joins partial fragments per stream into whole lines, up to a size bound.

use super::{ContainerLine, Stream};

/// A whole line out of the joiner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The time of the first fragment.
    pub ts_ns: i64,
    /// stdout or stderr.
    pub stream: Stream,
    /// The joined message.
    pub msg: String,
    /// True when the bound cut this line (the rest follows as further entries).
    pub cut: bool,
    /// The file offset of its first fragment.
    pub start: u64,
}

#[derive(Debug, Default)]
struct Pending {
    ts_ns: i64,
    msg: String,
    start_offset: u64,
}

/// Per-file joining state: one pending fragment run per stream.
#[derive(Debug)]
pub struct Joiner {
    max_bytes: usize,
    stdout: Option<Pending>,
    stderr: Option<Pending>,
}

impl Joiner {
    /// A joiner whose lines are at most `max_bytes` long.
    pub fn new(max_bytes: usize) -> Self {
        Joiner {
            max_bytes: max_bytes.max(1),
            stdout: None,
            stderr: None,
        }
    }

    fn slot(&mut self, s: Stream) -> &mut Option<Pending> {
        match s {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    /// Feeds one parsed line that started at file offset `start_offset`; returns the lines it
    /// completes (more than one only when the bound cut a line).
    pub fn push(&mut self, line: ContainerLine<'_>, start_offset: u64, out: &mut Vec<Joined>) {
        let max = self.max_bytes;
        let stream = line.stream;
        let slot = self.slot(stream);
        let mut p = match slot.take() {
            Some(p) => p,
            None if !line.partial && line.msg.len() <= max => {
                out.push(Joined {
                    ts_ns: line.ts_ns,
                    stream,
                    msg: line.msg.into_owned(),
                    cut: false,
                    start: start_offset,
                });
                return;
            }
            None => Pending {
                ts_ns: line.ts_ns,
                msg: String::new(),
                start_offset,
            },
        };
        let mut rest: &str = &line.msg;
        while p.msg.len() + rest.len() > max {
            let room = max.saturating_sub(p.msg.len());
            let mut cut = room.min(rest.len());
            while cut > 0 && !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 && p.msg.is_empty() {
                // A single char wider than the whole bound (a bound under 4 bytes): it goes out
                // whole, as its own piece, rather than never fitting.
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            // With `cut == 0` the next char does not fit in the room left: the piece ends here
            // and that char starts the next one.
            p.msg.push_str(&rest[..cut]);
            rest = &rest[cut..];
            if rest.is_empty() {
                // Only the wide char was left: it ends the line like any last piece.
                break;
            }
            out.push(Joined {
                ts_ns: p.ts_ns,
                stream,
                msg: std::mem::take(&mut p.msg),
                cut: true,
                start: p.start_offset,
            });
            p.start_offset = start_offset;
        }
        p.msg.push_str(rest);
        if line.partial {
            *self.slot(stream) = Some(p);
        } else {
            out.push(Joined {
                ts_ns: p.ts_ns,
                stream,
                msg: p.msg,
                cut: false,
                start: p.start_offset,
            });
        }
    }

    /// The file offset where the oldest unfinished fragment run starts: nothing from there on
    /// may be acknowledged yet.
    pub fn pending_start(&self) -> Option<u64> {
        [&self.stdout, &self.stderr]
            .into_iter()
            .flatten()
            .map(|p| p.start_offset)
            .min()
    }

    /// Emits whatever is pending (the file ended or was closed).
    pub fn flush(&mut self, out: &mut Vec<Joined>) {
        for (s, slot) in [
            (Stream::Stdout, self.stdout.take()),
            (Stream::Stderr, self.stderr.take()),
        ] {
            if let Some(p) = slot {
                out.push(Joined {
                    ts_ns: p.ts_ns,
                    stream: s,
                    msg: p.msg,
                    cut: false,
                    start: p.start_offset,
                });
            }
        }
    }
}
