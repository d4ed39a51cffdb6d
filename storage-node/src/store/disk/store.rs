//! [`DiskStore`]: objects as self-describing files (see `format`), made durable with
//! write-temp, fsync, rename, fsync-directory. An object is visible only once its rename happened,
//! so a crash leaves either the old object or the new one, never a half-written one; leftovers in
//! `tmp/` are removed at start-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::format::{FormatError, ObjectReader, ObjectWriter};
use super::fsutil::{create_dir_durable, sync_dir};
use super::index::{EtagBuf, Entry, Index};
use super::layout::{Layout, fanout_dirs, key_hash};
use crate::metrics::Metrics;
use crate::store::{
    BodyDigest, BucketInfo, ByteRange, ByteStream, FinishHook, ListPage, ListQuery, MAX_OBJECT_SIZE, ObjectAttrs,
    ObjectBody, ObjectMeta, ObjectStore, PartInfo, StoreError, StoreStats, UploadInfo, now_ms, validate_bucket,
    validate_key,
};

/// Body bytes are buffered up to this much before one blocking write.
const WRITE_BATCH: usize = 1 << 20;
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
}

/// A fully written, fsynced temporary file waiting for its rename.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) path: PathBuf,
    pub(super) meta: ObjectMeta,
    pub(super) apply: Duration,
    pub(super) commit: Duration,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Renamed files are gone from `path`; anything still there was never committed.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs blocking file work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io { context: "blocking task".to_owned(), source: std::io::Error::other(e) })?
}

pub(super) fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::io(context, e)
}

impl DiskStore {
    /// Opens (or creates) the data directory: clears `tmp/`, then rebuilds the index from the object
    /// files. Files whose footer cannot be read are moved to `quarantine/` and counted.
    pub fn open(root: PathBuf, metrics: Arc<Metrics>) -> Result<(Self, OpenReport), StoreError> {
        let layout = Layout::new(root);
        for dir in [layout.buckets(), layout.tmp(), layout.multipart(), layout.quarantine()] {
            create_dir_durable(&dir).map_err(io_err("create data directories"))?;
        }
        let mut report = OpenReport::default();
        for entry in std::fs::read_dir(layout.tmp()).map_err(io_err("list tmp"))? {
            let path = entry.map_err(io_err("list tmp"))?.path();
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.map_err(io_err("clear tmp"))?;
            report.temp_removed += 1;
        }
        let index = Index::default();
        for entry in std::fs::read_dir(layout.buckets()).map_err(io_err("list buckets"))? {
            let entry = entry.map_err(io_err("list buckets"))?;
            let Some(bucket) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if validate_bucket(&bucket).is_err() {
                tracing::warn!(dir = %entry.path().display(), "ignoring a directory that is not a bucket");
                continue;
            }
            let created_ms = std::fs::read(layout.bucket_marker(&bucket))
                .ok()
                .and_then(|b| serde_json::from_slice::<BucketMarker>(&b).ok())
                .map_or(0, |m| m.created_ms);
            index.add_bucket(&bucket, created_ms);
            report.buckets += 1;
            for fan in fanout_dirs() {
                let dir = layout.bucket(&bucket).join(&fan);
                let Ok(files) = std::fs::read_dir(&dir) else { continue };
                for file in files {
                    let path = file.map_err(io_err("list objects"))?.path();
                    match load_entry(&path) {
                        Ok(Some((key, e))) => {
                            index.upsert(&bucket, &key, e)?;
                            report.objects += 1;
                        }
                        Ok(None) => {}
                        Err(detail) => {
                            tracing::error!(bucket, file = %path.display(), %detail, "quarantining an unreadable object file");
                            metrics.checksum_error();
                            let dest = layout.quarantine().join(uuid::Uuid::new_v4().simple().to_string());
                            std::fs::rename(&path, &dest).map_err(io_err("quarantine"))?;
                            report.quarantined += 1;
                        }
                    }
                }
            }
        }
        metrics.set_stored(index.stats());
        let stripes = (0..KEY_STRIPES).map(|_| Mutex::new(())).collect();
        Ok((DiskStore { inner: Arc::new(Inner { layout, index, metrics, stripes }) }, report))
    }

    pub fn data_dir(&self) -> &Path {
        self.inner.layout.root()
    }

    /// Every (bucket, key) pair, for the scrubber.
    pub fn all_keys(&self) -> Vec<(String, String)> {
        self.inner.index.all_keys()
    }

    /// Opens an object file for the scrubber. `Ok(None)` when it was deleted meanwhile.
    pub fn open_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectReader>, FormatError> {
        let (_, file) = self.inner.layout.object(bucket, key);
        self.inner.open_checked(&file, key)
    }

