//! [`Segments`]: segments, the acknowledged cursor, the byte bound and recovery.
//!
//! # Layout
//! ```text
//! <dir>/00000000000000000007.seg   segments, ascending ids; records as in `segment`
//! <dir>/cursor                     the ack cursor: segment:u64 LE | offset:u64 LE | crc32c:u32 LE
//! ```
//! # Durability
//! - **fsync policy: per batch, before the producer hears back.** [`Segments::append`] writes
//!   every record of a batch with one `write`, then `fdatasync`s the segment (and the directory
//!   when it created a segment) before returning. A producer that got `Ok` knows its records
//!   survive kill -9 and power loss. The agent appends one batch per collection, so this is one
//!   fsync per source per interval.
//! - The cursor file is replaced atomically: write `cursor.tmp`, fsync it, rename it over
//!   `cursor`, fsync the directory. A torn cursor write leaves the old cursor, which only means
//!   re-delivery, never loss.
//! - Segments wholly behind the cursor are deleted after the cursor is saved.
//!
//! # Recovery
//! At open, the newest segment is scanned and cut after its last valid record: a torn write at
//! the tail (kill -9 during `append`) is removed and never served. Older segments were complete
//! and fsynced before a newer one was started; a CRC mismatch found in one while reading (bit rot)
//! is logged and the rest of that segment is skipped, so damaged bytes are never served.
//!
//! # Bound
//! `max_bytes` bounds the segments on disk. When an append would go over it, the **oldest
//! segments are dropped** (the cursor moves past them) and the caller is told how many records
//! and how much weight (e.g. samples) it lost: after a long outage the newest data is worth the
//! most, and refusing new data would lose the same amount, only the newer part. A single batch
//! larger than the bound is refused.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::error::{BufferError, io_err};
use super::segment::{self, Decoded, HEADER_BYTES, MAX_RECORD_BYTES};

/// Tells the weight of a record (for example the samples in it), for the caller's counters.
pub type Weigher = fn(&[u8]) -> u64;

/// Sizes of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// The most bytes all segments together may hold.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once it reaches this size.
    pub segment_bytes: u64,
}

/// A position in the queue: a segment id and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// The segment id.
    pub segment: u64,
    /// The byte offset within the segment.
    pub offset: u64,
}

/// What one [`Segments::read`] returned.
#[derive(Debug, Default)]
pub struct ReadBatch {
    /// The payloads, in order.
    pub records: Vec<Vec<u8>>,
    /// Where the next read continues; acknowledge up to here once the records are delivered.
    pub next: Cursor,
    /// Damaged bytes skipped (never served).
    pub skipped_bytes: u64,
}

/// What [`Segments::append`] had to drop to stay under the bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendReport {
    /// Unacknowledged records deleted with the oldest segments.
    pub dropped_records: u64,
    /// Their total weight.
    pub dropped_weight: u64,
}

/// What [`Segments::open`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Bytes cut from the tail of the newest segment (a torn write).
    pub truncated_bytes: u64,
    /// Segments on disk after recovery.
    pub segments: usize,
    /// Unacknowledged records.
    pub pending_records: u64,
    /// Their total weight.
    pub pending_weight: u64,
    /// Whether the cut tail was a damaged record (a whole one failing its check), not a torn
    /// write.
    pub damaged_tail: bool,
}

/// The queue. Not internally synchronised: wrap it in a mutex to share it.
#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    cfg: QueueConfig,
    weigh: Weigher,
    /// Segment id -> durable length.
    segments: BTreeMap<u64, u64>,
    /// The segment being appended to.
    active: Option<(u64, File)>,
    ack: Cursor,
    pending_weight: u64,
}

const CURSOR_FILE: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const SEGMENT_EXT: &str = "seg";

fn segment_name(id: u64) -> String {
    format!("{id:020}.{SEGMENT_EXT}")
}

fn fsync_dir(dir: &Path) -> Result<(), BufferError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

