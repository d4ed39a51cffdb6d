//! Saved read positions: one record per file generation, keyed by device and inode, with a
//! fingerprint (CRC32C of the first bytes) that tells a reused inode or a copied file apart.
//!
//! On disk: one JSON document, `{"version":1,"next_id":N,"records":[...]}`, replaced atomically
//! (write a temporary file, fsync it, rename it over the old one, fsync the directory), so a
//! kill -9 leaves either the old or the new document. `acked` only ever moves forward through
//! [`Positions::ack`], which the sink calls after Loki accepted every line before that offset.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The most records kept; the oldest closed ones go first.
const MAX_RECORDS: usize = 10_000;

/// What failed while loading or saving positions.
#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    /// An I/O error on the positions file or its directory.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A file's identity on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// One file generation's position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique id (acks name it).
    pub id: u64,
    /// Device and inode.
    pub key: FileKey,
    /// The path it was found at (informational).
    pub path: String,
    /// Everything before this offset was acknowledged by the sink.
    pub acked: u64,
    /// How many leading bytes the fingerprint covers (at most 256).
    pub fp_len: u32,
    /// CRC32C of the first `fp_len` bytes.
    pub fp_crc: u32,
    /// True once the file was truncated or its inode reused: kept only so that a copy of the
    /// old content (copytruncate's `.1`) resumes where the old content was read up to.
    #[serde(default)]
    pub retired: bool,
    /// How far the tailer has read (in memory only).
    #[serde(skip)]
    pub read: u64,
    /// Discoveries in a row that did not see this file (in memory only).
    #[serde(skip)]
    pub missing_scans: u32,
    /// Whether a tailer holds the file open (in memory only).
    #[serde(skip)]
    pub open: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    version: u32,
    next_id: u64,
    records: Vec<Record>,
}

#[derive(Debug)]
struct Inner {
    records: BTreeMap<u64, Record>,
    next_id: u64,
    dirty: bool,
}