    /// Writes a body into a temporary object file and fsyncs it. The finish hook and `make_meta`
    /// run once the whole body is in; nothing is visible yet.
    pub(super) async fn stage(
        &self,
        mut body: ByteStream,
        finish: FinishHook,
        make_meta: impl FnOnce(&BodyDigest, BTreeMap<String, String>) -> ObjectMeta + Send + 'static,
    ) -> Result<Staged, StoreError> {
        let path = self.inner.layout.temp_file();
        let mut writer: Option<ObjectWriter> = None;
        let mut pending: Vec<Bytes> = Vec::new();
        let mut pending_len = 0usize;
        let mut total = 0u64;
        let mut apply = Duration::ZERO;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StoreError::Body)?;
            total += chunk.len() as u64;
            if total > MAX_OBJECT_SIZE {
                return Err(StoreError::EntityTooLarge { size: total, max: MAX_OBJECT_SIZE });
            }
            pending_len += chunk.len();
            pending.push(chunk);
            if pending_len >= WRITE_BATCH {
                let batch = std::mem::take(&mut pending);
                pending_len = 0;
                let p = path.clone();
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
        blocking(move || {
            let t = Instant::now();
            let mut w = match writer {
                Some(w) => w,
                None => ObjectWriter::create(path).map_err(io_err("create temp file"))?,
            };
            for c in &pending {
                w.write(c).map_err(io_err("write temp file"))?;
            }
            let digest = BodyDigest { md5: w.md5(), size: w.size() };
            let checksums = finish(&digest)?;
            let meta = make_meta(&digest, checksums);
            let (file, path) = w.finish(meta.clone()).map_err(io_err("write footer"))?;
            let apply = apply + t.elapsed();
            let t = Instant::now();
            let mut staged = Staged { path, meta, apply, commit: Duration::ZERO };
            file.sync_all().map_err(io_err("fsync object file"))?;
            staged.commit = t.elapsed();
            Ok(staged)
        })
        .await
    }

    /// Renames a staged file into place, updates the index and fsyncs the directory. The write is
    /// acknowledged only after this returns.
    pub(super) async fn commit(&self, bucket: &str, key: &str, staged: Staged) -> Result<ObjectMeta, StoreError> {
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            let (dir, file) = inner.layout.object(&bucket, &key);
            let mut staged = staged;
            let entry = Entry {
                size: staged.meta.size,
                last_modified_ms: staged.meta.last_modified_ms,
                etag: EtagBuf::new(&staged.meta.etag),
            };
            {
                let _guard = inner.stripe(&key);
                if !inner.index.has_bucket(&bucket) {
                    return Err(StoreError::NoSuchBucket(bucket));
                }
                let t = Instant::now();
                std::fs::rename(&staged.path, &file).map_err(io_err("rename object into place"))?;
                staged.apply += t.elapsed();
                inner.index.upsert(&bucket, &key, entry)?;
            }
            let t = Instant::now();
            sync_dir(&dir).map_err(io_err("fsync object directory"))?;
            staged.commit += t.elapsed();
            inner.metrics.observe_apply(staged.apply.as_secs_f64());
            inner.metrics.observe_commit(staged.commit.as_secs_f64());
            inner.metrics.set_stored(inner.index.stats());
            Ok(staged.meta.clone())
        })
        .await
    }

    fn object_exists(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        validate_key(key)?;
        match self.inner.index.get(bucket, key)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchKey { bucket: bucket.to_owned() }),
        }
    }

    /// Opens an object and reads its first chunk, both verified, on a blocking thread.
    async fn open_for_read(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(Arc<ObjectReader>, (u64, u64), Vec<u8>), StoreError> {
        self.object_exists(bucket, key)?;
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            let (_, file) = inner.layout.object(&bucket, &key);
            let reader = match inner.open_checked(&file, &key) {
                Ok(Some(r)) => r,
                Ok(None) => return Err(StoreError::NoSuchKey { bucket }),
                Err(e) => return Err(inner.damaged(&bucket, &key, e)),
            };
            let size = reader.footer.meta.size;
            let (start, end) = match range {
                Some(r) => r.resolve(size)?,
                None => (0, size),
            };
            let first_end = if end - start <= READ_WHOLE_MAX { end } else { (start + READ_CHUNK).min(end) };
            let first = reader.read_range(start, first_end).map_err(|e| inner.damaged(&bucket, &key, e))?;
            Ok((Arc::new(reader), (start, end), first))
        })
        .await
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct BucketMarker {
    created_ms: u64,
}