impl Segments {
    /// Opens (or creates) the queue in `dir`, recovering from a crash.
    pub fn open(
        dir: &Path,
        cfg: QueueConfig,
        weigh: Weigher,
    ) -> Result<(Segments, OpenReport), BufferError> {
        if cfg.segment_bytes < 1024 || cfg.max_bytes < cfg.segment_bytes * 2 {
            return Err(BufferError::Config(
                "segment_bytes must be at least 1024 and max_bytes at least two segments",
            ));
        }
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io_err("list directory", dir))? {
            let entry = entry.map_err(io_err("list directory", dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == CURSOR_TMP {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(id) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let len = entry
                .metadata()
                .map_err(io_err("stat segment", &path))?
                .len();
            segments.insert(id, len);
        }
        let mut report = OpenReport::default();
        // Cut a torn tail off the newest segment.
        if let Some((&last, &len)) = segments.iter().next_back() {
            let path = dir.join(segment_name(last));
            let buf = segment::read_range(&path, 0, len)?;
            let scan = segment::scan(&buf);
            if scan.trailing > 0 {
                tracing::warn!(
                    segment = %path.display(),
                    cut_bytes = scan.trailing,
                    kept_records = scan.records,
                    "cut a torn or damaged tail off the newest buffer segment"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err("open segment", &path))?;
                f.set_len(scan.valid_len)
                    .map_err(io_err("truncate segment", &path))?;
                f.sync_all().map_err(io_err("fsync segment", &path))?;
                segments.insert(last, scan.valid_len);
                report.truncated_bytes = scan.trailing;
                report.damaged_tail = scan.damaged;
            }
        }
        let first = segments.keys().next().copied();
        let mut ack = match read_cursor(dir) {
            Some(c) => c,
            None => Cursor {
                segment: first.unwrap_or(0),
                offset: 0,
            },
        };
        if let Some(first) = first
            && ack.segment < first
        {
            ack = Cursor {
                segment: first,
                offset: 0,
            };
        }
        if let Some(&len) = segments.get(&ack.segment)
            && ack.offset > len
        {
            ack.offset = len;
        }
        let mut q = Segments {
            dir: dir.to_path_buf(),
            cfg,
            weigh,
            segments,
            active: None,
            ack,
            pending_weight: 0,
        };
        q.delete_behind_ack();
        let ids: Vec<u64> = q.segments.keys().copied().collect();
        for id in ids {
            let from = if id == q.ack.segment { q.ack.offset } else { 0 };
            let (records, weight) = q.weigh_segment(id, from)?;
            report.pending_records += records;
            report.pending_weight += weight;
        }
        q.pending_weight = report.pending_weight;
        report.segments = q.segments.len();
        Ok((q, report))
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(segment_name(id))
    }

    /// Counts the valid records of a segment from `from` and their weight.
    fn weigh_segment(&self, id: u64, from: u64) -> Result<(u64, u64), BufferError> {
        let len = self.segments.get(&id).copied().unwrap_or(0);
        if from >= len {
            return Ok((0, 0));
        }
        let buf = segment::read_range(&self.segment_path(id), from, len)?;
        let mut off = 0usize;
        let (mut records, mut weight) = (0u64, 0u64);
        while let Decoded::Record(p, n) = segment::decode(&buf[off..]) {
            records += 1;
            weight += (self.weigh)(p);
            off += n as usize;
        }
        Ok((records, weight))
    }

    /// Total bytes of all segments.
    pub fn total_bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// Segments on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of the records after the acknowledged cursor.
    pub fn pending_bytes(&self) -> u64 {
        self.segments
            .range(self.ack.segment..)
            .map(|(&id, &len)| {
                if id == self.ack.segment {
                    len.saturating_sub(self.ack.offset)
                } else {
                    len
                }
            })
            .sum()
    }

    /// The acknowledged cursor.
    pub fn ack_cursor(&self) -> Cursor {
        self.ack
    }

    /// The position after the last durable record.
    pub fn end_cursor(&self) -> Cursor {
        match self.segments.iter().next_back() {
            Some((&id, &len)) if id >= self.ack.segment => Cursor {
                segment: id,
                offset: len,
            },
            _ => self.ack,
        }
    }

    /// The weight appended but not yet acknowledged or dropped.
    pub fn pending_weight(&self) -> u64 {
        self.pending_weight
    }

    /// Appends `payloads` durably (written and fsynced before this returns).
    pub fn append(&mut self, payloads: &[Vec<u8>]) -> Result<AppendReport, BufferError> {
        let mut framed = Vec::with_capacity(
            payloads
                .iter()
                .map(|p| p.len() + HEADER_BYTES as usize)
                .sum(),
        );
        let mut weight = 0u64;
        for p in payloads {
            if p.len() as u64 > MAX_RECORD_BYTES {
                return Err(BufferError::RecordTooLarge {
                    len: p.len(),
                    limit: MAX_RECORD_BYTES,
                });
            }
            weight += (self.weigh)(p);
            segment::frame(&mut framed, p);
        }
        if framed.is_empty() {
            return Ok(AppendReport::default());
        }
        let add = framed.len() as u64;
        if add > self.cfg.max_bytes / 2 {
            return Err(BufferError::RecordTooLarge {
                len: framed.len(),
                limit: self.cfg.max_bytes / 2,
            });
        }
        let mut report = AppendReport::default();
        while self.total_bytes() + add > self.cfg.max_bytes {
            let Some((&oldest, _)) = self.segments.iter().next() else {
                break;
            };
            let (records, w) = self.drop_segment(oldest)?;
            report.dropped_records += records;
            report.dropped_weight += w;
        }
        let need_new = match &self.active {
            None => true,
            Some((id, _)) => self.segments.get(id).copied().unwrap_or(0) >= self.cfg.segment_bytes,
        };
        if need_new {
            self.start_segment()?;
        }
        let Some((id, file)) = self.active.as_mut() else {
            return Err(BufferError::Config("no active segment"));
        };
        let id = *id;
        let path = self.dir.join(segment_name(id));
        let before = self.segments.get(&id).copied().unwrap_or(0);
        let written = file
            .write_all(&framed)
            .and_then(|()| file.sync_data())
            .map_err(io_err("append to segment", &path));
        if let Err(e) = written {
            // Leave no half record behind for later appends to follow.
            let _ = file.set_len(before);
            self.active = None;
            return Err(e);
        }
        self.segments.insert(id, before + add);
        self.pending_weight += weight;
        if report.dropped_records > 0 {
            tracing::warn!(
                dropped_records = report.dropped_records,
                dropped_weight = report.dropped_weight,
                max_bytes = self.cfg.max_bytes,
                "buffer full: dropped the oldest unacknowledged records"
            );
        }
        Ok(report)
    }

    fn start_segment(&mut self) -> Result<(), BufferError> {
        let last = self.segments.keys().next_back().copied().unwrap_or(0);
        let id = last.max(self.ack.segment) + 1;
        let path = self.segment_path(id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_err("create segment", &path))?;
        fsync_dir(&self.dir)?;
        self.segments.insert(id, 0);
        self.active = Some((id, file));
        Ok(())
    }

    /// Deletes one segment that is (partly) unacknowledged; moves the cursor past it.
    fn drop_segment(&mut self, id: u64) -> Result<(u64, u64), BufferError> {
        let from = if id == self.ack.segment {
            self.ack.offset
        } else if id < self.ack.segment {
            u64::MAX
        } else {
            0
        };
        let (records, weight) = self.weigh_segment(id, from)?;
        if self.active.as_ref().is_some_and(|(a, _)| *a == id) {
            self.active = None;
        }
        let len = self.segments.get(&id).copied().unwrap_or(0);
        let cursor = Cursor {
            segment: id,
            offset: len,
        };
        if cursor > self.ack {
            self.save_cursor(cursor)?;
            self.ack = cursor;
        }
        let path = self.segment_path(id);
        fs::remove_file(&path).map_err(io_err("delete segment", &path))?;
        self.segments.remove(&id);
        self.pending_weight = self.pending_weight.saturating_sub(weight);
        Ok((records, weight))
    }

    /// Reads up to `max_records` records (and about `max_bytes`, at least one record) from
    /// `from`, which is moved forward to the acknowledged cursor if it lies behind it.
    pub fn read(
        &self,
        from: Cursor,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<ReadBatch, BufferError> {
        let mut cur = from.max(self.ack);
        let mut out = ReadBatch::default();
        let mut bytes = 0u64;
        for (&id, &len) in self.segments.range(cur.segment..) {
            if id > cur.segment {
                cur = Cursor {
                    segment: id,
                    offset: 0,
                };
            }
            if cur.offset >= len {
                continue;
            }
            let want = (len - cur.offset).min(max_bytes.saturating_sub(bytes).max(HEADER_BYTES));
            let path = self.segment_path(id);
            let mut buf = segment::read_range(&path, cur.offset, cur.offset + want)?;
            let mut off = 0usize;
            loop {
                if out.records.len() >= max_records
                    || (bytes >= max_bytes && !out.records.is_empty())
                {
                    out.next = cur;
                    return Ok(out);
                }
                if cur.offset >= len {
                    break;
                }
                match segment::decode(&buf[off..]) {
                    Decoded::Record(p, n) => {
                        out.records.push(p.to_vec());
                        off += n as usize;
                        cur.offset += n;
                        bytes += n;
                    }
                    Decoded::Short if buf.len() as u64 - (off as u64) < len - (cur.offset) => {
                        if !out.records.is_empty() {
                            out.next = cur;
                            return Ok(out);
                        }
                        // One record larger than the read window: read exactly it.
                        let rest = segment::read_range(&path, cur.offset, len)?;
                        let rec_len = match segment::decode(&rest) {
                            Decoded::Record(_, n) => n,
                            _ => len - cur.offset,
                        };
                        buf = rest;
                        buf.truncate(rec_len as usize);
                        off = 0;
                        if !matches!(segment::decode(&buf), Decoded::Record(..)) {
                            out.skipped_bytes += self.skip_damage(id, cur, len);
                            cur.offset = len;
                        }
                    }
                    Decoded::Short | Decoded::Corrupt => {
                        out.skipped_bytes += self.skip_damage(id, cur, len);
                        cur.offset = len;
                    }
                }
            }
        }
        out.next = cur;
        Ok(out)
    }

    fn skip_damage(&self, id: u64, at: Cursor, len: u64) -> u64 {
        tracing::error!(
            segment = %self.segment_path(id).display(),
            offset = at.offset,
            skipped_bytes = len - at.offset,
            "buffer segment damaged (CRC or length mismatch); skip the rest of it"
        );
        len - at.offset
    }

    /// Acknowledges everything before `upto`, whose records weighed `weight`: saves the cursor
    /// durably, then deletes segments wholly behind it. A cursor behind the saved one is ignored.
    pub fn ack(&mut self, upto: Cursor, weight: u64) -> Result<(), BufferError> {
        if upto <= self.ack {
            return Ok(());
        }
        self.save_cursor(upto)?;
        self.ack = upto;
        self.pending_weight = self.pending_weight.saturating_sub(weight);
        self.delete_behind_ack();
        Ok(())
    }

    fn delete_behind_ack(&mut self) {
        let active = self.active.as_ref().map(|(id, _)| *id);
        let behind: Vec<u64> = self
            .segments
            .iter()
            .filter(|&(&id, &len)| {
                Some(id) != active
                    && (id < self.ack.segment || (id == self.ack.segment && self.ack.offset >= len))
            })
            .map(|(&id, _)| id)
            .collect();
        // Keep the newest segment when it is the cursor's own, so new ids keep growing.
        for id in behind {
            let path = self.segment_path(id);
            match fs::remove_file(&path) {
                Ok(()) => {
                    self.segments.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "delete acknowledged segment")
                }
            }
        }
    }

    fn save_cursor(&self, c: Cursor) -> Result<(), BufferError> {
        let tmp = self.dir.join(CURSOR_TMP);
        let dst = self.dir.join(CURSOR_FILE);
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&c.segment.to_le_bytes());
        b.extend_from_slice(&c.offset.to_le_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let mut f = File::create(&tmp).map_err(io_err("create cursor", &tmp))?;
        f.write_all(&b).map_err(io_err("write cursor", &tmp))?;
        f.sync_all().map_err(io_err("fsync cursor", &tmp))?;
        fs::rename(&tmp, &dst).map_err(io_err("rename cursor", &dst))?;
        fsync_dir(&self.dir)
    }
}

/// The saved cursor, or `None` when there is none or it is damaged (then everything on disk is
/// delivered again: re-delivery, never loss).
fn read_cursor(dir: &Path) -> Option<Cursor> {
    let path = dir.join(CURSOR_FILE);
    let b = fs::read(&path).ok()?;
    if b.len() != 20 {
        tracing::warn!(path = %path.display(), "buffer cursor has the wrong size; start from the oldest segment");
        return None;
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[16..20]);
    if crc32c::crc32c(&b[..16]) != u32::from_le_bytes(crc) {
        tracing::warn!(path = %path.display(), "buffer cursor fails its CRC; start from the oldest segment");
        return None;
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[..8]);
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[8..16]);
    Some(Cursor {
        segment: u64::from_le_bytes(s),
        offset: u64::from_le_bytes(o),
    })
}
