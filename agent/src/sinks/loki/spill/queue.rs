//! The segment files, the cursor, appends (fsynced) and the in-order reader.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{decode_entries, encode_entries};
use crate::logs::{LogEntry, LogMetrics};

const HEADER: u64 = 8;
/// A new segment starts once one holds this many bytes.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// What failed in the spill buffer.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// An I/O error on a segment, the cursor or the directory.
    #[error("spill buffer {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// One chunk is larger than the whole buffer.
    #[error("a chunk of {0} bytes does not fit the spill buffer")]
    TooLarge(u64),
    /// The pipeline is stopping.
    #[error("spill buffer closed")]
    Closed,
}

/// A position in the buffer: the byte after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpillCursor {
    /// The segment id.
    pub segment: u64,
    /// The offset in it.
    pub offset: u64,
}

#[derive(Debug)]
struct Inner {
    /// Segment id -> bytes on disk.
    segments: BTreeMap<u64, u64>,
    writer: Option<(u64, std::fs::File)>,
    reader: Option<(u64, std::fs::File)>,
    read: SpillCursor,
    commit: SpillCursor,
    total: u64,
    warned_full: bool,
}

/// A bounded, CRC-checked, on-disk FIFO of entry chunks.
#[derive(Debug)]
pub struct SpillQueue {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
    cond: Condvar,
    metrics: Arc<LogMetrics>,
    name: String,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:020}.log"))
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SpillError + 'a {
    move |source| SpillError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the record at `off`: `Ok(Some((payload, next)))`, `Ok(None)` at a clean or torn end,
