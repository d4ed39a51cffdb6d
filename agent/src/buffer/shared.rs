//! [`SharedQueue`]: the one [`DiskQueue`] shared between a producer and a consumer thread, with
//! the policy for a full queue and a read cursor that runs ahead of the acknowledged one.
//!
//! - [`FullPolicy::DropOldest`]: the queue's own bound: an append that does not fit drops the
//!   oldest segments, and the caller is told what it lost (metrics, where the newest matter most).
//! - [`FullPolicy::Block`]: an append that does not fit waits until the consumer acknowledges
//!   enough, or until `stop` turns true (log lines, where the producer can wait: the tailer holds
//!   its file position).
//!
//! Records are handed out in order from the read cursor ([`SharedQueue::next`]); only
//! [`SharedQueue::ack`] moves the durable cursor, so a restart hands out again everything not
//! acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::error::BufferError;
use super::queue::{AppendReport, Cursor, DiskQueue, OpenReport, QueueConfig, Weigher};
use super::segment::HEADER_BYTES;

/// What an append does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Drop the oldest segments (counted in the [`AppendReport`]).
    DropOldest,
    /// Wait for room.
    Block,
}

#[derive(Debug)]
struct State {
    q: DiskQueue,
    read: Cursor,
}

/// A [`DiskQueue`] behind a mutex, with a full-queue policy and a read cursor.
#[derive(Debug)]
pub struct SharedQueue {
    state: Mutex<State>,
    cond: Condvar,
    bound: u64,
    policy: FullPolicy,
}

/// One record handed out by [`SharedQueue::next`].
#[derive(Debug)]
pub struct Next {
    /// The payload.
    pub record: Vec<u8>,
    /// Acknowledge up to here once the record is delivered.
    pub cursor: Cursor,
    /// Damaged bytes skipped before it (never served).
    pub skipped_bytes: u64,
}

impl SharedQueue {
    /// Opens the queue in `dir`, holding at most `bound` bytes; `segment_bytes` per segment.
    pub fn open(
        dir: &std::path::Path,
        bound: u64,
        segment_bytes: u64,
        policy: FullPolicy,
        weigh: Weigher,
    ) -> Result<(SharedQueue, OpenReport), BufferError> {
        // Under `Block` the bound is kept here, so the queue's own drop never has to act; its
        // limit is twice the bound so one record may be as large as the bound.
        let max_bytes = match policy {
            FullPolicy::DropOldest => bound,
            FullPolicy::Block => bound.saturating_mul(2),
        };
        let (q, report) = DiskQueue::open(
            dir,
            QueueConfig {
                max_bytes,
                segment_bytes,
            },
            weigh,
        )?;
        let read = q.ack_cursor();
        Ok((
            SharedQueue {
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

    /// Bytes of the records not yet acknowledged (what the bound of [`FullPolicy::Block`]
    /// applies to; acknowledged bytes wait in the newest segment until it is closed).
    pub fn pending_bytes(&self) -> u64 {
        self.lock().q.pending_bytes()
    }

    /// The bound.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Appends `payloads` durably (fsynced before it returns). Under [`FullPolicy::Block`] it
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
        if self.policy == FullPolicy::Block {
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
