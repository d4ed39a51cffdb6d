//! [`DiskStore`]: objects as self-describing files (see `format`), made durable with
//! write-temp, fsync, rename, fsync-directory. An object is visible only once its rename happened,
//! so a crash leaves either the old object or the new one, never a half-written one; leftovers in
//! `tmp/` are removed at start-up.
//!
//! Objects up to `small_object_max_bytes` in buckets that were never versioned go to the
//! small-object log instead (`small_log`): one group fsync covers many writes. The index says
//! where each current object lives; replay at start-up settles file against record by version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::conditional::check_condition;
use super::format::{FormatError, ObjectReader, ObjectWriter};
use super::fsutil::{create_dir_durable, sync_dir};
use super::index::{Entry, EtagBuf, Index, VersionEntry, entry_version_id};
use super::layout::{Layout, fanout_dirs, key_hash};
use super::logged::replay_log;
use super::small_log::{self, SmallLog};
use super::versions::{Placement, place};
use crate::metrics::Metrics;
use crate::replication::hlc::{Hlc, Version};
use crate::store::{
    BodyDigest, BucketInfo, ByteRange, ByteStream, Deleted, FinishHook, ListPage, ListQuery,
    MAX_OBJECT_SIZE, ObjectAttrs, ObjectBody, ObjectMeta, ObjectStore, PartInfo, ReplicaOp,
    SourceCheck, StoreError, StoreStats, UploadInfo, VersionQuery, VersioningStatus, VersionsPage,
    WriteCondition, WriteLog, now_ms, validate_bucket, validate_key, validate_new_bucket,
};

/// Body bytes are buffered up to this much before one blocking write.
const WRITE_BATCH: usize = 1 << 20;
/// A small body up to this size is digested and encoded on the async thread that received it
/// (about 20 µs of MD5 and CRC32C at most), not on a blocking thread.
const INLINE_STAGE_BYTES: u64 = 16 << 10;
/// Spare capacity for the footer (JSON metadata and block CRCs) of a small object's image.
const FOOTER_ROOM: usize = 1024;
/// A GET streams the object in verified chunks of this size.
const READ_CHUNK: u64 = 1 << 20;
/// Objects up to this size are read and verified whole before the response starts, so that damage
/// yields a clean error status rather than a cut-off body.
const READ_WHOLE_MAX: u64 = 8 << 20;
/// Writers to the same key stripe serialise their rename and index update.
const KEY_STRIPES: usize = 256;

/// What start-up found.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenReport {
    pub buckets: u64,
    pub objects: u64,
    pub quarantined: u64,
    pub temp_removed: u64,
    /// Objects whose current version was found in the small-object log.
    pub logged: u64,
}

/// How a store is opened.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Objects up to this size go to the small-object log; 0 keeps every object in its own file.
    pub small_object_max_bytes: u64,
    /// Segment size of the small-object log (smaller in tests).
    pub log_segment_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            small_object_max_bytes: small_log::DEFAULT_SMALL_OBJECT_MAX_BYTES,
            log_segment_bytes: small_log::SEGMENT_MAX_BYTES,
        }
    }
}

/// The durable object store on a local file system.
#[derive(Debug, Clone)]
pub struct DiskStore {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) layout: Layout,
    pub(super) index: Index,
    pub(super) metrics: Arc<Metrics>,
    stripes: Vec<Mutex<()>>,
    /// Stamps every local write with a version.
    pub(super) hlc: Arc<Hlc>,
    /// Replication's log, when the node has peers; set once at start-up.
    pub(super) write_log: std::sync::OnceLock<Arc<dyn WriteLog>>,
    /// The small-object log of every bucket.
    pub(super) log: SmallLog,
    /// Objects up to this size are written to `log`; 0: none.
    pub(super) small_max: u64,
    /// The folded replication records replay found (see `logged::FoldTail`), until replication
    /// takes them at start-up.
    pub(super) folded: Mutex<Vec<super::logged::FoldedWrite>>,
}

