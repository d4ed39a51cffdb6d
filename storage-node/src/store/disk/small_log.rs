//! The small-object log: objects up to `--small-object-max-bytes` are appended to a per-bucket,
//! segmented, append-only log instead of getting a file each, and concurrent appends share one
//! fsync (group commit). A PUT is answered only after the fsync that covers its record.
//!
//! ```text
//! buckets/<bucket>/.log/<id:08x>-<gen:08x>.seg      segments, appended in id order
//!
//! record: | magic "NWLR" | kind u8 | body_len u32 LE | crc32c u32 LE | body (body_len bytes) |
//!         the CRC32C covers kind, body_len and body.
//! kind 1, object: the body is an object image (`format`: data, JSON footer, block CRC32C), whose
//!         footer holds the key, version and every attribute, exactly as an object file would.
//! kind 2, kill:   the body is JSON {"key", "version"}: every object record of `key` at or below
//!         `version` that comes before it in log order is dead (a purge, a collected tombstone).
//! kind 3, folded object: | seq u64 LE | ts_ms u64 LE | cum_bytes u64 LE | object image |: an
//!         object record that also carries the write's replication record ([`Fold`]; bucket, key,
//!         version and size are the image's), so one group fsync makes both durable (see
//!         `replication::log`). Read, compacted and scrubbed like kind 1.
//! ```
//! Only current, unversioned (`null`) objects of a bucket live here; a version that becomes
//! noncurrent is copied out to `.versions/` first. Which of a key's record and its object file is
//! current is decided by version, so replay rebuilds exactly what was acknowledged.
//!
//! Replay (start-up) reads every segment in order; in the last one a record cut at any byte or
//! failing its CRC32C with no intact record after it ends the log there and the file is truncated
//! back to the last whole record (nothing after it was acknowledged). A damaged record with intact
//! records after it (bit rot, a bad sector; in any segment) loses only itself: replay skips to the
//! next record (see `resync`), counts it (`storage_node_checksum_errors_total` and
//! `storage_node_scrub_errors_total`) and logs the segment, offset and bytes lost. A failed append is truncated back the same way, so a
//! full disk leaves no record that replays. Compaction (see `compact`) rewrites a sealed segment
//! with only its live records as the next generation of the same id, so log order never changes;
//! the generation with the highest number wins at start-up.
//!
//! Bucket deletion removes the bucket directory and with it the log; keys are only ever data in
//! a record, never a path.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::format::{FormatError, ObjectReader};
use super::fsutil::{create_dir_durable, sync_dir};
use super::layout::Layout;
use crate::metrics::Metrics;
use crate::replication::hlc::Version;
use crate::store::ObjectMeta;

const MAGIC: &[u8; 4] = b"NWLR";
/// magic, kind, body length, CRC32C.
pub const HEADER_LEN: usize = 13;
const KIND_OBJECT: u8 = 1;
const KIND_KILL: u8 = 2;
const KIND_FOLDED: u8 = 3;
/// The replication fields in front of a folded record's image.
const FOLD_LEN: usize = 24;
/// A segment is sealed once it holds this much; a record never spans two segments.
pub const SEGMENT_MAX_BYTES: u64 = 32 << 20;
/// The largest object the log takes (`small_object_max_bytes` is refused above it), so that a
/// record is always read and verified whole.
pub const MAX_SMALL_OBJECT_BYTES: u64 = 8 << 20;
/// The default threshold: see ARCHITECTURE.md for the measured reason.
pub const DEFAULT_SMALL_OBJECT_MAX_BYTES: u64 = 64 << 10;

/// Where a record is: segment id and generation, offset and length of the whole record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogLoc {
    pub seg: u32,
    pub generation: u32,
    pub off: u32,
    pub len: u32,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    /// The segment generation is gone (compacted meanwhile): look the key up again.
    #[error("segment moved")]
    Moved,
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// The replication record a folded object record carries: the rest of it (bucket, key, version,
/// size) is the object's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub seq: u64,
    pub ts_ms: u64,
    pub cum_bytes: u64,
}

