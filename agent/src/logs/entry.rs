//! The data that flows through the log pipeline.

use std::sync::Arc;

use super::Text;

/// A stream's label set, rendered once in Loki's selector syntax (`{a="b", c="d"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamLabels {
    /// The labels, sorted by name.
    pub pairs: Vec<(String, String)>,
    /// `{a="b", c="d"}`, the form Loki's push API takes.
    pub rendered: String,
}

impl StreamLabels {
    /// Sorts the pairs by name (a later duplicate name replaces an earlier one) and renders them.
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| later.0 == earlier.0);
        let mut rendered = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                rendered.push_str(", ");
            }
            rendered.push_str(k);
            rendered.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => rendered.push_str("\\\\"),
                    '"' => rendered.push_str("\\\""),
                    '\n' => rendered.push_str("\\n"),
                    c => rendered.push(c),
                }
            }
            rendered.push('"');
        }
        rendered.push('}');
        StreamLabels { pairs, rendered }
    }

    /// A copy with one more label (replacing one of the same name).
    pub fn with(&self, name: &str, value: &str) -> Self {
        let mut pairs = self.pairs.clone();
        pairs.push((name.to_string(), value.to_string()));
        StreamLabels::new(pairs)
    }
}

/// A structured-metadata name or value. Up to 24 bytes (a template id, `trace_id`) it is held
/// inline: a line's metadata then costs no allocation on the tail thread and no free on the
/// sink's.
pub type MetaStr = compact_str::CompactString;

/// A line's structured metadata (name, value), the first pair held inline.
pub type Metadata = smallvec::SmallVec<[(MetaStr, MetaStr); 1]>;

/// One log entry on its way to Loki.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The line, valid UTF-8 (invalid bytes were replaced and counted); usually a slice of the
    /// block the tailer read, shared, not copied.
    pub line: Text,
    /// The stream it belongs to.
    pub stream: Arc<StreamLabels>,
    /// Loki structured metadata (`trace_id`, `request_id`, `pattern`).
    pub metadata: Metadata,
}

impl LogEntry {
    /// Bytes this entry counts for in batches and buffers.
    pub fn size(&self) -> usize {
        self.line.len()
            + self
                .metadata
                .iter()
                .map(|(k, v)| meta_size(k, v))
                .sum::<usize>()
            + 16
    }

    /// Adds a structured-metadata pair; returns the bytes it adds to [`LogEntry::size`], so a
    /// caller keeping a running size need not go over the entries again.
    pub fn push_metadata(&mut self, name: MetaStr, value: MetaStr) -> usize {
        let added = meta_size(&name, &value);
        self.metadata.push((name, value));
        added
    }
}

/// What one metadata pair counts for in [`LogEntry::size`].
fn meta_size(name: &str, value: &str) -> usize {
    name.len() + value.len()
}

/// "Everything of record `record` before `offset` is in this chunk or an earlier one."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The position record (one file generation).
    pub record: u64,
    /// The byte offset after the last line covered.
    pub offset: u64,
}

/// A group of entries a tailer hands to the sink, with the offsets that become safe to save
/// once the sink has delivered them.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The entries, in read order.
    pub entries: Vec<LogEntry>,
    /// The sum of [`LogEntry::size`].
    pub bytes: usize,
    /// The highest safe offset per record, in the order first seen.
    pub acks: Vec<Ack>,
    /// For a chunk read back from the spill buffer: `(segment, offset)` after its record; the
    /// buffer may drop it once Loki acknowledged it.
    pub spill: Option<(u64, u64)>,
}

impl Chunk {
    /// Adds an entry.
    pub fn push(&mut self, e: LogEntry) {
        self.bytes += e.size();
        self.entries.push(e);
    }

    /// Moves every entry of `from` (left empty, its capacity kept) to the end of this chunk.
    pub fn append(&mut self, from: &mut Vec<LogEntry>) {
        self.bytes += from.iter().map(LogEntry::size).sum::<usize>();
        if self.entries.is_empty() {
            std::mem::swap(&mut self.entries, from);
        } else {
            self.entries.append(from);
        }
    }

    /// Records that `record` may be saved at `offset` once this chunk is delivered.
    pub fn ack(&mut self, record: u64, offset: u64) {
        match self.acks.iter_mut().find(|a| a.record == record) {
            Some(a) => a.offset = a.offset.max(offset),
            None => self.acks.push(Ack { record, offset }),
        }
    }

    /// Whether there is nothing to send and nothing to acknowledge.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.acks.is_empty()
    }
}

/// A durable buffer a tailer may hand its chunks to instead of the channel (the Loki sink's pod
/// log buffer): `append` returns once the entries are on disk, so the tailer can move its
/// positions; it may wait while the buffer is full, until `stop` turns true (then `Err("")`).
pub trait ChunkBuffer: Send + Sync + std::fmt::Debug {
    /// Appends the entries durably.
    fn append(
        &self,
        entries: &[LogEntry],
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(), String>;
}