/// Reads an object file's footer for the start-up scan. `Ok(None)` for a file that vanished.
fn load_entry(path: &Path) -> Result<Option<(String, Entry)>, String> {
    let reader = match ObjectReader::open(path) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let meta = reader.footer.meta;
    if path.file_name().and_then(|n| n.to_str()) != Some(key_hash(&meta.key).as_str()) {
        return Err("file name does not match the key in its footer".to_owned());
    }
    let entry = Entry { size: meta.size, last_modified_ms: meta.last_modified_ms, etag: EtagBuf::new(&meta.etag) };
    Ok(Some((meta.key, entry)))
}

impl Inner {
    fn stripe(&self, key: &str) -> std::sync::MutexGuard<'_, ()> {
        let h = crc32c::crc32c(key.as_bytes()) as usize % KEY_STRIPES;
        self.stripes[h].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a file and checks that its footer names `key` (a hash collision or a misplaced file is
    /// never served as this key).
    pub(super) fn open_checked(&self, file: &Path, key: &str) -> Result<Option<ObjectReader>, FormatError> {
        match ObjectReader::open(file)? {
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
                StoreError::Corrupt { bucket: bucket.to_owned(), key_hash, detail }
            }
            FormatError::Io(e) => StoreError::io("read object file", e),
        }
    }
}