/// The positions of one pipeline (one Loki endpoint).
#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl Positions {
    /// Loads `path` (a missing file is an empty set; an unreadable one is set aside as
    /// `<path>.corrupt` with a warning, so the files are read again from the start: duplicates,
    /// never loss).
    pub fn open(path: &Path) -> Result<Positions, PositionsError> {
        let io = |what, source| PositionsError::Io {
            what,
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("create directory for", e))?;
        }
        let mut records = BTreeMap::new();
        let mut next_id = 1;
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Document>(&bytes) {
                Ok(doc) => {
                    next_id = doc.next_id.max(1);
                    for mut r in doc.records {
                        r.read = r.acked;
                        next_id = next_id.max(r.id + 1);
                        records.insert(r.id, r);
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e,
                        "positions file is not valid; set it aside and read files from the start");
                    let _ = std::fs::rename(path, path.with_extension("corrupt"));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", e)),
        }
        Ok(Positions {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                records,
                next_id,
                dirty: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live (not retired) record of `key`.
    pub fn live(&self, key: FileKey) -> Option<Record> {
        self.lock()
            .records
            .values()
            .find(|r| r.key == key && !r.retired)
            .cloned()
    }

    /// A record (other than of `key`) whose fingerprint `matches` accepts, retired ones first.
    pub fn find_copy_source(
        &self,
        key: FileKey,
        mut matches: impl FnMut(&Record) -> bool,
    ) -> Option<Record> {
        let g = self.lock();
        let mut cands: Vec<&Record> = g
            .records
            .values()
            .filter(|r| r.key != key && r.fp_len >= crate::sources::tail::MIN_COPY_FP_LEN)
            .collect();
        cands.sort_by_key(|r| !r.retired);
        cands.into_iter().find(|r| matches(r)).cloned()
    }

    /// Creates a record for a newly opened file; returns its id.
    pub fn create(&self, key: FileKey, path: &str, acked: u64, read: u64, fp: (u32, u32)) -> u64 {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.records.insert(
            id,
            Record {
                id,
                key,
                path: path.to_string(),
                acked,
                fp_len: fp.0,
                fp_crc: fp.1,
                retired: false,
                read,
                missing_scans: 0,
                open: true,
            },
        );
        g.dirty = true;
        if g.records.len() > MAX_RECORDS {
            let victim = g
                .records
                .values()
                .filter(|r| !r.open)
                .max_by_key(|r| (r.retired, r.missing_scans))
                .map(|r| r.id);
            if let Some(v) = victim {
                g.records.remove(&v);
            }
        }
        id
    }

    /// Marks a record as retired (truncated, or its inode reused) and closed.
    pub fn retire(&self, id: u64) {
        let mut g = self.lock();
        if let Some(r) = g.records.get_mut(&id) {
            r.retired = true;
            r.open = false;
            g.dirty = true;
        }
    }

    /// Removes a record (a copy consumed it).
    pub fn remove(&self, id: u64) {
        let mut g = self.lock();
        if g.records.remove(&id).is_some() {
            g.dirty = true;
        }
    }

    /// The sink delivered everything of `id` before `offset`.
    pub fn ack(&self, id: u64, offset: u64) {
        let mut g = self.lock();
        if let Some(r) = g.records.get_mut(&id)
            && offset > r.acked
        {
            r.acked = offset;
            g.dirty = true;
        }
    }

    /// The acknowledged offset of `id`.
    pub fn acked(&self, id: u64) -> Option<u64> {
        self.lock().records.get(&id).map(|r| r.acked)
    }

    /// The tailer read `id` up to `offset`; its path is `path`.
    pub fn set_read(&self, id: u64, offset: u64) {
        if let Some(r) = self.lock().records.get_mut(&id) {
            r.read = offset;
        }
    }

    /// A longer fingerprint for `id`.
    pub fn set_fingerprint(&self, id: u64, fp: (u32, u32)) {
        let mut g = self.lock();
        if let Some(r) = g.records.get_mut(&id) {
            r.fp_len = fp.0;
            r.fp_crc = fp.1;
            g.dirty = true;
        }
    }

    /// Whether a tailer holds `id` open.
    pub fn set_open(&self, id: u64, open: bool) {
        if let Some(r) = self.lock().records.get_mut(&id) {
            r.open = open;
        }
    }

    /// After a discovery: records whose file was not seen `forget_after` times in a row, and that
    /// are closed, are forgotten.
    pub fn note_scan(&self, seen: &std::collections::HashSet<FileKey>, forget_after: u32) {
        let mut g = self.lock();
        let mut gone = Vec::new();
        for r in g.records.values_mut() {
            if seen.contains(&r.key) && !r.retired {
                r.missing_scans = 0;
            } else if !r.open {
                r.missing_scans = r.missing_scans.saturating_add(1);
                if r.missing_scans > forget_after {
                    gone.push(r.id);
                }
            }
        }
        for id in gone {
            g.records.remove(&id);
            g.dirty = true;
        }
    }

    /// A copy of every record (tests, status).
    pub fn snapshot(&self) -> Vec<Record> {
        self.lock().records.values().cloned().collect()
    }

    /// Writes the document if anything changed since the last save.
    pub fn save(&self) -> Result<(), PositionsError> {
        let bytes = {
            let mut g = self.lock();
            if !g.dirty {
                return Ok(());
            }
            g.dirty = false;
            let doc = Document {
                version: 1,
                next_id: g.next_id,
                records: g.records.values().cloned().collect(),
            };
            serde_json::to_vec(&doc).unwrap_or_default()
        };
        let result = write_atomic(&self.path, &bytes);
        if result.is_err() {
            self.lock().dirty = true;
        }
        result
    }
}

/// Write a temporary file, fsync, rename over `path`, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PositionsError> {
    let io = |what, source| PositionsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("create temporary for", e))?;
    f.write_all(bytes)
        .map_err(|e| io("write temporary for", e))?;
    f.sync_all().map_err(|e| io("fsync temporary for", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))?;
    if let Some(dir) = path.parent() {
        let d = std::fs::File::open(dir).map_err(|e| io("open directory of", e))?;
        d.sync_all().map_err(|e| io("fsync directory of", e))?;
    }
    Ok(())
}