/// A record met during replay, in log order.
#[derive(Debug)]
pub enum Replayed {
    Object {
        loc: LogLoc,
        meta: Box<ObjectMeta>,
        fold: Option<Fold>,
    },
    Kill {
        key: String,
        version: Version,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kill {
    key: String,
    version: Version,
}

/// Encodes one record.
fn encode(kind: u8, body: &[u8]) -> io::Result<Vec<u8>> {
    encode_parts(kind, &[body])
}

/// Encodes one record whose body is `parts` one after the other, copied once.
fn encode_parts(kind: u8, parts: &[&[u8]]) -> io::Result<Vec<u8>> {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(body_len).map_err(|_| io::Error::other("record too large"))?;
    let mut rec = Vec::with_capacity(HEADER_LEN + body_len);
    rec.extend_from_slice(MAGIC);
    rec.push(kind);
    rec.extend_from_slice(&len.to_le_bytes());
    let mut crc = crc32c::crc32c(&rec[4..9]);
    for p in parts {
        crc = crc32c::crc32c_append(crc, p);
    }
    rec.extend_from_slice(&crc.to_le_bytes());
    for p in parts {
        rec.extend_from_slice(p);
    }
    Ok(rec)
}

/// An object record holding `image` (an object image from `format::encode_image`).
pub fn object_record(image: &[u8]) -> io::Result<Vec<u8>> {
    encode(KIND_OBJECT, image)
}

/// A folded object record: `image` and the replication record `fold` of its write.
pub fn folded_record(image: &[u8], fold: Fold) -> io::Result<Vec<u8>> {
    let mut head = [0u8; FOLD_LEN];
    head[..8].copy_from_slice(&fold.seq.to_le_bytes());
    head[8..16].copy_from_slice(&fold.ts_ms.to_le_bytes());
    head[16..].copy_from_slice(&fold.cum_bytes.to_le_bytes());
    encode_parts(KIND_FOLDED, &[&head, image])
}

/// The object image of an object record's body (kind 1 or 3), and the fold of a folded one.
/// `None` for other kinds and for a folded body too short to hold its fold.
fn object_body(kind: u8, body: &[u8]) -> Option<(&[u8], Option<Fold>)> {
    match kind {
        KIND_OBJECT => Some((body, None)),
        KIND_FOLDED if body.len() >= FOLD_LEN => {
            let n = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&body[i..i + 8]);
                u64::from_le_bytes(b)
            };
            let fold = Fold {
                seq: n(0),
                ts_ms: n(8),
                cum_bytes: n(16),
            };
            Some((&body[FOLD_LEN..], Some(fold)))
        }
        _ => None,
    }
}

/// A kill record for `key` at or below `version`.
pub fn kill_record(key: &str, version: Version) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(&Kill {
        key: key.to_owned(),
        version,
    })
    .map_err(io::Error::other)?;
    encode(KIND_KILL, &body)
}

/// Decodes the record at the start of `buf`: (kind, body, whole length). `None` when `buf` does
/// not start with a whole, intact record (torn, or damaged).
pub fn decode(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < HEADER_LEN || &buf[..4] != MAGIC {
        return None;
    }
    let kind = buf[4];
    let len = u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
    let want = u32::from_le_bytes([buf[9], buf[10], buf[11], buf[12]]);
    let total = HEADER_LEN.checked_add(len)?;
    if buf.len() < total || !matches!(kind, KIND_OBJECT | KIND_KILL | KIND_FOLDED) {
        return None;
    }
    let body = &buf[HEADER_LEN..total];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[4..9]), body);
    (crc == want).then_some((kind, body, total))
}

/// The whole length a record header at the start of `buf` claims, when it looks like one (magic,
/// known kind, fits in `buf`); the CRC32C is not checked.
fn claimed_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER_LEN
        || &buf[..4] != MAGIC
        || !matches!(buf[4], KIND_OBJECT | KIND_KILL | KIND_FOLDED)
    {
        return None;
    }
    let len = u32::from_le_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
    let total = HEADER_LEN.checked_add(len)?;
    (total <= buf.len()).then_some(total)
}

/// At most this many bytes are hashed looking for candidates after one damaged record, so a
/// segment full of look-alike headers cannot stall start-up.
const RESYNC_HASH_BUDGET: usize = 1 << 30;

/// Where the next intact record starts after a damaged one at `from` (which does not decode), or
/// `None` when no intact record follows (the rest of `data` is lost, or is a torn tail).
///
/// When only the body is damaged the header still says where the record ends; that end is taken
/// when it is the end of `data` or an intact record starts there. Otherwise (a damaged header) the
/// bytes after `from` are searched for a record that decodes and from which intact records chain
/// to the end of `data` or to another damaged record whose header chains the same way. The chain
/// rule keeps a record image embedded in an object's data (the data is stored as sent) from being
/// taken for a record: that image would have to chain through the object's footer.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let rest = &data[from..];
    if let Some(total) = claimed_len(rest)
        && (total == rest.len() || decode(&rest[total..]).is_some())
    {
        return Some(from + total);
    }
    let mut hashed = 0usize;
    let mut p = from + 1;
    while p + HEADER_LEN <= data.len() {
        p += data[p..].windows(4).position(|w| w == MAGIC)?;
        if let Some(total) = claimed_len(&data[p..]) {
            hashed = hashed.saturating_add(total);
            if hashed > RESYNC_HASH_BUDGET {
                return None;
            }
            if decode(&data[p..]).is_some() && chains(data, p) {
                return Some(p);
            }
        }
        p += 1;
    }
    None
}

/// Whether the intact records starting at `p` chain to the end of `data`, or to a damaged record
/// whose header's length lands on the end or on an intact record.
fn chains(data: &[u8], mut p: usize) -> bool {
    while p < data.len() {
        match decode(&data[p..]) {
            Some((_, _, total)) => p += total,
            None => {
                let rest = &data[p..];
                return claimed_len(rest)
                    .is_some_and(|t| t == rest.len() || decode(&rest[t..]).is_some());
            }
        }
    }
    true
}

