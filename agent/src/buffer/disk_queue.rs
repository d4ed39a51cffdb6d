//! [`DiskQueue`]: the agent's one disk queue, shared by every sink that buffers on disk (the
//! remote_write WAL, the Loki sink's pod-log buffer): [`Segments`] behind a mutex, with the
//! policy for a full queue ([`WhenFull`], chosen per sink in its config) and a read cursor that
//! runs ahead of the acknowledged one.
//!
//! - [`WhenFull::DropOldest`] (`"drop_oldest"`): the queue's own bound: an append that does not
//!   fit drops the oldest segments, and the caller is told what it lost (metrics, where the
//!   newest matter most).
//! - [`WhenFull::Block`] (`"block"`): an append that does not fit waits until the consumer
//!   acknowledges enough, or until `stop` turns true (log lines, where the producer can wait: the
//!   tailer holds its file position).
//!
//! Records are handed out in order, one at a time from the read cursor ([`DiskQueue::next`]) or
//! in windows from a cursor the consumer keeps ([`DiskQueue::read`]); only [`DiskQueue::ack`]
//! moves the durable cursor, so a restart hands out again everything not acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::error::BufferError;
use super::segment::HEADER_BYTES;
use super::segments::{
    AppendReport, Cursor, OpenReport, QueueConfig, ReadBatch, Segments, Weigher,
};

/// What an append does when the queue is full (a sink's `*_when_full` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Drop the oldest segments (counted in the [`AppendReport`]).
    DropOldest,
    /// Wait for room.
    Block,
}

#[derive(Debug)]
struct State {
    q: Segments,
    read: Cursor,
}

/// A [`Segments`] behind a mutex, with a full-queue policy and a read cursor.
#[derive(Debug)]
pub struct DiskQueue {
    state: Mutex<State>,
    cond: Condvar,
    bound: u64,
    policy: WhenFull,
}

/// One record handed out by [`DiskQueue::next`].
#[derive(Debug)]
pub struct Next {
    /// The payload.
    pub record: Vec<u8>,
    /// Acknowledge up to here once the record is delivered.
    pub cursor: Cursor,
    /// Damaged bytes skipped before it (never served).
    pub skipped_bytes: u64,
}

impl DiskQueue {
    /// Opens the queue in `dir`, holding at most `bound` bytes; `segment_bytes` per segment.
    pub fn open(
        dir: &std::path::Path,
        bound: u64,
        segment_bytes: u64,
        policy: WhenFull,
        weigh: Weigher,
    ) -> Result<(DiskQueue, OpenReport), BufferError> {
        // Under `Block` the bound is kept here, so the queue's own drop never has to act; its
        // limit is twice the bound so one record may be as large as the bound.
        let max_bytes = match policy {
            WhenFull::DropOldest => bound,
            WhenFull::Block => bound.saturating_mul(2),
        };
        let (q, report) = Segments::open(
            dir,
            QueueConfig {
                max_bytes,
                segment_bytes,
            },
            weigh,
        )?;
        let read = q.ack_cursor();
        Ok((
            DiskQueue {
                state: Mutex::new(State { q, read }),
                cond: Condvar::new(),
                bound,
                policy,
            },
            report,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes on disk.
    pub fn total_bytes(&self) -> u64 {
        self.lock().q.total_bytes()
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.lock().q.segment_count()
    }

    /// The total weight of the records not yet acknowledged.
    pub fn pending_weight(&self) -> u64 {
        self.lock().q.pending_weight()
    }

    /// The acknowledged cursor (where a consumer that keeps its own cursor starts).
    pub fn ack_cursor(&self) -> Cursor {
        self.lock().q.ack_cursor()
    }

    /// The end of what is on disk.
    pub fn end_cursor(&self) -> Cursor {
        self.lock().q.end_cursor()
    }

    /// The policy.
    pub fn policy(&self) -> WhenFull {
        self.policy
    }

    /// At most `max_records` records (and about `max_bytes`, but at least one record) from
    /// `from`, for a consumer that keeps its own cursor.
    pub fn read(
        &self,
        from: Cursor,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<ReadBatch, BufferError> {
        self.lock().q.read(from, max_records, max_bytes)
    }

    /// Bytes of the records not yet acknowledged (what the bound of [`WhenFull::Block`]
    /// applies to; acknowledged bytes wait in the newest segment until it is closed).
    pub fn pending_bytes(&self) -> u64 {
        self.lock().q.pending_bytes()
    }

    /// The bound.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Appends `payloads` durably (fsynced before it returns). Under [`WhenFull::Block`] it
    /// waits while they do not fit, and returns [`BufferError::Closed`] once `stop` is set;
    /// `on_full` is called once per wait.
    pub fn append(
        &self,
        payloads: &[Vec<u8>],
        stop: &AtomicBool,
        mut on_full: impl FnMut(),
    ) -> Result<AppendReport, BufferError> {
        let add: u64 = payloads.iter().map(|p| p.len() as u64 + HEADER_BYTES).sum();
        if add > self.bound {
            return Err(BufferError::RecordTooLarge {
                len: add as usize,
                limit: self.bound,
            });
        }
        let mut g = self.lock();
        if self.policy == WhenFull::Block {
            let mut told = false;
            while g.q.pending_bytes() + add > self.bound {
                if stop.load(Ordering::Relaxed) {
                    return Err(BufferError::Closed);
                }
                if !told {
                    on_full();
                    told = true;
                }
                g = self
                    .cond
                    .wait_timeout(g, Duration::from_millis(100))
                    .map_or_else(|e| e.into_inner().0, |r| r.0);
            }
        }
        let report = g.q.append(payloads)?;
        drop(g);
        self.cond.notify_all();
        Ok(report)
    }

    /// The next record after the read cursor, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Result<Option<Next>, BufferError> {
        let mut g = self.lock();
        let mut waited = false;
        loop {
            let batch = g.q.read(g.read, 1, 1)?;
            if let Some(record) = batch.records.into_iter().next() {
                g.read = batch.next;
                return Ok(Some(Next {
                    record,
                    cursor: batch.next,
                    skipped_bytes: batch.skipped_bytes,
                }));
            }
            if batch.skipped_bytes > 0 {
                g.read = batch.next;
                return Ok(Some(Next {
                    record: Vec::new(),
                    cursor: batch.next,
                    skipped_bytes: batch.skipped_bytes,
                }));
            }
            g.read = batch.next.max(g.read);
            if waited {
                return Ok(None);
            }
            waited = true;
            g = self
                .cond
                .wait_timeout(g, wait)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Everything before `upto` was delivered: save the cursor, free the segments behind it,
    /// and wake a waiting producer.
    pub fn ack(&self, upto: Cursor, weight: u64) -> Result<(), BufferError> {
        let mut g = self.lock();
        g.q.ack(upto, weight)?;
        if g.read < upto {
            g.read = upto;
        }
        drop(g);
        self.cond.notify_all();
        Ok(())
    }
}
