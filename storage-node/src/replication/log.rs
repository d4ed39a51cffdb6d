//! The replication log: an append-only, CRC-checked record of every local write, in segment files
//! under `<data_dir>/replication/log/`. Shippers read it in order; it is truncated only below the
//! oldest position some attached peer still needs.
//!
//! ```text
//! segment file <first_seq:020>.seg:
//!   header  "NWRLOG01" | first_seq u64 LE | cum_bytes_before u64 LE | crc32c(previous 24) u32 LE
//!   record* len u32 LE | crc32c(payload) u32 LE | payload (JSON LogRecord, len bytes)
//! ```
//! A record refers to an object write or delete; it does not hold the object's bytes. The shipper
//! reads the object when it ships, so a later overwrite is shipped in its place (harmless: the peer
//! keeps the newest version). Appends are group-committed: each appender writes its record under the
//! writer lock, then waits for the sync lock; whoever holds it `fdatasync`s everything written so
//! far, so records appended while one fsync runs are all covered by the next one (one fsync per
//! batch, however many writers). An append returns (and the write it logs is acknowledged) only
//! after the fsync that covers its record. Sequence numbers are given under the writer lock, so
//! the file order is the sequence order. At start-up a torn tail (a crash in the middle of an
//! append) fails its CRC or length check and is cut off.
//!
//! **Folded records** ([`ReplLog::append_folded`]): a write that goes to the store's small-object
//! log carries its replication record (sequence number, time, cumulative bytes) inside its
//! small-object log record, so the one group fsync of that log makes the object, its index entry
//! and its replication record durable together. Its record here is written without an fsync of its
//! own (a later group commit, a roll-over or the bound below covers it), and stays unreadable until
//! the store settles it after that fsync. A crash can lose the unsynced tail of the last segment;
//! at start-up the store hands back the folded records it replayed ([`ReplLog::restore_folded`]
//! appends those past the log's end, in sequence order, and fsyncs). At most
//! [`FOLD_SYNC_SEQS`] sequence numbers are ever written past the last fsync: a folded append past
//! that bound fsyncs, so the store need only keep the folded records of that many last sequence
//! numbers at replay.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use prometheus::Histogram;
use serde::{Deserialize, Serialize};

use super::error::ReplicationError;
use super::hlc::Version;
use crate::store::ReplicaOp;

const HEADER_MAGIC: &[u8; 8] = b"NWRLOG01";
const HEADER_LEN: usize = 28;
const RECORD_HEAD: usize = 8;
/// A record over this size is refused on append and treated as damage when read.
pub const MAX_RECORD_LEN: usize = 64 * 1024;
/// The size at which a new segment is started.
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 << 20;
/// How much a reader reads from a segment at once.
const READ_CHUNK: usize = 256 * 1024;
/// A folded append fsyncs the log when more sequence numbers than this were written since the
/// last fsync (see the module doc). With every writer thread appending at once the unsynced
/// stretch stays below [`FOLD_REPLAY_SEQS`].
pub const FOLD_SYNC_SEQS: u64 = 1024;
/// The store keeps the folded records of this many last sequence numbers at replay.
pub const FOLD_REPLAY_SEQS: u64 = 8 * FOLD_SYNC_SEQS;
// The unsynced stretch (the bound, plus one append per writer thread past it) fits the window.
const _: () = assert!(FOLD_SYNC_SEQS + 4096 <= FOLD_REPLAY_SEQS);

/// One logged write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub seq: u64,
    /// When it was logged, Unix milliseconds (the lag is measured from here).
    pub ts_ms: u64,
    pub bucket: String,
    pub key: String,
    pub version: Version,
    /// Object bytes; 0 for a delete.
    pub size: u64,
    pub deleted: bool,
    /// Sum of `size` over every record up to and including this one.
    pub cum_bytes: u64,
    /// An operation other than an object write (bucket create/delete/versioning, version purge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<ReplicaOp>,
}

/// What a record is about, before it has a sequence number.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Version,
    pub size: u64,
    pub deleted: bool,
    pub op: Option<ReplicaOp>,
}