/// Streams `[pos, end)` of an open object in verified chunks.
fn stream_rest(inner: Arc<Inner>, reader: Arc<ObjectReader>, bucket: String, key: String, pos: u64, end: u64) -> ByteStream {
    Box::pin(futures::stream::try_unfold(pos, move |pos| {
        let (inner, reader, bucket, key) = (inner.clone(), reader.clone(), bucket.clone(), key.clone());
        async move {
            if pos >= end {
                return Ok(None);
            }
            let to = (pos + READ_CHUNK).min(end);
            let chunk = tokio::task::spawn_blocking(move || {
                reader.read_range(pos, to).map_err(|e| std::io::Error::other(inner.damaged(&bucket, &key, e)))
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
        validate_bucket(bucket)?;
        if self.inner.index.has_bucket(bucket) {
            return Err(StoreError::BucketAlreadyExists(bucket.to_owned()));
        }
        let inner = self.inner.clone();
        let bucket = bucket.to_owned();
        blocking(move || {
            let staging = inner.layout.temp_file();
            std::fs::create_dir(&staging).map_err(io_err("create bucket directory"))?;
            for fan in fanout_dirs() {
                std::fs::create_dir(staging.join(fan)).map_err(io_err("create bucket directory"))?;
            }
            let created_ms = now_ms();
            let marker = serde_json::to_vec(&BucketMarker { created_ms }).map_err(|e| StoreError::io("encode", std::io::Error::other(e)))?;
            let marker_path = staging.join(".bucket.json");
            std::fs::write(&marker_path, marker).map_err(io_err("write bucket marker"))?;
            std::fs::File::open(&marker_path).and_then(|f| f.sync_all()).map_err(io_err("fsync bucket marker"))?;
            sync_dir(&staging).map_err(io_err("fsync bucket directory"))?;
            if let Err(e) = std::fs::rename(&staging, inner.layout.bucket(&bucket)) {
                let _ = std::fs::remove_dir_all(&staging);
                if matches!(e.kind(), std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists) {
                    return Err(StoreError::BucketAlreadyExists(bucket));
                }
                return Err(StoreError::io("rename bucket into place", e));
            }
            sync_dir(&inner.layout.buckets()).map_err(io_err("fsync buckets directory"))?;
            if !inner.index.add_bucket(&bucket, created_ms) {
                return Err(StoreError::BucketAlreadyExists(bucket));
            }
            inner.metrics.set_stored(inner.index.stats());
            Ok(())
        })
        .await
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        self.inner.index.remove_bucket_if_empty(bucket)?;
        let uploads = self.list_uploads(bucket, "").await.unwrap_or_default();
        for u in uploads {
            if let Err(e) = self.abort_upload(bucket, &u.key, &u.upload_id).await {
                tracing::warn!(bucket, upload_id = u.upload_id, error = %e, "abort upload of a deleted bucket");
            }
        }
        let inner = self.inner.clone();
        let bucket = bucket.to_owned();
        blocking(move || {
            let grave = inner.layout.temp_file();
            std::fs::rename(inner.layout.bucket(&bucket), &grave).map_err(io_err("move bucket away"))?;
            sync_dir(&inner.layout.buckets()).map_err(io_err("fsync buckets directory"))?;
            if let Err(e) = std::fs::remove_dir_all(&grave) {
                tracing::warn!(bucket, error = %e, "remove deleted bucket directory; start-up will finish it");
            }
            inner.metrics.set_stored(inner.index.stats());
            Ok(())
        })
        .await
    }

    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        if self.inner.index.has_bucket(bucket) { Ok(()) } else { Err(StoreError::NoSuchBucket(bucket.to_owned())) }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        Ok(self.inner.index.buckets().into_iter().map(|(name, created_ms)| BucketInfo { name, created_ms }).collect())
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<ObjectMeta, StoreError> {
        validate_key(key)?;
        self.head_bucket(bucket).await?;
        let k = key.to_owned();
        let staged = self
            .stage(body, finish, move |digest, checksums| ObjectMeta {
                key: k,
                size: digest.size,
                etag: hex::encode(digest.md5),
                last_modified_ms: now_ms(),
                attrs,
                checksums,
                parts: 0,
            })
            .await?;
        let written = staged.meta.size;
        let meta = self.commit(bucket, key, staged).await?;
        self.inner.metrics.add_written_bytes(written);
        Ok(meta)
    }

    async fn get_object(&self, bucket: &str, key: &str, range: Option<ByteRange>) -> Result<ObjectBody, StoreError> {
        let (reader, (start, end), first) = self.open_for_read(bucket, key, range).await?;
        let first_end = start + first.len() as u64;
        let meta = reader.footer.meta.clone();
        let head = futures::stream::once(futures::future::ready(Ok(Bytes::from(first))));
        let stream: ByteStream = if first_end < end {
            Box::pin(head.chain(stream_rest(self.inner.clone(), reader, bucket.to_owned(), key.to_owned(), first_end, end)))
        } else {
            Box::pin(head)
        };
        Ok(ObjectBody { meta, range: (start, end), stream })
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.object_exists(bucket, key)?;
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            let (_, file) = inner.layout.object(&bucket, &key);
            match inner.open_checked(&file, &key) {
                Ok(Some(r)) => Ok(r.footer.meta),
                Ok(None) => Err(StoreError::NoSuchKey { bucket }),
                Err(e) => Err(inner.damaged(&bucket, &key, e)),
            }
        })
        .await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.head_bucket(bucket).await?;
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        blocking(move || {
            let (dir, file) = inner.layout.object(&bucket, &key);
            {
                let _guard = inner.stripe(&key);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(StoreError::io("remove object file", e)),
                }
                inner.index.remove(&bucket, &key);
            }
            sync_dir(&dir).map_err(io_err("fsync object directory"))?;
            inner.metrics.set_stored(inner.index.stats());
            Ok(())
        })
        .await
    }

    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        attrs: Option<ObjectAttrs>,
    ) -> Result<ObjectMeta, StoreError> {
        validate_key(dst_key)?;
        self.head_bucket(dst_bucket).await?;
        let src = self.get_object(src_bucket, src_key, None).await?;
        let src_meta = src.meta.clone();
        let dst = dst_key.to_owned();
        let finish: FinishHook = Box::new(|_| Ok(BTreeMap::new()));
        let staged = self
            .stage(src.stream, finish, move |digest, _| ObjectMeta {
                key: dst,
                size: digest.size,
                etag: hex::encode(digest.md5),
                last_modified_ms: now_ms(),
                attrs: attrs.unwrap_or(src_meta.attrs),
                // Full-object checksums stay true for the copy; composite (multipart) ones do not.
                checksums: if src_meta.parts == 0 { src_meta.checksums } else { BTreeMap::new() },
                parts: 0,
            })
            .await?;
        let written = staged.meta.size;
        let meta = self.commit(dst_bucket, dst_key, staged).await?;
        self.inner.metrics.add_written_bytes(written);
        Ok(meta)
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
        self.create_upload_impl(bucket, key, attrs, checksum_algorithm).await
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
        self.upload_part_impl(bucket, key, upload_id, part_number, body, finish).await
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<ObjectMeta, StoreError> {
        self.complete_upload_impl(bucket, key, upload_id, parts).await
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.abort_upload_impl(bucket, key, upload_id).await
    }

    async fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(UploadInfo, Vec<PartInfo>), StoreError> {
        self.list_parts_impl(bucket, key, upload_id).await
    }

    async fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadInfo>, StoreError> {
        self.list_uploads_impl(bucket, prefix).await
    }

    fn stats(&self) -> StoreStats {
        self.inner.index.stats()
    }
}

#[cfg(test)]
mod tests;