/// One step of a walk over a segment's bytes.
enum Step<'a> {
    /// An intact record: offset, kind, body, whole length.
    Record(usize, u8, &'a [u8], usize),
    /// Damaged bytes `start..end`, with an intact record (or the end of the segment) after them.
    Damaged(usize, usize),
    /// Damaged bytes from here to the end with no intact record after them.
    Tail(usize),
}

/// Walks a segment's records in order, skipping damaged ones (see [`resync`]).
struct Walk<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = Step<'a>;

    fn next(&mut self) -> Option<Step<'a>> {
        let data = self.data;
        let pos = self.pos;
        if pos >= data.len() {
            return None;
        }
        if u32::try_from(pos).is_err() {
            self.pos = data.len();
            return Some(Step::Tail(pos));
        }
        match decode(&data[pos..]) {
            Some((kind, body, total)) => {
                self.pos = pos + total;
                Some(Step::Record(pos, kind, body, total))
            }
            None => match resync(data, pos) {
                Some(next) if next < data.len() => {
                    self.pos = next;
                    Some(Step::Damaged(pos, next))
                }
                _ => {
                    self.pos = data.len();
                    Some(Step::Tail(pos))
                }
            },
        }
    }
}

fn walk(data: &[u8]) -> Walk<'_> {
    Walk { data, pos: 0 }
}

#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    len: u64,
    /// Bytes of records still needed (live objects, kill records).
    live: u64,
    /// Bytes of damaged records replay skipped (no index entry points into them).
    damaged: u64,
    /// Compaction found damage replay did not know of (an entry may point into it): the segment
    /// is left as it is, so that reads of that entry keep failing their CRC32C loudly.
    frozen: bool,
}

#[derive(Debug, Default)]
struct BucketLog {
    /// By (id, generation). While compaction installs a new generation both are here briefly.
    segments: BTreeMap<(u32, u32), Segment>,
}

impl BucketLog {
    fn active_id(&self) -> Option<u32> {
        self.segments.keys().next_back().map(|(id, _)| *id)
    }
}

#[derive(Debug)]
struct Append {
    bucket: String,
    record: Vec<u8>,
    waiter: Arc<Waiter>,
}

/// Where a queued append learns its outcome, or that it leads the next batch. Each waiter is woken
/// once for its outcome (and the next leader once more), never by another writer's outcome.
#[derive(Debug, Default)]
struct Waiter {
    state: Mutex<WaitState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
enum WaitState {
    #[default]
    Waiting,
    /// Write the pending batch (this append is in it).
    Lead,
    Done(Result<LogLoc, SharedErr>),
}

impl Waiter {
    fn set(&self, state: WaitState) {
        *lock(&self.state) = state;
        self.cv.notify_one();
    }
}

/// An io::Error that can be handed to several waiters.
#[derive(Debug, Clone)]
struct SharedErr {
    raw: Option<i32>,
    kind: io::ErrorKind,
    msg: String,
}

impl SharedErr {
    fn of(e: &io::Error) -> Self {
        SharedErr {
            raw: e.raw_os_error(),
            kind: e.kind(),
            msg: e.to_string(),
        }
    }

    fn into_io(self) -> io::Error {
        match self.raw {
            Some(raw) => io::Error::from_raw_os_error(raw),
            None => io::Error::new(self.kind, self.msg),
        }
    }
}

/// Consecutive records of a batch reserved in one segment, written together.
#[derive(Debug)]
struct Chunk {
    bucket: String,
    seg: (u32, u32),
    file: Arc<File>,
    start: u64,
    records: Vec<Vec<u8>>,
    /// Where each record's outcome is in the batch's results.
    members: Vec<usize>,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.records.iter().map(|r| r.len() as u64).sum::<u64>()
    }
}

/// A segment a batch wrote to, and its length before the batch.
#[derive(Debug)]
struct Touched {
    bucket: String,
    seg: (u32, u32),
    file: Arc<File>,
    before: u64,
}

#[derive(Debug, Default)]
struct Queue {
    pending: Vec<Append>,
    /// A writer is writing a batch; whoever queues meanwhile waits for the next one.
    leader: bool,
}

/// The small-object logs of every bucket, and their group-commit writer.
#[derive(Debug)]
pub struct SmallLog {
    layout: Layout,
    metrics: Arc<Metrics>,
    state: Mutex<HashMap<String, BucketLog>>,
    queue: Mutex<Queue>,
    fsyncs: AtomicU64,
    reclaimable: AtomicU64,
    damaged_records: AtomicU64,
    segment_max: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn seg_name(id: u32, generation: u32) -> String {
    format!("{id:08x}-{generation:08x}.seg")
}

fn parse_seg_name(name: &str) -> Option<(u32, u32)> {
    let stem = name.strip_suffix(".seg")?;
    let (id, generation) = stem.split_once('-')?;
    if id.len() != 8 || generation.len() != 8 {
        return None;
    }
    Some((
        u32::from_str_radix(id, 16).ok()?,
        u32::from_str_radix(generation, 16).ok()?,
    ))
}

impl SmallLog {
    pub fn new(layout: Layout, metrics: Arc<Metrics>) -> Self {
        Self::with_segment_max(layout, metrics, SEGMENT_MAX_BYTES)
    }