/// How an append becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// fsynced here, then readable.
    Synced,
    /// fsynced here, readable once settled.
    Unsettled,
    /// made durable by the store's log, readable once settled.
    Folded,
}

/// What start-up found in the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogOpenReport {
    pub segments: usize,
    pub records: u64,
    /// Bytes cut from the end of the last segment (a torn append).
    pub torn_bytes: u64,
    /// A segment other than the last was damaged: records may be missing, peers need recovery.
    pub damaged: bool,
    /// Folded records appended back from the store's log (their unsynced tail here was lost).
    pub restored_folded: u64,
}

#[derive(Debug, Clone)]
struct Segment {
    first_seq: u64,
    path: PathBuf,
}

#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    len: u64,
    segments: Vec<Segment>,
    next_seq: u64,
    cum_bytes: u64,
}

/// The durable replication log.
#[derive(Debug)]
pub struct ReplLog {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    sync_lock: Mutex<()>,
    /// Every record up to this one is fsynced here.
    synced_seq: AtomicU64,
    /// The last record written, and the cumulative bytes up to it.
    written_seq: AtomicU64,
    written_cum: AtomicU64,
    /// (first_seq of the segment, byte length) of what is written: a reader never looks past it,
    /// so it never sees a record that is still being written. Records in it that are not yet
    /// durable are unsettled, and readers stop before the first unsettled one.
    written_end: Mutex<(u64, u64)>,
    /// Records written that readers must not see yet: not durable, or their write not visible
    /// (see [`ReplLog::append_unsettled`]).
    unsettled: Mutex<std::collections::BTreeSet<u64>>,
    /// The highest readable sequence number, for shippers to wait on.
    durable: tokio::sync::watch::Sender<u64>,
    /// `fdatasync` calls made on segments (group commits and roll-overs).
    fsyncs: AtomicU64,
    /// Records each group commit made durable (`storage_node_replication_log_appends_per_fsync`).
    appends_per_fsync: OnceLock<Histogram>,
}

fn seg_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

fn io_ctx(context: &'static str) -> impl FnOnce(io::Error) -> ReplicationError {
    move |source| ReplicationError::Io { context, source }
}

