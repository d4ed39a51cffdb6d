//! The pod-log disk buffer: the agent's one disk queue ([`crate::buffer::SharedQueue`]) with
//! the block policy, one record per chunk of entries (`codec.rs`). A full buffer makes the pod
//! tailers wait (they hold their file positions), never drops what a tailer handed over.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{decode_entries, encode_entries};
use crate::buffer::{BufferError, FullPolicy, HEADER_BYTES, SharedQueue};
use crate::logs::{ChunkBuffer, LogEntry, LogMetrics};

/// A position in the buffer: the byte after a record.
pub use crate::buffer::Cursor as SpillCursor;

/// A new segment starts once one holds this many bytes (a quarter of a small buffer).
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// The smallest buffer.
const MIN_BYTES: u64 = 1024 * 1024;

/// What failed in the spill buffer.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The queue's I/O or bound.
    #[error("spill buffer: {0}")]
    Buffer(#[from] BufferError),
    /// One chunk is larger than the whole buffer.
    #[error("a chunk of {0} bytes does not fit the spill buffer")]
    TooLarge(u64),
    /// The pipeline is stopping.
    #[error("spill buffer closed")]
    Closed,
}

/// A bounded, CRC-checked, on-disk FIFO of entry chunks.
#[derive(Debug)]
pub struct SpillQueue {
    q: SharedQueue,
    metrics: Arc<LogMetrics>,
    name: String,
}

fn one(_: &[u8]) -> u64 {
    1
}

impl SpillQueue {
    /// Opens (or creates) the buffer in `dir`, bounded to `max_bytes` (at least 1 MiB) of
    /// records not yet delivered.
    pub fn open(
        dir: &std::path::Path,
        max_bytes: u64,
        metrics: Arc<LogMetrics>,
        name: &str,
    ) -> Result<Self, SpillError> {
        let max_bytes = max_bytes.max(MIN_BYTES);
        let segment = SEGMENT_BYTES.min(max_bytes / 4);
        let (q, report) = SharedQueue::open(dir, max_bytes, segment, FullPolicy::Block, one)?;
        if report.damaged_tail {
            metrics.dropped("loki", "spill_corrupt", 1);
        }
        let q = SpillQueue {
            q,
            metrics,
            name: name.to_string(),
        };
        q.metrics.buffer(&q.name, q.bytes());
        q.metrics.buffer_limit(&q.name, max_bytes);
        Ok(q)
    }

    /// Bytes of records not yet delivered.
    pub fn bytes(&self) -> u64 {
        self.q.pending_bytes()
    }

    /// The bound.
    pub fn max_bytes(&self) -> u64 {
        self.q.bound()
    }

    /// Appends entries durably (written and fsynced before it returns). Waits while the buffer
    /// is full, until `stop` turns true.
    pub fn append(&self, entries: &[LogEntry], stop: &AtomicBool) -> Result<(), SpillError> {
        let payload = encode_entries(entries);
        let rec = HEADER_BYTES + payload.len() as u64;
        if rec > self.max_bytes() {
            return Err(SpillError::TooLarge(rec));
        }
        let r = self.q.append(&[payload], stop, || {
            tracing::warn!(sink = %self.name, max_bytes = self.max_bytes(),
                "spill buffer full (Loki slow or down); pod log tailing pauses until it drains");
        });
        match r {
            Ok(_) => {}
            Err(BufferError::Closed) => return Err(SpillError::Closed),
            Err(e) => return Err(e.into()),
        }
        self.metrics.buffer(&self.name, self.bytes());
        Ok(())
    }

    /// The next record after the last one handed out, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Option<(Vec<LogEntry>, SpillCursor)> {
        loop {
            let n = match self.q.next(wait) {
                Ok(Some(n)) => n,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(sink = %self.name, error = %e, "spill buffer: read");
                    return None;
                }
            };
            if n.skipped_bytes > 0 {
                self.corrupt();
            }
            if n.record.is_empty() {
                continue;
            }
            match decode_entries(&n.record) {
                Some(entries) => return Some((entries, n.cursor)),
                None => self.corrupt(),
            }
        }
    }

    fn corrupt(&self) {
        tracing::error!(sink = %self.name,
            "spill buffer: a record fails its check; the rest of its segment is dropped");
        self.metrics.dropped("loki", "spill_corrupt", 1);
    }

    /// Loki acknowledged everything before `c`: move the cursor, delete finished segments.
    pub fn commit(&self, c: SpillCursor) -> Result<(), SpillError> {
        self.q.ack(c, 0)?;
        self.metrics.buffer(&self.name, self.bytes());
        Ok(())
    }
}

impl ChunkBuffer for SpillQueue {
    fn append(&self, entries: &[LogEntry], stop: &AtomicBool) -> Result<(), String> {
        match SpillQueue::append(self, entries, stop) {
            Ok(()) => Ok(()),
            Err(SpillError::Closed) => Err(String::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}