    /// [`SmallLog::new`] with smaller segments (tests of compaction and rollover).
    pub fn with_segment_max(layout: Layout, metrics: Arc<Metrics>, segment_max: u64) -> Self {
        SmallLog {
            layout,
            metrics,
            state: Mutex::new(HashMap::new()),
            queue: Mutex::new(Queue::default()),
            fsyncs: AtomicU64::new(0),
            reclaimable: AtomicU64::new(0),
            damaged_records: AtomicU64::new(0),
            segment_max,
        }
    }

    fn dir(&self, bucket: &str) -> PathBuf {
        self.layout.bucket(bucket).join(".log")
    }

    fn seg_path(&self, bucket: &str, id: u32, generation: u32) -> PathBuf {
        self.dir(bucket).join(seg_name(id, generation))
    }

    /// How many group fsyncs were made (tests count them).
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// How many damaged records replay and compaction found (each lost alone).
    pub fn damaged_records(&self) -> u64 {
        self.damaged_records.load(Ordering::Relaxed)
    }

    /// Counts a damaged record: a checksum error, found by the log's own scrub of its bytes.
    fn note_damage(&self) {
        self.damaged_records.fetch_add(1, Ordering::Relaxed);
        self.metrics.checksum_error();
        self.metrics.scrub_error();
    }

    /// Bytes held by dead records.
    pub fn reclaimable_bytes(&self) -> u64 {
        self.reclaimable.load(Ordering::Relaxed)
    }

    /// Whether `bucket` has any segment (then removals must be logged as kill records).
    pub fn has_segments(&self, bucket: &str) -> bool {
        lock(&self.state)
            .get(bucket)
            .is_some_and(|b| !b.segments.is_empty())
    }