fn encode_header(first_seq: u64, cum_before: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(HEADER_MAGIC);
    h[8..16].copy_from_slice(&first_seq.to_le_bytes());
    h[16..24].copy_from_slice(&cum_before.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

fn decode_header(h: &[u8]) -> Option<(u64, u64)> {
    if h.len() < HEADER_LEN || &h[..8] != HEADER_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(h[24..28].try_into().ok()?);
    if crc32c::crc32c(&h[..24]) != crc {
        return None;
    }
    Some((
        u64::from_le_bytes(h[8..16].try_into().ok()?),
        u64::from_le_bytes(h[16..24].try_into().ok()?),
    ))
}

/// Encodes one record with its length and CRC.
pub fn encode_record(rec: &LogRecord) -> Result<Vec<u8>, ReplicationError> {
    let payload = serde_json::to_vec(rec).map_err(|e| ReplicationError::Encode(e.to_string()))?;
    if payload.len() > MAX_RECORD_LEN {
        return Err(ReplicationError::Encode(format!(
            "record of {} bytes is over the limit",
            payload.len()
        )));
    }
    let mut out = Vec::with_capacity(RECORD_HEAD + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes the record at the start of `buf`: `Ok(Some((record, bytes used)))`, `Ok(None)` when
/// `buf` holds only part of it, `Err` when it is damaged.
pub fn decode_record(buf: &[u8]) -> Result<Option<(LogRecord, usize)>, String> {
    if buf.len() < RECORD_HEAD {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(format!("record length {len} out of range"));
    }
    if buf.len() < RECORD_HEAD + len {
        return Ok(None);
    }
    let payload = &buf[RECORD_HEAD..RECORD_HEAD + len];
    if crc32c::crc32c(payload) != crc {
        return Err("record crc32c mismatch".to_owned());
    }
    let rec: LogRecord =
        serde_json::from_slice(payload).map_err(|e| format!("record does not parse: {e}"))?;
    Ok(Some((rec, RECORD_HEAD + len)))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn create_segment(
    dir: &Path,
    first_seq: u64,
    cum_before: u64,
) -> Result<(File, Segment), ReplicationError> {
    let path = dir.join(seg_name(first_seq));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(io_ctx("create log segment"))?;
    f.write_all(&encode_header(first_seq, cum_before))
        .map_err(io_ctx("write log segment header"))?;
    f.sync_all().map_err(io_ctx("fsync log segment"))?;
    sync_dir(dir).map_err(io_ctx("fsync log directory"))?;
    Ok((f, Segment { first_seq, path }))
}

/// Scans one segment: its records, the offset after the last good one, and whether damage was found.
fn scan_segment(path: &Path) -> Result<(u64, u64, Vec<LogRecord>, u64, bool), ReplicationError> {
    let bytes = std::fs::read(path).map_err(io_ctx("read log segment"))?;
    let Some((first_seq, cum_before)) = decode_header(&bytes) else {
        return Ok((0, 0, Vec::new(), 0, true));
    };
    let mut pos = HEADER_LEN;
    let mut recs = Vec::new();
    let mut damaged = false;
    while pos < bytes.len() {
        match decode_record(&bytes[pos..]) {
            Ok(Some((r, used))) => {
                recs.push(r);
                pos += used;
            }
            Ok(None) | Err(_) => {
                damaged = true;
                break;
            }
        }
    }
    Ok((first_seq, cum_before, recs, pos as u64, damaged))
}

impl ReplLog {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub fn open(
        dir: PathBuf,
        segment_bytes: u64,
    ) -> Result<(Self, LogOpenReport), ReplicationError> {
        std::fs::create_dir_all(&dir).map_err(io_ctx("create log directory"))?;
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_ctx("list log directory"))? {
            let p = e.map_err(io_ctx("list log directory"))?.path();
            let first = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                names.push((first, p));
            }
        }
        names.sort();
        let mut report = LogOpenReport {
            segments: names.len(),
            ..Default::default()
        };
        let mut segments = Vec::new();
        let (mut next_seq, mut cum_bytes) = (1u64, 0u64);
        let mut tail: Option<(PathBuf, u64)> = None;
        for (i, (first, path)) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            let (hdr_first, cum_before, recs, good_len, damaged) = scan_segment(path)?;
            if hdr_first != *first {
                // A segment whose header is unreadable holds nothing we can trust.
                tracing::error!(segment = %path.display(), "replication log segment header is damaged; removing it");
                std::fs::remove_file(path).map_err(io_ctx("remove damaged log segment"))?;
                report.damaged = true;
                continue;
            }
            if recs.is_empty() {
                next_seq = next_seq.max(hdr_first);
                cum_bytes = cum_bytes.max(cum_before);
            }
            if let Some(r) = recs.last() {
                next_seq = r.seq + 1;
                cum_bytes = r.cum_bytes;
            }
            report.records += recs.len() as u64;
            let file_len = std::fs::metadata(path)
                .map_err(io_ctx("stat log segment"))?
                .len();
            if damaged {
                let cut = file_len - good_len;
                if last {
                    tracing::warn!(segment = %path.display(), bytes = cut, "cutting a torn record from the end of the replication log");
                    report.torn_bytes = cut;
                } else {
                    tracing::error!(segment = %path.display(), bytes = cut, "damaged record in the replication log; peers will be repaired by recovery");
                    report.damaged = true;
                }
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_ctx("open log segment"))?;
                f.set_len(good_len)
                    .map_err(io_ctx("truncate log segment"))?;
                f.sync_all().map_err(io_ctx("fsync log segment"))?;
            }
            segments.push(Segment {
                first_seq: *first,
                path: path.clone(),
            });
            if last {
                tail = Some((path.clone(), good_len));
            }
        }
        let (file, len) = match tail {
            Some((path, len)) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io_ctx("open log segment"))?;
                (f, len)
            }
            None => {
                let (f, seg) = create_segment(&dir, next_seq, cum_bytes)?;
                segments.push(seg);
                (f, HEADER_LEN as u64)
            }
        };
        let last_seq = next_seq - 1;
        let (durable, _) = tokio::sync::watch::channel(last_seq);
        let tail_end = (segments.last().map_or(0, |s| s.first_seq), len);
        let log = ReplLog {
            dir,
            segment_bytes: segment_bytes.max(HEADER_LEN as u64 + 1),
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                len,
                segments,
                next_seq,
                cum_bytes,
            }),
            sync_lock: Mutex::new(()),
            synced_seq: AtomicU64::new(last_seq),
            written_seq: AtomicU64::new(last_seq),
            written_cum: AtomicU64::new(cum_bytes),
            written_end: Mutex::new(tail_end),
            unsettled: Mutex::new(std::collections::BTreeSet::new()),
            durable,
            fsyncs: AtomicU64::new(0),
            appends_per_fsync: OnceLock::new(),
        };
        Ok((log, report))
    }

    /// Observes the number of records each group commit makes durable into `h` (set once).
    pub fn set_appends_per_fsync(&self, h: Histogram) {
        let _ = self.appends_per_fsync.set(h);
    }

    /// The `fdatasync` calls made on segments since the log was opened.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record and returns once it is durable (group commit).
    pub fn append(&self, new: NewRecord<'_>) -> Result<LogRecord, ReplicationError> {
        let rec = self.append_inner(new, Mode::Synced)?;
        self.settle(rec.seq);
        Ok(rec)
    }

    /// Like [`ReplLog::append`], but readers do not see this record (nor any after it) until
    /// [`ReplLog::settle`] is called with its sequence number: the store logs a write before it makes
    /// it visible, and a shipper must not look for the object before it is there.
    pub fn append_unsettled(&self, new: NewRecord<'_>) -> Result<LogRecord, ReplicationError> {
        self.append_inner(new, Mode::Unsettled)
    }

    /// Writes a record whose durability the caller's own log provides (a folded record, see the
    /// module doc): no fsync here, unless [`FOLD_SYNC_SEQS`] sequence numbers are unsynced. The
    /// caller makes the record durable in its log and then calls [`ReplLog::settle`], also when
    /// that failed (the record then refers to a write that did not happen: the shipper ships what
    /// is there, as after a crash between logging and writing).
    pub fn append_folded(&self, new: NewRecord<'_>) -> Result<LogRecord, ReplicationError> {
        self.append_inner(new, Mode::Folded)
    }

    /// Appends the folded records the store replayed whose sequence numbers are past this log's
    /// end (their unsynced tail was lost in a crash), in sequence order, and fsyncs. Returns how
    /// many were appended. Start-up only, before anything else is appended.
    pub fn restore_folded(&self, mut recs: Vec<LogRecord>) -> Result<u64, ReplicationError> {
        recs.sort_by_key(|r| r.seq);
        let mut n = 0u64;
        let mut w = self.writer();
        for rec in recs {
            if rec.seq < w.next_seq {
                continue;
            }
            let bytes = encode_record(&rec)?;
            self.write_locked(&mut w, &bytes, rec.seq)?;
            w.next_seq = rec.seq + 1;
            w.cum_bytes = rec.cum_bytes;
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        w.file
            .sync_data()
            .map_err(io_ctx("fsync replication log"))?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let last = w.next_seq - 1;
        self.publish(&w, last);
        self.synced_seq.store(last, Ordering::Release);
        drop(w);
        self.durable.send_replace(self.readable_seq());
        Ok(n)
    }

    /// Writes an encoded record at the end of the current segment, rolling over first when it is
    /// full (the old segment is made durable before anything goes to the new one).
    fn write_locked(&self, w: &mut Writer, bytes: &[u8], seq: u64) -> Result<(), ReplicationError> {
        if w.len + bytes.len() as u64 > self.segment_bytes && w.len > HEADER_LEN as u64 {
            w.file.sync_data().map_err(io_ctx("fsync log segment"))?;
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            let (f, seg) = create_segment(&self.dir, seq, w.cum_bytes)?;
            w.file = Arc::new(f);
            w.len = HEADER_LEN as u64;
            w.segments.push(seg);
        }
        w.file
            .write_all_at(bytes, w.len)
            .map_err(io_ctx("append to replication log"))?;
        w.len += bytes.len() as u64;
        Ok(())
    }

    /// Makes what the writer wrote, up to `seq`, visible to readers (unsettled records excepted).
    fn publish(&self, w: &Writer, seq: u64) {
        *self.written_end.lock().unwrap_or_else(|e| e.into_inner()) =
            (w.segments.last().map_or(0, |s| s.first_seq), w.len);
        self.written_cum.store(w.cum_bytes, Ordering::Release);
        self.written_seq.store(seq, Ordering::Release);
    }

    /// Makes an unsettled record readable (its write is visible now, or failed).
    pub fn settle(&self, seq: u64) {
        self.unsettled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&seq);
        self.durable.send_replace(self.readable_seq());
    }

    /// The highest sequence number readers may see: written, and no unsettled record at or below
    /// (every record is unsettled until it is durable).
    pub fn readable_seq(&self) -> u64 {
        let synced = self.written_seq.load(Ordering::Acquire);
        match self
            .unsettled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
        {
            Some(first) => synced.min(first - 1),
            None => synced,
        }
    }

    fn append_inner(&self, new: NewRecord<'_>, mode: Mode) -> Result<LogRecord, ReplicationError> {
        let rec = {
            let mut w = self.writer();
            let rec = LogRecord {
                seq: w.next_seq,
                ts_ms: crate::store::now_ms(),
                bucket: new.bucket.to_owned(),
                key: new.key.to_owned(),
                version: new.version,
                size: new.size,
                deleted: new.deleted,
                cum_bytes: w.cum_bytes + new.size,
                op: new.op,
            };
            let bytes = encode_record(&rec)?;
            self.write_locked(&mut w, &bytes, rec.seq)?;
            // Unreadable until durable (and, but for `Synced`, until settled by the caller).
            self.unsettled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(rec.seq);
            w.next_seq += 1;
            w.cum_bytes = rec.cum_bytes;
            self.publish(&w, rec.seq);
            rec
        };
        let sync = match mode {
            Mode::Synced | Mode::Unsettled => true,
            Mode::Folded => {
                rec.seq
                    .saturating_sub(self.synced_seq.load(Ordering::Acquire))
                    > FOLD_SYNC_SEQS
            }
        };
        if sync && let Err(e) = self.sync_to(rec.seq) {
            self.settle(rec.seq);
            return Err(e);
        }
        Ok(rec)
    }

    /// Makes every record up to `seq` durable; one caller syncs for all who wait (group commit).
    fn sync_to(&self, seq: u64) -> Result<(), ReplicationError> {
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _leader = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        // The fsync before this one may have covered `seq` (it was written while that one ran).
        let before = self.synced_seq.load(Ordering::Acquire);
        if before >= seq {
            return Ok(());
        }
        let (file, upto) = {
            let w = self.writer();
            (w.file.clone(), w.next_seq - 1)
        };
        file.sync_data().map_err(io_ctx("fsync replication log"))?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = self.appends_per_fsync.get() {
            h.observe(upto.saturating_sub(before) as f64);
        }
        self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// The highest durable sequence number (0 when nothing was ever logged): fsynced here, or
    /// settled (a folded record is settled after the fsync of the store's log that holds it).
    pub fn last_seq(&self) -> u64 {
        self.synced_seq
            .load(Ordering::Acquire)
            .max(self.readable_seq())
    }

    /// [`LogRecord::cum_bytes`] of the last record written.
    pub fn last_cum_bytes(&self) -> u64 {
        self.written_cum.load(Ordering::Acquire)
    }

    /// The highest sequence number fsynced in this log (folded records after it are durable in
    /// the store's log).
    pub fn synced_seq(&self) -> u64 {
        self.synced_seq.load(Ordering::Acquire)
    }

    /// Changes to [`ReplLog::readable_seq`].
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable.subscribe()
    }

    fn segments(&self) -> Vec<Segment> {
        self.writer().segments.clone()
    }

    /// Removes every segment whose records all have `seq < first_needed`, and returns the delete
    /// records they held (for tombstone garbage collection). The current segment always stays.
    pub fn truncate_before(&self, first_needed: u64) -> Result<Vec<LogRecord>, ReplicationError> {
        let doomed: Vec<Segment> = {
            let mut w = self.writer();
            let mut n = 0;
            while n + 1 < w.segments.len() && w.segments[n + 1].first_seq <= first_needed {
                n += 1;
            }
            w.segments.drain(..n).collect()
        };
        let mut deletes = Vec::new();
        for seg in &doomed {
            if let Ok((_, _, recs, _, _)) = scan_segment(&seg.path) {
                deletes.extend(recs.into_iter().filter(|r| r.deleted));
            }
            std::fs::remove_file(&seg.path).map_err(io_ctx("remove log segment"))?;
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir).map_err(io_ctx("fsync log directory"))?;
            tracing::debug!(
                segments = doomed.len(),
                first_needed,
                "truncated the replication log"
            );
        }
        Ok(deletes)
    }

    /// The number of segment files.
    pub fn segment_count(&self) -> usize {
        self.writer().segments.len()
    }
}