/// `Err(())` for a CRC mismatch.
fn read_record(f: &std::fs::File, off: u64, size: u64) -> Result<Option<(Vec<u8>, u64)>, ()> {
    if off + HEADER > size {
        return Ok(None);
    }
    let mut h = [0u8; HEADER as usize];
    if f.read_exact_at(&mut h, off).is_err() {
        return Ok(None);
    }
    let len = u64::from(u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if off + HEADER + len > size {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    if f.read_exact_at(&mut payload, off + HEADER).is_err() {
        return Ok(None);
    }
    if crc32c::crc32c(&payload) != crc {
        return Err(());
    }
    Ok(Some((payload, off + HEADER + len)))
}

impl SpillQueue {
    /// Opens (or creates) the buffer in `dir`, bounded to `max_bytes` on disk.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        metrics: Arc<LogMetrics>,
        name: &str,
    ) -> Result<Self, SpillError> {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut segments = BTreeMap::new();
        for e in std::fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
            let n = e.file_name();
            let Some(id) = n
                .to_str()
                .and_then(|s| s.strip_prefix("seg-"))
                .and_then(|s| s.strip_suffix(".log"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let size = e.metadata().map_err(io("stat", &e.path()))?.len();
            segments.insert(id, size);
        }
        let cursor_path = dir.join("cursor.json");
        let first = segments.keys().next().copied().unwrap_or(1);
        let mut commit = std::fs::read(&cursor_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<SpillCursor>(&b).ok())
            .unwrap_or(SpillCursor {
                segment: first,
                offset: 0,
            });
        if commit.segment < first {
            commit = SpillCursor {
                segment: first,
                offset: 0,
            };
        }
        for id in segments
            .keys()
            .copied()
            .filter(|id| *id < commit.segment)
            .collect::<Vec<_>>()
        {
            let _ = std::fs::remove_file(seg_path(dir, id));
            segments.remove(&id);
        }
        // Cut a torn record off the last segment.
        if let Some((&last, &size)) = segments.iter().next_back() {
            let p = seg_path(dir, last);
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .map_err(io("open", &p))?;
            let mut off = 0;
            loop {
                match read_record(&f, off, size) {
                    Ok(Some((_, next))) => off = next,
                    Ok(None) => break,
                    // A whole record with a bad CRC is damage, not a torn write: keep it for
                    // the reader to count.
                    Err(()) => {
                        off = size;
                        break;
                    }
                }
            }
            if off < size {
                tracing::warn!(segment = %p.display(), kept = off, size, "spill buffer: cut a torn record at the end");
                f.set_len(off).map_err(io("truncate", &p))?;
                f.sync_all().map_err(io("fsync", &p))?;
                segments.insert(last, off);
            }
        }
        let total = segments.values().sum();
        let q = SpillQueue {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1024 * 1024),
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                reader: None,
                read: commit,
                commit,
                total,
                warned_full: false,
            }),
            cond: Condvar::new(),
            metrics,
            name: name.to_string(),
        };
        q.metrics.buffer(&q.name, total);
        q.metrics.buffer_limit(&q.name, q.max_bytes);
        Ok(q)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.lock().total
    }

    /// The bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Appends entries durably (written and fsynced before it returns). Waits while the buffer
    /// is full, until `stop` turns true.
    pub fn append(&self, entries: &[LogEntry], stop: &AtomicBool) -> Result<(), SpillError> {
        let payload = encode_entries(entries);
        let rec = HEADER + payload.len() as u64;
        if rec > self.max_bytes {
            return Err(SpillError::TooLarge(rec));
        }
        let mut g = self.lock();
        while g.total + rec > self.max_bytes {
            if stop.load(Ordering::Relaxed) {
                return Err(SpillError::Closed);
            }
            if !g.warned_full {
                tracing::warn!(sink = %self.name, max_bytes = self.max_bytes,
                    "spill buffer full (Loki slow or down); pod log tailing pauses until it drains");
                g.warned_full = true;
            }
            g = self
                .cond
                .wait_timeout(g, Duration::from_millis(100))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        g.warned_full = false;
        let need_new = match &g.writer {
            Some((id, _)) => g.segments.get(id).copied().unwrap_or(0) + rec > SEGMENT_BYTES,
            None => true,
        };
        if need_new {
            let id = match g.segments.iter().next_back() {
                Some((&last, &size)) if g.writer.is_none() && size + rec <= SEGMENT_BYTES => last,
                Some((&last, _)) => last + 1,
                None => g.commit.segment + 1,
            };
            let p = seg_path(&self.dir, id);
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&p)
                .map_err(io("open", &p))?;
            if let std::collections::btree_map::Entry::Vacant(v) = g.segments.entry(id) {
                v.insert(0);
                std::fs::File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io("fsync", &self.dir))?;
            }
            g.writer = Some((id, f));
        }
        let Some((id, f)) = &mut g.writer else {
            return Err(SpillError::Closed);
        };
        let id = *id;
        let p = seg_path(&self.dir, id);
        let mut buf = Vec::with_capacity(rec as usize);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        f.write_all(&buf).map_err(io("write", &p))?;
        f.sync_data().map_err(io("fsync", &p))?;
        *g.segments.entry(id).or_insert(0) += rec;
        g.total += rec;
        let total = g.total;
        drop(g);
        self.metrics.buffer(&self.name, total);
        self.cond.notify_all();
        Ok(())
    }

    /// The next record after the last one handed out, waiting up to `wait` for one.
    pub fn next(&self, wait: Duration) -> Option<(Vec<LogEntry>, SpillCursor)> {
        let mut g = self.lock();
        let mut waited = false;
        loop {
            let at = g.read;
            let size = g.segments.get(&at.segment).copied();
            match size {
                Some(size) if at.offset < size => {
                    if g.reader.as_ref().is_none_or(|(id, _)| *id != at.segment) {
                        let p = seg_path(&self.dir, at.segment);
                        match std::fs::File::open(&p) {
                            Ok(f) => g.reader = Some((at.segment, f)),
                            Err(e) => {
                                tracing::warn!(segment = %p.display(), error = %e, "spill buffer: open segment");
                                return None;
                            }
                        }
                    }
                    let rec = match &g.reader {
                        Some((_, f)) => read_record(f, at.offset, size),
                        None => return None,
                    };
                    match rec {
                        Ok(Some((payload, next))) => {
                            g.read.offset = next;
                            let cursor = g.read;
                            match decode_entries(&payload) {
                                Some(entries) => return Some((entries, cursor)),
                                None => self.corrupt(&mut g, at),
                            }
                        }
                        Ok(None) => return None,
                        Err(()) => self.corrupt(&mut g, at),
                    }
                }
                _ => {
                    // Past this segment's end: move on if a later one exists.
                    if let Some((&next, _)) = g.segments.range(at.segment + 1..).next() {
                        g.read = SpillCursor {
                            segment: next,
                            offset: 0,
                        };
                        continue;
                    }
                    if waited {
                        return None;
                    }
                    waited = true;
                    g = self
                        .cond
                        .wait_timeout(g, wait)
                        .map_or_else(|e| e.into_inner().0, |r| r.0);
                }
            }
        }
    }

    fn corrupt(&self, g: &mut Inner, at: SpillCursor) {
        tracing::error!(sink = %self.name, segment = at.segment, offset = at.offset,
            "spill buffer: a record fails its CRC; the rest of this segment is dropped");
        self.metrics.dropped("loki", "spill_corrupt", 1);
        let end = g.segments.get(&at.segment).copied().unwrap_or(0);
        g.read = SpillCursor {
            segment: at.segment,
            offset: end,
        };
    }

    /// Loki acknowledged everything before `c`: move the cursor, delete finished segments.
    pub fn commit(&self, c: SpillCursor) -> Result<(), SpillError> {
        let mut g = self.lock();
        if c <= g.commit {
            return Ok(());
        }
        g.commit = c;
        let writer = g.writer.as_ref().map(|(id, _)| *id);
        let done: Vec<u64> = g
            .segments
            .iter()
            .filter(|(id, size)| {
                **id < c.segment
                    || (**id == c.segment && c.offset >= **size && writer != Some(**id))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &done {
            if let Some(size) = g.segments.remove(id) {
                g.total -= size;
            }
            if g.reader.as_ref().is_some_and(|(r, _)| r == id) {
                g.reader = None;
            }
            let _ = std::fs::remove_file(seg_path(&self.dir, *id));
        }
        let total = g.total;
        drop(g);
        self.metrics.buffer(&self.name, total);
        self.cond.notify_all();
        let p = self.dir.join("cursor.json");
        let tmp = self.dir.join("cursor.json.tmp");
        let bytes = serde_json::to_vec(&c).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, &p).map_err(io("rename", &p))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", &self.dir))?;
        Ok(())
    }
}