    /// Appends a record to `bucket`'s log and returns once an fsync covers it. Appends that arrive
    /// while an fsync runs are written and made durable together by the next one.
    pub fn append(&self, bucket: &str, record: Vec<u8>) -> io::Result<LogLoc> {
        let waiter = Arc::new(Waiter::default());
        let mut lead = {
            let mut q = lock(&self.queue);
            q.pending.push(Append {
                bucket: bucket.to_owned(),
                record,
                waiter: waiter.clone(),
            });
            !std::mem::replace(&mut q.leader, true)
        };
        loop {
            if lead {
                self.lead();
            }
            let mut state = lock(&waiter.state);
            loop {
                match std::mem::take(&mut *state) {
                    WaitState::Done(r) => return r.map_err(SharedErr::into_io),
                    WaitState::Lead => {
                        lead = true;
                        break;
                    }
                    WaitState::Waiting => {
                        state = waiter.cv.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        }
    }

    /// Appends records (each to its bucket's log) as one group and returns once an fsync covers
    /// them all: one outcome per record, in order. They are queued together, so they go out in
    /// the same batch (one fsync per segment it touches), with whatever else is pending then.
    pub fn append_many(&self, records: Vec<(String, Vec<u8>)>) -> Vec<io::Result<LogLoc>> {
        if records.is_empty() {
            return Vec::new();
        }
        let waiters: Vec<Arc<Waiter>> = records
            .iter()
            .map(|_| Arc::new(Waiter::default()))
            .collect();
        let mut lead = {
            let mut q = lock(&self.queue);
            for ((bucket, record), waiter) in records.into_iter().zip(&waiters) {
                q.pending.push(Append {
                    bucket,
                    record,
                    waiter: waiter.clone(),
                });
            }
            !std::mem::replace(&mut q.leader, true)
        };
        // A batch takes every pending append at once, so these stay together: the lead can only
        // be handed to the first of them, and all of them are done by the same batch.
        let mut out = Vec::with_capacity(waiters.len());
        for waiter in &waiters {
            loop {
                if lead {
                    self.lead();
                    lead = false;
                }
                let mut state = lock(&waiter.state);
                let done = loop {
                    match std::mem::take(&mut *state) {
                        WaitState::Done(r) => break Some(r.map_err(SharedErr::into_io)),
                        WaitState::Lead => break None,
                        WaitState::Waiting => {
                            state = waiter.cv.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                };
                match done {
                    Some(r) => {
                        out.push(r);
                        break;
                    }
                    None => lead = true,
                }
            }
        }
        out
    }

    /// Writes and fsyncs every pending append, hands each writer its outcome, then hands the lead
    /// to the first writer that queued meanwhile, or gives it up.
    fn lead(&self) {
        let batch = std::mem::take(&mut lock(&self.queue).pending);
        let waiters: Vec<Arc<Waiter>> = batch.iter().map(|a| a.waiter.clone()).collect();
        let results = self.write_batch(batch);
        for (w, r) in waiters.iter().zip(results) {
            w.set(WaitState::Done(r));
        }
        let mut q = lock(&self.queue);
        match q.pending.first() {
            Some(next) => next.waiter.set(WaitState::Lead),
            None => q.leader = false,
        }
    }

    /// Writes a batch of appends and fsyncs each segment it touched once.
    /// The outcomes are in the batch's order. Consecutive records of one segment go out in one
    /// write.
    fn write_batch(&self, batch: Vec<Append>) -> Vec<Result<LogLoc, SharedErr>> {
        let n = batch.len();
        let mut results: Vec<Result<LogLoc, SharedErr>> = Vec::with_capacity(n);
        let mut touched: Vec<Touched> = Vec::new();
        {
            let mut state = lock(&self.state);
            let mut chunk: Option<Chunk> = None;
            for a in batch {
                match self.place(&mut state, &a, &mut touched) {
                    Ok((loc, file)) => {
                        let follows = chunk.as_ref().is_some_and(|c| {
                            c.bucket == a.bucket
                                && c.seg == (loc.seg, loc.generation)
                                && c.end() == u64::from(loc.off)
                        });
                        if !follows && let Some(c) = chunk.take() {
                            self.flush(&mut state, c, &mut results);
                        }
                        let c = chunk.get_or_insert_with(|| Chunk {
                            bucket: a.bucket.clone(),
                            seg: (loc.seg, loc.generation),
                            file,
                            start: u64::from(loc.off),
                            records: Vec::new(),
                            members: Vec::new(),
                        });
                        c.members.push(results.len());
                        c.records.push(a.record);
                        results.push(Ok(loc));
                    }
                    Err(e) => results.push(Err(SharedErr::of(&e))),
                }
            }
            if let Some(c) = chunk {
                self.flush(&mut state, c, &mut results);
            }
        }
        for Touched {
            bucket,
            seg,
            file,
            before,
        } in &touched
        {
            if let Err(e) = file.sync_data() {
                tracing::error!(bucket, error = %e, "fsync small-object log segment");
                let err = SharedErr::of(&e);
                // Nothing in this batch of this segment is acknowledged: cut it off again.
                let _ = file.set_len(*before);
                if let Some(s) = lock(&self.state)
                    .get_mut(bucket)
                    .and_then(|b| b.segments.get_mut(seg))
                {
                    s.len = *before;
                }
                for r in results.iter_mut() {
                    if let Ok(loc) = r
                        && (loc.seg, loc.generation) == *seg
                        && u64::from(loc.off) >= *before
                    {
                        *r = Err(err.clone());
                    }
                }
            }
        }
        self.fsyncs
            .fetch_add(touched.len() as u64, Ordering::Relaxed);
        if !touched.is_empty() {
            self.metrics.observe_group_commit(n);
        }
        results
    }

    /// Writes a chunk of records reserved by [`SmallLog::place`]; when that fails, cuts the
    /// segment back to where the chunk starts (nothing of a failed append may replay), gives the
    /// reservation back and fails every record of the chunk.
    fn flush(
        &self,
        state: &mut HashMap<String, BucketLog>,
        c: Chunk,
        results: &mut [Result<LogLoc, SharedErr>],
    ) {
        let written = match c.records.as_slice() {
            [one] => c.file.write_all_at(one, c.start),
            many => c.file.write_all_at(&many.concat(), c.start),
        };
        let Err(e) = written else {
            return;
        };
        if let Err(t) = c.file.set_len(c.start) {
            tracing::error!(bucket = c.bucket, error = %t, "truncate a failed append");
        }
        let bytes = c.end() - c.start;
        if let Some(s) = state
            .get_mut(&c.bucket)
            .and_then(|b| b.segments.get_mut(&c.seg))
        {
            s.len = c.start;
            s.live = s.live.saturating_sub(bytes);
        }
        let err = SharedErr::of(&e);
        for &i in &c.members {
            results[i] = Err(err.clone());
        }
    }

    /// Picks the segment an append goes to (a new one when the active one is full) and reserves
    /// its bytes there; the caller writes them.
    fn place(
        &self,
        state: &mut HashMap<String, BucketLog>,
        a: &Append,
        touched: &mut Vec<Touched>,
    ) -> io::Result<(LogLoc, Arc<File>)> {
        let len = a.record.len() as u64;
        if !state.contains_key(&a.bucket) {
            state.insert(a.bucket.clone(), BucketLog::default());
        }
        let Some(blog) = state.get_mut(&a.bucket) else {
            return Err(io::Error::other("bucket log vanished"));
        };
        let need_new = match blog.segments.iter().next_back() {
            None => true,
            Some((_, s)) => s.len > 0 && s.len + len > self.segment_max,
        };
        if need_new {
            let id = blog.active_id().map_or(Ok(0), |id| {
                id.checked_add(1)
                    .ok_or_else(|| io::Error::other("segment ids exhausted"))
            })?;
            let dir = self.dir(&a.bucket);
            if !self.layout.bucket(&a.bucket).is_dir() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "bucket is gone"));
            }
            create_dir_durable(&dir)?;
            let file = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.join(seg_name(id, 0)))?;
            sync_dir(&dir)?;
            blog.segments.insert(
                (id, 0),
                Segment {
                    file: Arc::new(file),
                    len: 0,
                    live: 0,
                    damaged: 0,
                    frozen: false,
                },
            );
        }
        let Some((&key, seg)) = blog.segments.iter_mut().next_back() else {
            return Err(io::Error::other("no active segment"));
        };
        let off = seg.len;
        let off32 = u32::try_from(off).map_err(|_| io::Error::other("segment too large"))?;
        let len32 = u32::try_from(len).map_err(|_| io::Error::other("record too large"))?;
        if !touched.iter().any(|t| t.bucket == a.bucket && t.seg == key) {
            touched.push(Touched {
                bucket: a.bucket.clone(),
                seg: key,
                file: seg.file.clone(),
                before: off,
            });
        }
        seg.len += len;
        seg.live += len;
        let loc = LogLoc {
            seg: key.0,
            generation: key.1,
            off: off32,
            len: len32,
        };
        Ok((loc, seg.file.clone()))
    }

    /// Reads and verifies the record at `loc`; returns the object image it holds.
    pub fn read_image(&self, bucket: &str, loc: LogLoc) -> Result<Vec<u8>, LogReadError> {
        let file = lock(&self.state)
            .get(bucket)
            .and_then(|b| b.segments.get(&(loc.seg, loc.generation)))
            .map(|s| s.file.clone())
            .ok_or(LogReadError::Moved)?;
        let mut buf = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut buf, u64::from(loc.off))
            .map_err(FormatError::Io)?;
        match decode(&buf).and_then(|(kind, body, total)| {
            let (image, _) = object_body(kind, body)?;
            Some((total - image.len(), total))
        }) {
            Some((start, total)) if total == buf.len() => {
                buf.drain(..start);
                Ok(buf)
            }
            _ => Err(LogReadError::Format(FormatError::Corrupt(format!(
                "small-object log record at segment {} offset {} fails its crc32c",
                loc.seg, loc.off
            )))),
        }
    }