/// A write waiting to become visible: a fully written, fsynced temporary file waiting for its
/// rename, or (`image`) a small object's bytes in memory waiting for its log append.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) path: PathBuf,
    pub(super) image: Option<Vec<u8>>,
    pub(super) meta: ObjectMeta,
    pub(super) apply: Duration,
    pub(super) commit: Duration,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Renamed files are gone from `path`; anything still there was never committed. A small
        // object's image never had a file (its `path` is empty).
        if self.image.is_none() && !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` as a file at `dest` durably: temp file, fsync, rename, fsync directory.
pub(super) fn write_file_durable(
    layout: &Layout,
    bytes: &[u8],
    dest: &Path,
) -> Result<(), StoreError> {
    let tmp = layout.temp_file();
    let written = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, bytes)?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("write version file", e));
    }
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("rename version file into place", e));
    }
    if let Some(dir) = dest.parent() {
        sync_dir(dir).map_err(io_err("fsync directory"))?;
    }
    Ok(())
}

impl Staged {
    /// Moves an in-memory image to a fsynced temporary file (it goes the file way after all).
    pub(super) fn spill(&mut self, layout: &Layout) -> Result<(), StoreError> {
        let Some(image) = self.image.take() else {
            return Ok(());
        };
        let t = Instant::now();
        let path = layout.temp_file();
        let written = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, &image)?;
                f.sync_all()
            });
        self.path = path;
        written.map_err(io_err("write temp file"))?;
        self.commit += t.elapsed();
        Ok(())
    }
}

/// Runs blocking file work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io {
            context: "blocking task".to_owned(),
            source: std::io::Error::other(e),
        })?
}

pub(super) fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::io(context, e)
}

impl DiskStore {
    /// Opens (or creates) the data directory: clears `tmp/`, then rebuilds the index from the object
    /// files. Files whose footer cannot be read are moved to `quarantine/` and counted.
    pub fn open(root: PathBuf, metrics: Arc<Metrics>) -> Result<(Self, OpenReport), StoreError> {
        Self::open_node(root, metrics, "")
    }

    /// [`DiskStore::open`] for a node named `node_id`, whose writes carry its tag in their version.
    /// The clock is moved past every version found on disk.
    pub fn open_node(
        root: PathBuf,
        metrics: Arc<Metrics>,
        node_id: &str,
    ) -> Result<(Self, OpenReport), StoreError> {
        Self::open_with(root, metrics, node_id, StoreOptions::default())
    }

    /// [`DiskStore::open_node`] with explicit options (the small-object threshold).
    pub fn open_with(
        root: PathBuf,
        metrics: Arc<Metrics>,
        node_id: &str,
        options: StoreOptions,
    ) -> Result<(Self, OpenReport), StoreError> {
        let hlc = Arc::new(Hlc::new(node_id));
        let layout = Layout::new(root);
        for dir in [
            layout.buckets(),
            layout.tmp(),
            layout.multipart(),
            layout.quarantine(),
        ] {
            create_dir_durable(&dir).map_err(io_err("create data directories"))?;
        }
        let mut report = OpenReport::default();
        for entry in std::fs::read_dir(layout.tmp()).map_err(io_err("list tmp"))? {
            let path = entry.map_err(io_err("list tmp"))?.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(io_err("clear tmp"))?;
            report.temp_removed += 1;
        }
        let index = Index::default();
        let log =
            SmallLog::with_segment_max(layout.clone(), metrics.clone(), options.log_segment_bytes);
        let mut folded = super::logged::FoldTail::default();
        for entry in std::fs::read_dir(layout.buckets()).map_err(io_err("list buckets"))? {
            let entry = entry.map_err(io_err("list buckets"))?;
            let Some(bucket) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_bucket(&bucket).is_err() {
                tracing::warn!(dir = %entry.path().display(), "ignoring a directory that is not a bucket");
                continue;
            }
            let created_ms = std::fs::read(layout.bucket_marker(&bucket))
                .ok()
                .and_then(|b| serde_json::from_slice::<BucketMarker>(&b).ok())
                .map_or(0, |m| m.created_ms);
            index.add_bucket(&bucket, created_ms);
            if let Some((status, version)) = super::versions::read_versioning(&layout, &bucket) {
                hlc.observe(version);
                index.set_versioning(&bucket, status, version)?;
            }
            report.buckets += 1;
            for fan in fanout_dirs() {
                let dir = layout.bucket(&bucket).join(&fan);
                let Ok(files) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for file in files {
                    let path = file.map_err(io_err("list objects"))?.path();
                    match load_entry(&path) {
                        Ok(Some((key, e, deleted))) => {
                            hlc.observe(e.version);
                            if deleted {
                                index.put_tombstone(&bucket, &key, e)?;
                            } else {
                                index.upsert(&bucket, &key, e)?;
                                report.objects += 1;
                            }
                        }
                        Ok(None) => {}
                        Err(detail) => {
                            tracing::error!(bucket, file = %path.display(), %detail, "quarantining an unreadable object file");
                            metrics.checksum_error();
                            let dest = layout
                                .quarantine()
                                .join(uuid::Uuid::new_v4().simple().to_string());
                            std::fs::rename(&path, &dest).map_err(io_err("quarantine"))?;
                            report.quarantined += 1;
                        }
                    }
                }
            }
            report.logged += replay_log(&layout, &log, &index, &hlc, &bucket, &mut folded)?;
            report.quarantined +=
                super::versions::load_noncurrent(&layout, &index, &hlc, &metrics, &bucket)?;
        }
        metrics.set_stored(index.stats());
        let stripes = (0..KEY_STRIPES).map(|_| Mutex::new(())).collect();
        let inner = Inner {
            layout,
            index,
            metrics,
            stripes,
            hlc,
            write_log: std::sync::OnceLock::new(),
            log,
            small_max: options.small_object_max_bytes,
            folded: Mutex::new(folded.into_writes()),
        };
        Ok((
            DiskStore {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// Routes every later local write through `log` (replication). Only the first call counts.
    pub fn set_write_log(&self, log: Arc<dyn WriteLog>) {
        let _ = self.inner.write_log.set(log);
    }

    /// The clock that versions this store's writes.
    pub fn hlc(&self) -> Arc<Hlc> {
        self.inner.hlc.clone()
    }

    /// The current version of a key, live or deleted.
    pub fn version_of(&self, bucket: &str, key: &str) -> Option<(Version, bool)> {
        self.inner.index.version_of(bucket, key)
    }

    /// Up to `max` versions after `after`, objects and tombstones merged in key order.
    pub fn versions_page(
        &self,
        bucket: &str,
        after: Option<&str>,
        max: usize,
    ) -> Vec<VersionEntry> {
        self.inner.index.versions_page(bucket, after, max)
    }

    /// Objects plus tombstones held.
    pub fn version_count(&self) -> u64 {
        self.inner.index.version_count()
    }

    /// Opens the file of a key as it is now, object or tombstone, for shipping to a peer.
    pub fn open_current(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectReader>, StoreError> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        self.inner
            .open_current_any(bucket, key, true)
            .map_err(|e| self.inner.damaged(bucket, key, e))
    }

    /// Stores an object or tombstone that a peer wrote, if it is newer than what is here; the
    /// bucket is created when missing. Never logged for replication (no bounce). `finish` checks the
    /// sender's MAC; size and, for single-part objects, MD5 are checked against `meta` here.
    /// Returns whether it was applied (false: the local version is the same or newer).
    pub async fn apply_replica(
        &self,
        bucket: &str,
        meta: ObjectMeta,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<bool, StoreError> {
        validate_key(&meta.key)?;
        if !self.inner.index.has_bucket(bucket) {
            match self.create_bucket_at(bucket, now_ms(), false).await {
                Ok(()) | Err(StoreError::BucketAlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.inner.hlc.observe(meta.version);
        let key = meta.key.clone();
        let want = meta.clone();
        let check: FinishHook = Box::new(move |digest: &BodyDigest| {
            if digest.size != want.size {
                return Err(StoreError::BadDigest(format!(
                    "replica of {} bytes, header says {}",
                    digest.size, want.size
                )));
            }
            if !want.deleted && want.parts == 0 && hex::encode(digest.md5) != want.etag {
                return Err(StoreError::BadDigest(
                    "replica MD5 does not match its ETag".to_owned(),
                ));
            }
            finish(digest)
        });
        let staged = self
            .stage_for(Some(bucket), body, check, move |_, _| meta)
            .await?;
        let applied = self
            .commit_as(bucket, &key, staged, false, WriteCondition::Always)
            .await?
            .1;
        Ok(applied)
    }

    /// Deletes a tombstone whose delete every peer has acknowledged, if it is still current.
    pub async fn gc_tombstone(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> Result<bool, StoreError> {
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            let (dir, file) = inner.layout.object(&bucket, &key);
            {
                let _guard = inner.stripe(&key);
                match inner.index.current(&bucket, &key) {
                    Some((t, true)) if t.version == version && !t.marker => {}
                    _ => return Ok(false),
                }
                // Older versions of the key may still have records in the log: without the
                // tombstone, only a kill record keeps them dead after a restart.
                if inner.log.has_segments(&bucket) {
                    inner.log_kill(&bucket, &key, version)?;
                }
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove tombstone", e)),
                }
                inner.index.remove_tombstone(&bucket, &key, version);
            }
            sync_dir(&dir).map_err(io_err("fsync object directory"))?;
            Ok(true)
        })
        .await
    }

    pub fn data_dir(&self) -> &Path {
        self.inner.layout.root()
    }

    /// Every (bucket, key) pair, for the scrubber.
    pub fn all_keys(&self) -> Vec<(String, String)> {
        self.inner.index.all_keys()
    }

    /// Opens an object file for the scrubber. `Ok(None)` when it was deleted meanwhile.
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectReader>, FormatError> {
        self.inner.open_current_any(bucket, key, false)
    }

    /// Writes a body into a temporary object file and fsyncs it. The finish hook and `make_meta`
    /// run once the whole body is in; nothing is visible yet.
    pub(super) async fn stage(
        &self,
        body: ByteStream,
        finish: FinishHook,
        make_meta: impl FnOnce(&BodyDigest, BTreeMap<String, String>) -> ObjectMeta + Send + 'static,
    ) -> Result<Staged, StoreError> {
        self.stage_for(None, body, finish, make_meta).await
    }

    /// [`DiskStore::stage`] of an object of `bucket` that may go to the small-object log: a body
    /// of at most `small_max` bytes, in a bucket that was never versioned, is kept in memory as an
    /// object image (`Staged::image`) when its metadata is that of a plain current object.
    pub(super) async fn stage_for(
        &self,
        bucket: Option<&str>,
        mut body: ByteStream,
        finish: FinishHook,
        make_meta: impl FnOnce(&BodyDigest, BTreeMap<String, String>) -> ObjectMeta + Send + 'static,
    ) -> Result<Staged, StoreError> {
        let small_limit = match bucket {
            Some(b) if matches!(self.inner.index.versioning(b), Ok(None)) => self.inner.small_max,
            _ => 0,
        };
        // The temporary file's name is drawn once a body turns out to need a file.
        let mut path: Option<PathBuf> = None;
        let mut writer: Option<ObjectWriter> = None;
        let mut pending: Vec<Bytes> = Vec::new();
        let mut pending_len = 0usize;
        let mut total = 0u64;
        let mut apply = Duration::ZERO;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StoreError::Body)?;
            total += chunk.len() as u64;
            if total > MAX_OBJECT_SIZE {
                return Err(StoreError::EntityTooLarge {
                    size: total,
                    max: MAX_OBJECT_SIZE,
                });
            }
            pending_len += chunk.len();
            pending.push(chunk);
            if pending_len >= WRITE_BATCH && total > small_limit {
                let batch = std::mem::take(&mut pending);
                pending_len = 0;
                let p = path
                    .get_or_insert_with(|| self.inner.layout.temp_file())
                    .clone();
                let w = writer.take();
                let (w, took) = blocking(move || {
                    let t = Instant::now();
                    let mut w = match w {
                        Some(w) => w,
                        None => ObjectWriter::create(p).map_err(io_err("create temp file"))?,
                    };
                    for c in &batch {
                        w.write(c).map_err(io_err("write temp file"))?;
                    }
                    Ok((w, t.elapsed()))
                })
                .await?;
                apply += took;
                writer = Some(w);
            }
        }
        if small_limit > 0 && writer.is_none() && total <= small_limit {
            let build = move || {
                let t = Instant::now();
                // Room for the footer too, so that `encode_image` does not move the data again.
                let mut data = Vec::with_capacity(pending_len + FOOTER_ROOM);
                for c in &pending {
                    data.extend_from_slice(c);
                }
                let digest = BodyDigest {
                    md5: <md5::Md5 as md5::Digest>::digest(&data).into(),
                    size: data.len() as u64,
                };
                let checksums = finish(&digest)?;
                let meta = make_meta(&digest, checksums);
                let plain = !meta.deleted && !meta.versioned && meta.parts == 0;
                let image = super::format::encode_image(data, meta.clone())
                    .map_err(io_err("encode object image"))?;
                let staged = Staged {
                    path: PathBuf::new(),
                    image: Some(image),
                    meta,
                    apply: t.elapsed(),
                    commit: Duration::ZERO,
                };
                Ok((staged, plain))
            };
            // A small body's digest and image cost less than a hop to a blocking thread and back.
            let (staged, plain) = if total <= INLINE_STAGE_BYTES {
                build()?
            } else {
                blocking(build).await?
            };
            if plain {
                return Ok(staged);
            }
            let layout = self.inner.layout.clone();
            return blocking(move || {
                let mut staged = staged;
                staged.spill(&layout)?;
                Ok(staged)
            })
            .await;
        }
        let path = path.unwrap_or_else(|| self.inner.layout.temp_file());
        blocking(move || {
            let t = Instant::now();
            let mut w = match writer {
                Some(w) => w,
                None => ObjectWriter::create(path).map_err(io_err("create temp file"))?,
            };
            for c in &pending {
                w.write(c).map_err(io_err("write temp file"))?;
            }
            let digest = BodyDigest {
                md5: w.md5(),
                size: w.size(),
            };
            let checksums = finish(&digest)?;
            let meta = make_meta(&digest, checksums);
            let (file, path) = w.finish(meta.clone()).map_err(io_err("write footer"))?;
            let apply = apply + t.elapsed();
            let t = Instant::now();
            let mut staged = Staged {
                path,
                image: None,
                meta,
                apply,
                commit: Duration::ZERO,
            };
            file.sync_all().map_err(io_err("fsync object file"))?;
            staged.commit = t.elapsed();
            Ok(staged)
        })
        .await
    }

    /// Renames a staged file into place, updates the index and fsyncs the directory. The write is
    /// acknowledged only after this returns.
    pub(super) async fn commit(
        &self,
        bucket: &str,
        key: &str,
        staged: Staged,
    ) -> Result<ObjectMeta, StoreError> {
        self.commit_if(bucket, key, staged, WriteCondition::Always)
            .await
    }

    /// [`DiskStore::commit`] if `cond` holds, checked under the key's lock with the rename.
    pub(super) async fn commit_if(
        &self,
        bucket: &str,
        key: &str,
        staged: Staged,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError> {
        Ok(self.commit_as(bucket, key, staged, true, cond).await?.0)
    }

    /// Makes a staged object or tombstone current, if its version is newer than the key's current
    /// one (last writer wins; an older one is dropped and reported as not applied). In a versioned
    /// bucket the version it replaces is kept as noncurrent, and an older version that arrives late
    /// is kept as noncurrent too (see `versions::place`). A `local` write is first logged for
    /// replication, and answered only once the write quorum holds it.
    pub(super) async fn commit_as(
        &self,
        bucket: &str,
        key: &str,
        staged: Staged,
        local: bool,
        cond: WriteCondition,
    ) -> Result<(ObjectMeta, bool), StoreError> {
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let (meta, applied, seq) = blocking(move || {
            let (dir, file) = inner.layout.object(&bucket, &key);
            let mut staged = staged;
            let mut entry = entry_of(&staged.meta);
            let mut seq = None;
            let mut dirs = vec![dir];
            {
                let _guard = inner.stripe(&key);
                if !inner.index.has_bucket(&bucket) {
                    return Err(StoreError::NoSuchBucket(bucket));
                }
                check_condition(&inner.index, &bucket, &key, &cond)?;
                let current = inner.index.current(&bucket, &key);
                let noncurrent = inner.index.noncurrent(&bucket, &key);
                let placement = place(current, &noncurrent, &entry, staged.meta.deleted);
                if placement == Placement::Stale {
                    // A newer write of this key is already in place; this one lost.
                    return Ok((staged.meta.clone(), false, None));
                }
                // Only current versions live in the log: anything else goes the file way.
                if staged.image.is_some() && !matches!(placement, Placement::Current { .. }) {
                    staged.spill(&inner.layout)?;
                }
                if let Placement::Current {
                    archive: Some(old), ..
                } = placement
                {
                    // The replaced version stays as noncurrent: linked first, so a crash leaves it
                    // in both places (start-up drops the copy) rather than in neither.
                    let vdir = inner.archive(&bucket, &key, &file, &old)?;
                    dirs.push(vdir);
                }
                // A write to the small-object log carries its replication record in its log
                // record: one group fsync makes both durable.
                let mut fold = None;
                if local && let Some(log) = inner.write_log.get() {
                    if staged.image.is_some() {
                        let f = log.log_folded(&bucket, &staged.meta)?;
                        seq = Some(f.seq);
                        fold = Some(f);
                    } else {
                        seq = Some(log.log(&bucket, &staged.meta)?);
                    }
                }
                // Shippers may read the record once the rename below happened (or failed).
                let _settle = seq.zip(inner.write_log.get()).map(|(seq, log)| Settle {
                    log: log.as_ref(),
                    seq,
                });
                let t = Instant::now();
                let mut waited = Duration::ZERO;
                match placement {
                    Placement::Current { archive, drop_null } => {
                        if let Some(image) = staged.image.take() {
                            let record = match fold {
                                Some(f) => small_log::folded_record(&image, f),
                                None => small_log::object_record(&image),
                            }
                            .map_err(io_err("encode log record"))?;
                            drop(image);
                            let tc = Instant::now();
                            let loc = inner
                                .log
                                .append(&bucket, record)
                                .map_err(io_err("append to the small-object log"))?;
                            waited = tc.elapsed();
                            entry.loc = Some(loc);
                            if let Some((c, _)) = current {
                                inner.retire_current(&bucket, &file, &c);
                            }
                            // Nothing was renamed into the object directory.
                            dirs.clear();
                        } else {
                            std::fs::rename(&staged.path, &file)
                                .map_err(io_err("rename object into place"))?;
                            if let Some((c, _)) = current
                                && let Some(loc) = c.loc
                            {
                                inner.log.mark_dead(&bucket, loc);
                            }
                        }
                        if let Some(old) = archive {
                            let old = Entry { loc: None, ..old };
                            inner.index.add_noncurrent(&bucket, &key, old)?;
                        }
                        if staged.meta.deleted {
                            inner.index.put_tombstone(&bucket, &key, entry)?;
                        } else {
                            inner.index.upsert(&bucket, &key, entry)?;
                        }
                        if let Some(null) = drop_null {
                            dirs.push(inner.remove_noncurrent(&bucket, &key, &null)?);
                        }
                    }
                    Placement::Noncurrent { replaces } => {
                        let (vdir, vfile) =
                            inner
                                .layout
                                .version(&bucket, &key, &entry_version_id(&entry));
                        create_dir_durable(&vdir).map_err(io_err("create versions directory"))?;
                        // A null version replaces the older null one by the same rename.
                        std::fs::rename(&staged.path, &vfile)
                            .map_err(io_err("rename version into place"))?;
                        if let Some(old) = replaces {
                            inner.index.remove_noncurrent(&bucket, &key, old.version);
                        }
                        inner.index.add_noncurrent(&bucket, &key, entry)?;
                        dirs = vec![vdir];
                    }
                    Placement::Stale => {}
                }
                staged.commit += waited;
                staged.apply += t.elapsed().saturating_sub(waited);
            }
            let t = Instant::now();
            for d in &dirs {
                sync_dir(d).map_err(io_err("fsync object directory"))?;
            }
            staged.commit += t.elapsed();
            inner.metrics.observe_apply(staged.apply.as_secs_f64());
            inner.metrics.observe_commit(staged.commit.as_secs_f64());
            inner.metrics.set_stored(inner.index.stats());
            Ok((staged.meta.clone(), true, seq))
        })
        .await?;
        if let (Some(seq), Some(log)) = (seq, self.inner.write_log.get()) {
            log.wait_quorum(seq).await?;
        }
        Ok((meta, applied))
    }

    /// GET of the current version or of `version_id`.
    pub(super) async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        let (reader, (start, end), first) =
            self.open_for_read(bucket, key, version_id, range).await?;
        let first_end = start + first.len() as u64;
        let meta = reader.footer.meta.clone();
        let head = futures::stream::once(futures::future::ready(Ok(Bytes::from(first))));
        let stream: ByteStream = if first_end < end {
            Box::pin(head.chain(stream_rest(
                self.inner.clone(),
                reader,
                bucket.to_owned(),
                key.to_owned(),
                first_end,
                end,
            )))
        } else {
            Box::pin(head)
        };
        Ok(ObjectBody {
            meta,
            range: (start, end),
            stream,
        })
    }

    /// DeleteObject without a version id. Unversioned bucket: the object is replaced by a
    /// tombstone, so that the delete replicates and wins or loses by version (garbage-collected once
    /// every peer acknowledged it). Versioned bucket: a delete marker becomes the current version
    /// (`null` when suspended), whether or not the key exists, as in S3.
    pub(super) async fn delete_current(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Deleted, StoreError> {
        validate_key(key)?;
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        let status = self.inner.index.versioning(bucket)?.map(|(s, _)| s);
        if status.is_none() && !matches!(self.inner.index.version_of(bucket, key), Some((_, false)))
        {
            // Nothing live to delete: S3 answers success, and there is nothing to replicate.
            return Ok(Deleted::default());
        }
        let inner = self.inner.clone();
        let k = key.to_owned();
        let staged = blocking(move || {
            let t = Instant::now();
            let w = ObjectWriter::create(inner.layout.temp_file())
                .map_err(io_err("create temp file"))?;
            let meta = ObjectMeta {
                key: k,
                size: 0,
                etag: String::new(),
                last_modified_ms: now_ms(),
                attrs: ObjectAttrs::default(),
                checksums: BTreeMap::new(),
                parts: 0,
                version: inner.hlc.tick(),
                deleted: true,
                versioned: status == Some(VersioningStatus::Enabled),
                delete_marker: status.is_some(),
            };
            let (file, path) = w.finish(meta.clone()).map_err(io_err("write tombstone"))?;
            let apply = t.elapsed();
            let t = Instant::now();
            file.sync_all().map_err(io_err("fsync tombstone"))?;
            Ok(Staged {
                path,
                image: None,
                meta,
                apply,
                commit: t.elapsed(),
            })
        })
        .await?;
        let meta = self.commit(bucket, key, staged).await?;
        Ok(Deleted {
            version_id: status.map(|_| meta.version_id()),
            delete_marker: status.is_some(),
        })
    }

    /// Whether a write into `bucket` now gets its own version id (versioning `Enabled`).
    pub(super) fn versioned_write(&self, bucket: &str) -> bool {
        matches!(
            self.inner.index.versioning(bucket),
            Ok(Some((VersioningStatus::Enabled, _)))
        )
    }

    /// Writes a copy of `src` (an open object) as `dst_key`, if `check` accepts the source and
    /// `cond` holds for the destination.
    pub(super) async fn copy_from(
        &self,
        src: ObjectBody,
        (dst_bucket, dst_key): (&str, &str),
        attrs: Option<ObjectAttrs>,
        check: SourceCheck,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError> {
        check(&src.meta)?;
        let src_meta = src.meta.clone();
        let dst = dst_key.to_owned();
        let finish: FinishHook = Box::new(|_| Ok(BTreeMap::new()));
        let hlc = self.inner.hlc.clone();
        let versioned = self.versioned_write(dst_bucket);
        let staged = self
            .stage_for(Some(dst_bucket), src.stream, finish, move |digest, _| {
                ObjectMeta {
                    key: dst,
                    size: digest.size,
                    etag: hex::encode(digest.md5),
                    last_modified_ms: now_ms(),
                    attrs: attrs.unwrap_or(src_meta.attrs),
                    // Full-object checksums stay true for the copy; composite (multipart) ones do not.
                    checksums: if src_meta.parts == 0 {
                        src_meta.checksums
                    } else {
                        BTreeMap::new()
                    },
                    parts: 0,
                    version: hlc.tick(),
                    deleted: false,
                    versioned,
                    delete_marker: false,
                }
            })
            .await?;
        let written = staged.meta.size;
        let meta = self.commit_if(dst_bucket, dst_key, staged, cond).await?;
        self.inner.metrics.add_written_bytes(written);
        Ok(meta)
    }

    /// Creates a bucket; a `local` creation is logged for replication (peers create it too).
    pub(super) async fn create_bucket_at(
        &self,
        bucket: &str,
        created_ms: u64,
        local: bool,
    ) -> Result<(), StoreError> {
        // New names follow all of S3's naming rules; a peer's bucket is taken as it named it.
        if local {
            validate_new_bucket(bucket)?;
        } else {
            validate_bucket(bucket)?;
        }
        if self.inner.index.has_bucket(bucket) {
            return Err(StoreError::BucketAlreadyExists(bucket.to_owned()));
        }
        let inner = self.inner.clone();
        let bucket = bucket.to_owned();
        // Bucket operations replicate without waiting for the write quorum (see ARCHITECTURE.md).
        blocking(move || {
            let seq = match (local, inner.write_log.get()) {
                (true, Some(log)) => {
                    Some(log.log_op(&bucket, "", ReplicaOp::CreateBucket { created_ms })?)
                }
                _ => None,
            };
            let _settle = seq.zip(inner.write_log.get()).map(|(seq, log)| Settle {
                log: log.as_ref(),
                seq,
            });
            let staging = inner.layout.temp_file();
            std::fs::create_dir(&staging).map_err(io_err("create bucket directory"))?;
            for fan in fanout_dirs() {
                std::fs::create_dir(staging.join(fan))
                    .map_err(io_err("create bucket directory"))?;
            }
            let marker = serde_json::to_vec(&BucketMarker { created_ms })
                .map_err(|e| StoreError::io("encode", std::io::Error::other(e)))?;
            let marker_path = staging.join(".bucket.json");
            std::fs::write(&marker_path, marker).map_err(io_err("write bucket marker"))?;
            std::fs::File::open(&marker_path)
                .and_then(|f| f.sync_all())
                .map_err(io_err("fsync bucket marker"))?;
            sync_dir(&staging).map_err(io_err("fsync bucket directory"))?;
            if let Err(e) = std::fs::rename(&staging, inner.layout.bucket(&bucket)) {
                let _ = std::fs::remove_dir_all(&staging);
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                ) {
                    return Err(StoreError::BucketAlreadyExists(bucket));
                }
                return Err(StoreError::io("rename bucket into place", e));
            }
            sync_dir(&inner.layout.buckets()).map_err(io_err("fsync buckets directory"))?;
            if !inner.index.add_bucket(&bucket, created_ms) {
                return Err(StoreError::BucketAlreadyExists(bucket));
            }
            inner.metrics.set_stored(inner.index.stats());
            Ok(seq)
        })
        .await
        .map(|_seq| ())
    }

    /// Deletes an empty bucket; a `local` deletion is logged for replication.
    pub(super) async fn delete_bucket_at(
        &self,
        bucket: &str,
        local: bool,
    ) -> Result<(), StoreError> {
        self.delete_bucket_if(bucket, local, None).await
    }

    /// Deletes a bucket: empty (`older_than` None), or holding nothing at or after `older_than`
    /// (a peer's delete: what it deleted before may not have reached this node as tombstones).
    pub(super) async fn delete_bucket_if(
        &self,
        bucket: &str,
        local: bool,
        older_than: Option<Version>,
    ) -> Result<(), StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        match older_than {
            None => self.inner.index.remove_bucket_if_empty(bucket)?,
            Some(v) => self.inner.index.remove_bucket_if_older(bucket, v)?,
        }
        let uploads = self.list_uploads(bucket, "").await.unwrap_or_default();
        for u in uploads {
            if let Err(e) = self.abort_upload(bucket, &u.key, &u.upload_id).await {
                tracing::warn!(bucket, upload_id = u.upload_id, error = %e, "abort upload of a deleted bucket");
            }
        }
        let inner = self.inner.clone();
        let bucket = bucket.to_owned();
        // Bucket operations replicate without waiting for the write quorum (see ARCHITECTURE.md).
        blocking(move || {
            let seq = match (local, inner.write_log.get()) {
                (true, Some(log)) => Some(log.log_op(
                    &bucket,
                    "",
                    ReplicaOp::DeleteBucket {
                        version: inner.hlc.tick(),
                    },
                )?),
                _ => None,
            };
            let _settle = seq.zip(inner.write_log.get()).map(|(seq, log)| Settle {
                log: log.as_ref(),
                seq,
            });
            let grave = inner.layout.temp_file();
            std::fs::rename(inner.layout.bucket(&bucket), &grave).map_err(io_err("move bucket away"))?;
            sync_dir(&inner.layout.buckets()).map_err(io_err("fsync buckets directory"))?;
            inner.log.forget_bucket(&bucket);
            if let Err(e) = std::fs::remove_dir_all(&grave) {
                tracing::warn!(bucket, error = %e, "remove deleted bucket directory; start-up will finish it");
            }
            inner.metrics.set_stored(inner.index.stats());
            Ok(seq)
        })
        .await
        .map(|_seq| ())
    }

    /// Opens an object (its current version, or `version_id`) and reads its first chunk, both
    /// verified, on a blocking thread.
    pub(super) async fn open_for_read(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<(Arc<ObjectReader>, (u64, u64), Vec<u8>), StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        validate_key(key)?;
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        blocking(move || {
            let reader = inner.open_version(&bucket, &key, version_id.as_deref())?;
            let size = reader.footer.meta.size;
            let (start, end) = match range {
                Some(r) => r.resolve(size)?,
                None => (0, size),
            };
            let first_end = if end - start <= READ_WHOLE_MAX {
                end
            } else {
                (start + READ_CHUNK).min(end)
            };
            let first = reader
                .read_range(start, first_end)
                .map_err(|e| inner.damaged(&bucket, &key, e))?;
            Ok((Arc::new(reader), (start, end), first))
        })
        .await
    }
}

/// Settles a logged write when dropped.
pub(super) struct Settle<'a> {
    pub(super) log: &'a dyn WriteLog,
    pub(super) seq: u64,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.log.settled(self.seq);
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct BucketMarker {
    created_ms: u64,
}

/// Reads an object file's footer for the start-up scan: key, entry and whether it is a tombstone.
/// `Ok(None)` for a file that vanished.
pub(super) fn load_entry(path: &Path) -> Result<Option<(String, Entry, bool)>, String> {
    let reader = match ObjectReader::open(path) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let meta = reader.footer.meta;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let expected = key_hash(&meta.key);
    // Current versions are named by the key's hash; noncurrent ones add `.<version id>`.
    let ok = name == expected || name == format!("{expected}.{}", meta.version_id());
    if !ok {
        return Err("file name does not match the key in its footer".to_owned());
    }
    Ok(Some((meta.key.clone(), entry_of(&meta), meta.deleted)))
}

/// The index entry of a stored object or tombstone.
pub(super) fn entry_of(meta: &ObjectMeta) -> Entry {
    Entry {
        size: meta.size,
        last_modified_ms: meta.last_modified_ms,
        etag: EtagBuf::new(&meta.etag),
        version: meta.version,
        versioned: meta.versioned,
        marker: meta.delete_marker,
        loc: None,
    }
}

impl Inner {
    pub(super) fn stripe(&self, key: &str) -> std::sync::MutexGuard<'_, ()> {
        self.stripe_at(self.stripe_index(key))
    }

    /// Which lock guards `key`. Whoever holds several takes them in increasing index order.
    pub(super) fn stripe_index(&self, key: &str) -> usize {
        crc32c::crc32c(key.as_bytes()) as usize % KEY_STRIPES
    }

    pub(super) fn stripe_at(&self, index: usize) -> std::sync::MutexGuard<'_, ()> {
        self.stripes[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a file and checks that its footer names `key` (a hash collision or a misplaced file is
    /// never served as this key).
    pub(super) fn open_checked(
        &self,
        file: &Path,
        key: &str,
    ) -> Result<Option<ObjectReader>, FormatError> {
        match ObjectReader::open(file)? {
            // A tombstone is a deleted object: there is nothing to serve.
            Some(r) if r.footer.meta.key == key && r.footer.meta.deleted => Ok(None),
            Some(r) if r.footer.meta.key == key => Ok(Some(r)),
            Some(_) => Err(FormatError::Corrupt("footer names another key".to_owned())),
            None => Ok(None),
        }
    }

    /// Counts and logs a damaged object, naming it by bucket and key hash, and returns the error.
    pub(super) fn damaged(&self, bucket: &str, key: &str, e: FormatError) -> StoreError {
        match e {
            FormatError::Corrupt(detail) => {
                let key_hash = key_hash(key);
                self.metrics.checksum_error();
                tracing::error!(bucket, key_hash, %detail, "checksum mismatch in stored object; not serving it");
                StoreError::Corrupt {
                    bucket: bucket.to_owned(),
                    key_hash,
                    detail,
                }
            }
            FormatError::Io(e) => StoreError::io("read object file", e),
        }
    }
}

/// Streams `[pos, end)` of an open object in verified chunks.
fn stream_rest(
    inner: Arc<Inner>,
    reader: Arc<ObjectReader>,
    bucket: String,
    key: String,
    pos: u64,
    end: u64,
) -> ByteStream {
    Box::pin(futures::stream::try_unfold(pos, move |pos| {
        let (inner, reader, bucket, key) =
            (inner.clone(), reader.clone(), bucket.clone(), key.clone());
        async move {
            if pos >= end {
                return Ok(None);
            }
            let to = (pos + READ_CHUNK).min(end);
            let chunk = tokio::task::spawn_blocking(move || {
                reader
                    .read_range(pos, to)
                    .map_err(|e| std::io::Error::other(inner.damaged(&bucket, &key, e)))
            })
            .await
            .map_err(std::io::Error::other)??;
            Ok(Some((Bytes::from(chunk), to)))
        }
    }))
}

#[async_trait]
impl ObjectStore for DiskStore {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.create_bucket_at(bucket, now_ms(), true).await
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        self.delete_bucket_at(bucket, true).await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        if self.inner.index.has_bucket(bucket) {
            Ok(())
        } else {
            Err(StoreError::NoSuchBucket(bucket.to_owned()))
        }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        Ok(self
            .inner
            .index
            .buckets()
            .into_iter()
            .map(|(name, created_ms)| BucketInfo { name, created_ms })
            .collect())
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<ObjectMeta, StoreError> {
        self.put_object_if(bucket, key, attrs, body, finish, WriteCondition::Always)
            .await
    }

    async fn put_object_if(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        body: ByteStream,
        finish: FinishHook,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError> {
        validate_key(key)?;
        self.head_bucket(bucket).await?;
        let k = key.to_owned();
        let hlc = self.inner.hlc.clone();
        let versioned = self.versioned_write(bucket);
        let staged = self
            .stage_for(Some(bucket), body, finish, move |digest, checksums| {
                ObjectMeta {
                    key: k,
                    size: digest.size,
                    etag: hex::encode(digest.md5),
                    last_modified_ms: now_ms(),
                    attrs,
                    checksums,
                    parts: 0,
                    version: hlc.tick(),
                    deleted: false,
                    versioned,
                    delete_marker: false,
                }
            })
            .await?;
        let written = staged.meta.size;
        let meta = self.commit_if(bucket, key, staged, cond).await?;
        self.inner.metrics.add_written_bytes(written);
        Ok(meta)
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.get_version(bucket, key, None, range).await
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.head_version(bucket, key, None).await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.delete_current(bucket, key).await.map(|_| ())
    }

    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        attrs: Option<ObjectAttrs>,
    ) -> Result<ObjectMeta, StoreError> {
        self.copy_object_if(
            (src_bucket, src_key),
            (dst_bucket, dst_key),
            attrs,
            Box::new(|_| Ok(())),
            WriteCondition::Always,
        )
        .await
    }

    async fn copy_object_if(
        &self,
        (src_bucket, src_key): (&str, &str),
        (dst_bucket, dst_key): (&str, &str),
        attrs: Option<ObjectAttrs>,
        check: SourceCheck,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError> {
        validate_key(dst_key)?;
        self.head_bucket(dst_bucket).await?;
        let src = self.get_object(src_bucket, src_key, None).await?;
        self.copy_from(src, (dst_bucket, dst_key), attrs, check, cond)
            .await
    }

    async fn replace_attrs(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
    ) -> Result<ObjectMeta, StoreError> {
        self.replace_attrs_impl(bucket, key, attrs).await
    }

    async fn upload_part_copy(
        &self,
        src: (&str, &str),
        range: Option<ByteRange>,
        check: SourceCheck,
        dst: (&str, &str, &str),
        part_number: i32,
    ) -> Result<PartInfo, StoreError> {
        let body = self.get_object(src.0, src.1, range).await?;
        check(&body.meta)?;
        let finish: FinishHook = Box::new(|_| Ok(BTreeMap::new()));
        self.upload_part_impl(dst.0, dst.1, dst.2, part_number, body.stream, finish)
            .await
    }

    async fn get_bucket_config(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_bucket_config_impl(bucket, name).await
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        name: &str,
        doc: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.put_bucket_config_impl(bucket, name, doc).await
    }

    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage, StoreError> {
        self.inner.index.list(bucket, &query)
    }
    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        checksum_algorithm: Option<String>,
    ) -> Result<UploadInfo, StoreError> {
        self.create_upload_impl(bucket, key, attrs, checksum_algorithm)
            .await
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<PartInfo, StoreError> {
        self.upload_part_impl(bucket, key, upload_id, part_number, body, finish)
            .await
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<ObjectMeta, StoreError> {
        self.complete_upload_impl(bucket, key, upload_id, parts)
            .await
    }

    async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.abort_upload_impl(bucket, key, upload_id).await
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(UploadInfo, Vec<PartInfo>), StoreError> {
        self.list_parts_impl(bucket, key, upload_id).await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadInfo>, StoreError> {
        self.list_uploads_impl(bucket, prefix).await
    }

    fn stats(&self) -> StoreStats {
        self.inner.index.stats()
    }

    async fn get_versioning(&self, bucket: &str) -> Result<Option<VersioningStatus>, StoreError> {
        Ok(self.inner.index.versioning(bucket)?.map(|(s, _)| s))
    }

    async fn put_versioning(
        &self,
        bucket: &str,
        status: VersioningStatus,
    ) -> Result<(), StoreError> {
        self.set_versioning_local(bucket, status).await
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        self.get_version(bucket, key, Some(version_id), range).await
    }

    async fn head_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectMeta, StoreError> {
        self.head_version(bucket, key, Some(version_id)).await
    }

    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Deleted, StoreError> {
        match version_id {
            None => self.delete_current(bucket, key).await,
            Some(v) => self.purge_version(bucket, key, v).await,
        }
    }

    async fn copy_object_version(
        &self,
        (src_bucket, src_key, src_version_id): (&str, &str, &str),
        (dst_bucket, dst_key): (&str, &str),
        attrs: Option<ObjectAttrs>,
        check: SourceCheck,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError> {
        validate_key(dst_key)?;
        self.head_bucket(dst_bucket).await?;
        let src = self
            .get_version(src_bucket, src_key, Some(src_version_id), None)
            .await?;
        self.copy_from(src, (dst_bucket, dst_key), attrs, check, cond)
            .await
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: VersionQuery,
    ) -> Result<VersionsPage, StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        self.inner.index.list_versions(bucket, &query)
    }
}

#[cfg(test)]
mod tests;
