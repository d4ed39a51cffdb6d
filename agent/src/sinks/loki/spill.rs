//! The Loki sink's disk spill buffer for pod logs: the kubelet rotates and deletes pod logs, so
//! "stop reading and resume later" can lose lines while Loki is down. Pod-log chunks are written
//! here and only then do their file positions move; a reader thread ([`SpillReader`]) hands the
//! records to the sink in order, and a record leaves the buffer (the cursor moves, whole
//! segments are deleted) only after Loki acknowledged it.
//!
//! It is the agent's one disk queue ([`crate::buffer::DiskQueue`]) under
//! `<data_dir>/loki/<sink>/spill/`, one record per chunk of entries (`chunk_codec.rs`), bounded
//! by `pod_logs_spill_max_bytes` of records not yet delivered. At the bound,
//! `pod_logs_spill_when_full` decides: `"block"` (the default) makes the pod tailers wait (they
//! hold their file positions) and never drops what a tailer handed over; `"drop_oldest"` drops
//! the oldest chunks and counts their lines (`reason="spill_full"`). A torn record at the end (a
//! crash mid-write, never acknowledged upstream, so its lines are read again from the file) is
//! cut off at open; a record that fails its check elsewhere is skipped and counted
//! (`reason="spill_corrupt"`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::chunk_codec::{decode_entries, encode_entries, entry_count};
use crate::buffer::{BufferError, DiskQueue, HEADER_BYTES, OpenReport, QueueConfig};
#[cfg(test)]
use crate::buffer::WhenFull;
use crate::logs::{Chunk, ChunkBuffer, LogEntry, LogMetrics};

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
    q: DiskQueue,
    metrics: Arc<LogMetrics>,
    name: String,
}

impl SpillQueue {
    /// The queue bounds for `max_bytes` (`pod_logs_spill_max_bytes`): at least 1 MiB, segments
    /// of a quarter of it up to 8 MiB.
    pub fn limits(max_bytes: u64) -> QueueConfig {
        let max_bytes = max_bytes.max(MIN_BYTES);
        QueueConfig {
            max_bytes,
            segment_bytes: SEGMENT_BYTES.min(max_bytes / 4),
        }
    }

    /// A record's weight: its lines.
    pub fn weigh(record: &[u8]) -> u64 {
        entry_count(record)
    }

    /// The buffer over `q`, a disk queue opened with [`SpillQueue::limits`] and
    /// [`SpillQueue::weigh`] (by [`crate::component::BuildContext::disk_queue`]).
    pub fn new(q: DiskQueue, report: &OpenReport, metrics: Arc<LogMetrics>, name: &str) -> Self {
        if report.damaged_tail {
            metrics.dropped("loki", "spill_corrupt", 1);
        }
        let q = SpillQueue {
            q,
            metrics,
            name: name.to_string(),
        };
        q.metrics.buffer(&q.name, q.bytes());
        q.metrics.buffer_limit(&q.name, q.max_bytes());
        q
    }

    /// Opens (or creates) the buffer in `dir` outside the topology (tests), bounded to
    /// `max_bytes` (at least 1 MiB) of records not yet delivered, with `when_full` at the bound.
    #[cfg(test)]
    pub fn open(
        dir: &std::path::Path,
        max_bytes: u64,
        when_full: WhenFull,
        metrics: Arc<LogMetrics>,
        name: &str,
    ) -> Result<Self, SpillError> {
        let l = Self::limits(max_bytes);
        let (q, report) =
            DiskQueue::open(dir, l.max_bytes, l.segment_bytes, when_full, Self::weigh)?;
        Ok(Self::new(q, &report, metrics, name))
    }

    /// Bytes of records not yet delivered.
    pub fn bytes(&self) -> u64 {
        self.q.pending_bytes()
    }

    /// The bound.
    pub fn max_bytes(&self) -> u64 {
        self.q.bound()
    }

    /// Appends entries durably (written and fsynced before it returns). Under `block` it waits
    /// while the buffer is full, until `stop` turns true; under `drop_oldest` it drops the oldest
    /// chunks and counts their lines.
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
            Ok(report) if report.dropped_weight > 0 || report.dropped_records > 0 => {
                tracing::warn!(sink = %self.name, lines = report.dropped_weight,
                    "spill buffer full (Loki slow or down); the oldest pod log lines are dropped");
                self.metrics
                    .dropped("loki", "spill_full", report.dropped_weight);
            }
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

/// The thread that hands spilled records to the sink, in order.
#[derive(Debug)]
pub struct SpillReader {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SpillReader {
    /// Starts reading `q` into `tx`; `buffered` counts the bytes in the channel.
    pub fn spawn(
        q: Arc<SpillQueue>,
        tx: mpsc::Sender<Chunk>,
        buffered: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("spill-reader".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let Some((entries, cur)) = q.next(Duration::from_millis(200)) else {
                        continue;
                    };
                    let mut chunk = Chunk {
                        spill: Some((cur.segment, cur.offset)),
                        ..Chunk::default()
                    };
                    for e in entries {
                        chunk.push(e);
                    }
                    buffered.fetch_add(chunk.bytes as u64, Ordering::Relaxed);
                    if tx.blocking_send(chunk).is_err() {
                        return;
                    }
                }
            })?;
        Ok(SpillReader {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the thread.
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