    /// Opens the object at `loc`, verified (record CRC32C, footer, blocks).
    pub fn open(&self, bucket: &str, loc: LogLoc) -> Result<ObjectReader, LogReadError> {
        let image = self.read_image(bucket, loc)?;
        Ok(ObjectReader::from_image(image)?)
    }

    /// A record of `loc` is no longer needed (its object was replaced, removed or copied out).
    pub fn mark_dead(&self, bucket: &str, loc: LogLoc) {
        let mut state = lock(&self.state);
        if let Some(s) = state
            .get_mut(bucket)
            .and_then(|b| b.segments.get_mut(&(loc.seg, loc.generation)))
        {
            s.live = s.live.saturating_sub(u64::from(loc.len));
            self.reclaimable
                .fetch_add(u64::from(loc.len), Ordering::Relaxed);
        }
        drop(state);
        self.metrics.set_log_reclaimable(self.reclaimable_bytes());
    }

    /// Forgets a deleted bucket's log (its directory is gone with the bucket).
    pub fn forget_bucket(&self, bucket: &str) {
        if let Some(b) = lock(&self.state).remove(bucket) {
            let dead: u64 = b.segments.values().map(|s| s.len - s.live.min(s.len)).sum();
            let _ = self
                .reclaimable
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    Some(r.saturating_sub(dead))
                });
        }
        self.metrics.set_log_reclaimable(self.reclaimable_bytes());
    }

    /// Replays `bucket`'s log: registers its segments and returns every record in log order.
    /// Object records count as dead until [`SmallLog::mark_live`] says otherwise.
    pub fn replay(&self, bucket: &str) -> io::Result<Vec<Replayed>> {
        let dir = self.dir(bucket);
        let mut found: BTreeMap<u32, u32> = BTreeMap::new();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let mut stale = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            match parse_seg_name(&name) {
                Some((id, generation)) => {
                    let keep = found.get(&id).is_none_or(|g| *g < generation);
                    if keep {
                        if let Some(old) = found.insert(id, generation) {
                            stale.push(self.seg_path(bucket, id, old));
                        }
                    } else {
                        stale.push(entry.path());
                    }
                }
                // A compaction output never renamed into place.
                None => stale.push(entry.path()),
            }
        }
        for p in &stale {
            std::fs::remove_file(p)?;
        }
        if !stale.is_empty() {
            sync_dir(&dir)?;
        }
        let last = found.keys().next_back().copied();
        let mut blog = BucketLog::default();
        let mut dead_total = 0u64;
        for (&id, &generation) in &found {
            let path = self.seg_path(bucket, id, generation);
            let file = File::options().read(true).write(true).open(&path)?;
            let data = std::fs::read(&path)?;
            let found = scan(bucket, id, generation, &data, &mut out);
            let end = found.end;
            for &(at, lost) in &found.damaged {
                self.note_damage();
                tracing::error!(
                    bucket,
                    segment = id,
                    generation,
                    at,
                    lost,
                    "damaged record in the small-object log: it is lost, the records after it replay"
                );
            }
            if end < data.len() {
                if Some(id) == last {
                    tracing::warn!(
                        bucket,
                        segment = id,
                        at = end,
                        dropped = data.len() - end,
                        "small-object log ends in a torn or damaged record; truncating it"
                    );
                    file.set_len(end as u64)?;
                    file.sync_all()?;
                } else {
                    self.note_damage();
                    tracing::error!(
                        bucket,
                        segment = id,
                        generation,
                        at = end,
                        lost = data.len() - end,
                        "damaged tail in a sealed small-object log segment: no intact record follows it"
                    );
                }
            }
            let len = end as u64;
            let damaged: u64 = found.damaged.iter().map(|&(_, n)| n as u64).sum();
            dead_total += len - found.live;
            blog.segments.insert(
                (id, generation),
                Segment {
                    file: Arc::new(file),
                    len,
                    live: found.live,
                    damaged,
                    frozen: false,
                },
            );
        }
        lock(&self.state).insert(bucket.to_owned(), blog);
        self.reclaimable.fetch_add(dead_total, Ordering::Relaxed);
        Ok(out)
    }

    /// A replayed object record is live after all (it is the key's current version).
    pub fn mark_live(&self, bucket: &str, loc: LogLoc) {
        if let Some(s) = lock(&self.state)
            .get_mut(bucket)
            .and_then(|b| b.segments.get_mut(&(loc.seg, loc.generation)))
        {
            s.live += u64::from(loc.len);
            let _ = self
                .reclaimable
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    Some(r.saturating_sub(u64::from(loc.len)))
                });
        }
        self.metrics.set_log_reclaimable(self.reclaimable_bytes());
    }

    /// Sealed segments whose dead share is at least `min_dead_ratio`, most dead first:
    /// (bucket, id, generation, length).
    pub fn compaction_candidates(&self, min_dead_ratio: f64) -> Vec<(String, u32, u32, u64)> {
        let state = lock(&self.state);
        let mut out = Vec::new();
        for (bucket, b) in state.iter() {
            let active = b.active_id();
            for (&(id, generation), s) in &b.segments {
                if Some(id) == active || s.len == 0 || s.frozen {
                    continue;
                }
                let dead = s.len.saturating_sub(s.live) as f64 / s.len as f64;
                if dead >= min_dead_ratio {
                    out.push((bucket.clone(), id, generation, s.len - s.live.min(s.len)));
                }
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.3));
        out
    }

    /// The bytes of a sealed segment, whether it is the bucket's oldest, and how many of its
    /// bytes replay found damaged.
    pub fn segment_bytes(
        &self,
        bucket: &str,
        id: u32,
        generation: u32,
    ) -> io::Result<(Vec<u8>, bool, u64)> {
        let (file, len, oldest, damaged) = {
            let state = lock(&self.state);
            let b = state
                .get(bucket)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "bucket log is gone"))?;
            let s = b
                .segments
                .get(&(id, generation))
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "segment is gone"))?;
            let oldest = b.segments.keys().next().is_some_and(|(i, _)| *i == id);
            (s.file.clone(), s.len, oldest, s.damaged)
        };
        let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        file.read_exact_at(&mut buf, 0)?;
        Ok((buf, oldest, damaged))
    }

    /// Compaction found damage in a segment that replay did not: an index entry may point into
    /// it, so the segment is never compacted (its reads keep failing their CRC32C) and the damage
    /// is counted.
    pub fn freeze(&self, bucket: &str, id: u32, generation: u32, damaged: u64) {
        if let Some(s) = lock(&self.state)
            .get_mut(bucket)
            .and_then(|b| b.segments.get_mut(&(id, generation)))
        {
            s.frozen = true;
        }
        self.note_damage();
        tracing::error!(
            bucket,
            segment = id,
            generation,
            damaged,
            "compaction found a damaged record in a small-object log segment; the segment is left uncompacted"
        );
    }

    /// Writes `data` durably as generation `generation` of segment `id` (temp file, fsync, rename, fsync
    /// directory) and registers it with every byte live.
    pub fn install(&self, bucket: &str, id: u32, generation: u32, data: &[u8]) -> io::Result<()> {
        let dir = self.dir(bucket);
        let tmp = dir.join(format!("{}.tmp", seg_name(id, generation)));
        let path = self.seg_path(bucket, id, generation);
        {
            let f = File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all_at(data, 0)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        sync_dir(&dir)?;
        let file = File::options().read(true).write(true).open(&path)?;
        let mut state = lock(&self.state);
        let Some(b) = state.get_mut(bucket) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "bucket is gone"));
        };
        b.segments.insert(
            (id, generation),
            Segment {
                file: Arc::new(file),
                len: data.len() as u64,
                live: data.len() as u64,
                damaged: 0,
                frozen: false,
            },
        );
        Ok(())
    }

    /// Removes generation `generation` of segment `id` (compacted into a newer one, or wholly dead).
    pub fn remove(&self, bucket: &str, id: u32, generation: u32) -> io::Result<()> {
        let removed = lock(&self.state)
            .get_mut(bucket)
            .and_then(|b| b.segments.remove(&(id, generation)));
        if let Some(s) = removed {
            let dead = s.len.saturating_sub(s.live);
            let _ = self
                .reclaimable
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    Some(r.saturating_sub(dead))
                });
            match std::fs::remove_file(self.seg_path(bucket, id, generation)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            sync_dir(&self.dir(bucket))?;
        }
        self.metrics.set_log_reclaimable(self.reclaimable_bytes());
        Ok(())
    }

    /// Bytes held by every segment of every bucket.
    pub fn total_bytes(&self) -> u64 {
        lock(&self.state)
            .values()
            .flat_map(|b| b.segments.values())
            .map(|s| s.len)
            .sum()
    }

    /// The path of a segment (tests).
    pub fn segment_path(&self, bucket: &str, loc: LogLoc) -> PathBuf {
        self.seg_path(bucket, loc.seg, loc.generation)
    }

    /// The log directory of a bucket (tests).
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir(bucket)
    }
}