/// Reads the log in order from a position, up to the durable end.
#[derive(Debug)]
pub struct LogReader {
    log: Arc<ReplLog>,
    /// The next sequence number wanted.
    next_seq: u64,
    /// (segment first_seq, file, byte offset) of the next unread record.
    pos: Option<(u64, File, u64)>,
}

impl LogReader {
    /// A reader whose first record will be the first one with `seq >= from_seq`.
    pub fn new(log: Arc<ReplLog>, from_seq: u64) -> Self {
        LogReader {
            log,
            next_seq: from_seq,
            pos: None,
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Up to `max_records` durable records (fewer when `max_bytes` of objects is reached, but at
    /// least one when any is there).
    pub fn read(
        &mut self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<LogRecord>, ReplicationError> {
        let durable = self.log.readable_seq();
        let mut out: Vec<LogRecord> = Vec::new();
        let mut bytes = 0u64;
        while self.next_seq <= durable
            && out.len() < max_records
            && (out.is_empty() || bytes < max_bytes)
        {
            if self.pos.is_none() && !self.open_segment()? {
                break;
            }
            let Some((first, file, off)) = self.pos.as_mut() else {
                break;
            };
            let first = *first;
            let (end_seg, end_len) = *self
                .log
                .written_end
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let want = if first == end_seg {
                end_len.saturating_sub(*off).min(READ_CHUNK as u64) as usize
            } else {
                READ_CHUNK
            };
            let mut buf = vec![0u8; want];
            let n = file
                .read_at(&mut buf, *off)
                .map_err(io_ctx("read log segment"))?;
            buf.truncate(n);
            let mut used = 0;
            let mut progressed = false;
            while used < buf.len()
                && out.len() < max_records
                && (out.is_empty() || bytes < max_bytes)
            {
                match decode_record(&buf[used..]) {
                    Ok(Some((r, len))) => {
                        used += len;
                        progressed = true;
                        if r.seq > durable {
                            // Written but not yet synced: read it again later.
                            used -= len;
                            break;
                        }
                        if r.seq >= self.next_seq {
                            self.next_seq = r.seq + 1;
                            bytes += r.size;
                            out.push(r);
                        }
                    }
                    Ok(None) => break,
                    Err(detail) => {
                        return Err(ReplicationError::Corrupt(format!(
                            "segment {first}: {detail}"
                        )));
                    }
                }
            }
            *off += used as u64;
            if !progressed {
                if first == end_seg {
                    // The durable end of the log is in this segment.
                    break;
                }
                // End of a rotated (hence fully durable) segment: move to the next one.
                let segs = self.log.segments();
                match segs.iter().find(|s| s.first_seq > first) {
                    Some(next) => {
                        self.next_seq = self.next_seq.max(next.first_seq);
                        self.pos = None;
                    }
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// Opens the segment holding `next_seq`; false when there is none yet.
    fn open_segment(&mut self) -> Result<bool, ReplicationError> {
        let segs = self.log.segments();
        let Some(seg) = segs
            .iter()
            .rev()
            .find(|s| s.first_seq <= self.next_seq)
            .or_else(|| segs.first())
        else {
            return Ok(false);
        };
        let file = File::open(&seg.path).map_err(io_ctx("open log segment"))?;
        self.next_seq = self.next_seq.max(seg.first_seq);
        self.pos = Some((seg.first_seq, file, HEADER_LEN as u64));
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