/// What scanning a segment found.
#[derive(Debug, Default)]
struct Scanned {
    /// Where the segment's usable bytes end: its length, or the start of a damaged tail.
    end: usize,
    /// Bytes of kill records (always live).
    live: u64,
    /// Damaged records with intact records after them: (offset, bytes).
    damaged: Vec<(usize, usize)>,
}

/// Scans a segment's bytes, pushing its records in order and skipping damaged ones.
fn scan(bucket: &str, id: u32, generation: u32, data: &[u8], out: &mut Vec<Replayed>) -> Scanned {
    let mut found = Scanned {
        end: data.len(),
        ..Scanned::default()
    };
    for step in walk(data) {
        let (pos, kind, body, total) = match step {
            Step::Record(pos, kind, body, total) => (pos, kind, body, total),
            Step::Damaged(start, end) => {
                found.damaged.push((start, end - start));
                continue;
            }
            Step::Tail(start) => {
                found.end = start;
                break;
            }
        };
        let (Ok(off), Ok(len)) = (u32::try_from(pos), u32::try_from(total)) else {
            found.end = pos;
            break;
        };
        let loc = LogLoc {
            seg: id,
            generation,
            off,
            len,
        };
        match object_body(kind, body) {
            Some((image, fold)) => match ObjectReader::from_image(image.to_vec()) {
                Ok(r) => out.push(Replayed::Object {
                    loc,
                    meta: Box::new(r.footer.meta),
                    fold,
                }),
                Err(e) => {
                    found.damaged.push((pos, total));
                    tracing::error!(bucket, segment = id, at = pos, error = %e, "unreadable object record in the small-object log");
                }
            },
            _ => match serde_json::from_slice::<Kill>(body) {
                Ok(k) => {
                    found.live += total as u64;
                    out.push(Replayed::Kill {
                        key: k.key,
                        version: k.version,
                    });
                }
                Err(e) => {
                    tracing::error!(bucket, segment = id, at = pos, error = %e, "unreadable kill record in the small-object log");
                }
            },
        }
    }
    found
}

/// What a record in a segment holds, for compaction.
#[derive(Debug)]
pub enum Content {
    /// An object of this key.
    Object(String),
    Kill,
}

/// A record of a segment: its offset, what it holds, its bytes.
#[derive(Debug)]
pub struct SegRecord<'a> {
    pub off: u32,
    pub content: Content,
    pub bytes: &'a [u8],
}

/// The intact records of a segment's bytes (tests), skipping damaged ones.
pub fn records(data: &[u8]) -> Vec<SegRecord<'_>> {
    records_checked(data).0
}

/// Parses the records of a segment's bytes (compaction), skipping damaged ones (see [`resync`]);
/// returns them and how many bytes were damaged (a record that fails its CRC32C or holds an
/// unreadable object image, or a damaged tail).
pub fn records_checked(data: &[u8]) -> (Vec<SegRecord<'_>>, u64) {
    let mut out = Vec::new();
    let mut damaged = 0u64;
    for step in walk(data) {
        match step {
            Step::Record(pos, kind, body, total) => {
                let Ok(off) = u32::try_from(pos) else {
                    damaged += (data.len() - pos) as u64;
                    break;
                };
                let content = match object_body(kind, body) {
                    Some((image, _)) => match ObjectReader::from_image(image.to_vec()) {
                        Ok(r) => Content::Object(r.footer.meta.key),
                        Err(_) => {
                            damaged += total as u64;
                            continue;
                        }
                    },
                    None => Content::Kill,
                };
                out.push(SegRecord {
                    off,
                    content,
                    bytes: &data[pos..pos + total],
                });
            }
            Step::Damaged(start, end) => damaged += (end - start) as u64,
            Step::Tail(start) => damaged += (data.len() - start) as u64,
        }
    }
    (out, damaged)
}

#[cfg(test)]
mod tests;
