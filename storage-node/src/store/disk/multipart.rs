//! Multipart uploads: `multipart/<upload_id>/upload.json` plus one object-format file per part.
//! Completion streams the verified parts into one new object file and commits it like a PUT; only
//! then is the upload directory removed.

use std::collections::BTreeMap;
use std::time::Instant;

use md5::{Digest, Md5};

use super::format::ObjectWriter;
use super::fsutil::sync_dir;
use super::layout::is_upload_id;
use super::store::{DiskStore, Staged, blocking, io_err};
use crate::store::{
    ByteStream, FinishHook, MIN_PART_SIZE, ObjectAttrs, ObjectMeta, PartInfo, StoreError,
    UploadInfo, now_ms, validate_key,
};

/// S3 numbers parts from 1 to 10,000.
const MAX_PART_NUMBER: i32 = 10_000;

impl DiskStore {
    /// Reads `upload.json` and checks that the upload belongs to `bucket`/`key`.
    fn load_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadInfo, StoreError> {
        let missing = || StoreError::NoSuchUpload(upload_id.chars().take(64).collect());
        if !is_upload_id(upload_id) {
            return Err(missing());
        }
        let path = self.inner.layout.upload(upload_id).join("upload.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(StoreError::io("read upload.json", e)),
        };
        let info: UploadInfo = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::io("parse upload.json", std::io::Error::other(e)))?;
        if info.bucket != bucket || info.key != key {
            return Err(missing());
        }
        Ok(info)
    }

    pub(super) async fn create_upload_impl(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        checksum_algorithm: Option<String>,
    ) -> Result<UploadInfo, StoreError> {
        validate_key(key)?;
        if !self.inner.index.has_bucket(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let info = UploadInfo {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            attrs,
            checksum_algorithm,
        };
        let inner = self.inner.clone();
        let out = info.clone();
        blocking(move || {
            let staging = inner.layout.temp_file();
            std::fs::create_dir(&staging).map_err(io_err("create upload directory"))?;
            let json = serde_json::to_vec(&info)
                .map_err(|e| StoreError::io("encode", std::io::Error::other(e)))?;
            let path = staging.join("upload.json");
            std::fs::write(&path, json).map_err(io_err("write upload.json"))?;
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err("fsync upload.json"))?;
            sync_dir(&staging).map_err(io_err("fsync upload directory"))?;
            std::fs::rename(&staging, inner.layout.upload(&info.upload_id))
                .map_err(io_err("rename upload into place"))?;
            sync_dir(&inner.layout.multipart()).map_err(io_err("fsync multipart directory"))?;
            Ok(())
        })
        .await?;
        Ok(out)
    }

    pub(super) async fn upload_part_impl(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<PartInfo, StoreError> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(StoreError::InvalidArgument(format!(
                "part number must be 1 to {MAX_PART_NUMBER}"
            )));
        }
        self.load_upload(bucket, key, upload_id)?;
        let part_key = format!("{upload_id}/part-{part_number:05}");
        let staged = self
            .stage(body, finish, move |digest, checksums| ObjectMeta {
                key: part_key,
                size: digest.size,
                etag: hex::encode(digest.md5),
                last_modified_ms: now_ms(),
                attrs: ObjectAttrs::default(),
                checksums,
                parts: 0,
                version: Default::default(),
                deleted: false,
                versioned: false,
                delete_marker: false,
            })
            .await?;
        let inner = self.inner.clone();
        let upload_id = upload_id.to_owned();
        let written = staged.meta.size;
        let info = blocking(move || {
            let dest = inner.layout.part(&upload_id, part_number);
            let mut staged = staged;
            let t = Instant::now();
            std::fs::rename(&staged.path, &dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NoSuchUpload(upload_id.clone()),
                _ => StoreError::io("rename part into place", e),
            })?;
            staged.apply += t.elapsed();
            let t = Instant::now();
            sync_dir(&inner.layout.upload(&upload_id)).map_err(io_err("fsync upload directory"))?;
            staged.commit += t.elapsed();
            inner.metrics.observe_apply(staged.apply.as_secs_f64());
            inner.metrics.observe_commit(staged.commit.as_secs_f64());
            let m = &staged.meta;
            Ok(PartInfo {
                part_number,
                size: m.size,
                etag: m.etag.clone(),
                last_modified_ms: m.last_modified_ms,
                checksums: m.checksums.clone(),
            })
        })
        .await?;
        self.inner.metrics.add_written_bytes(written);
        Ok(info)
    }

    /// Reads every part's footer, in part-number order.
    fn read_parts(&self, upload_id: &str) -> Result<Vec<PartInfo>, StoreError> {
        let dir = self.inner.layout.upload(upload_id);
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err("list upload directory"))? {
            let entry = entry.map_err(io_err("list upload directory"))?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let key = format!("{upload_id}/part-{n:05}");
            let reader = match self.inner.open_checked(&entry.path(), &key) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => return Err(self.inner.damaged(upload_id, &key, e)),
            };
            let m = reader.footer.meta;
            parts.push(PartInfo {
                part_number: n,
                size: m.size,
                etag: m.etag,
                last_modified_ms: m.last_modified_ms,
                checksums: m.checksums,
            });
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(parts)
    }

    pub(super) async fn complete_upload_impl(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        wanted: Vec<(i32, String)>,
    ) -> Result<ObjectMeta, StoreError> {
        let info = self.load_upload(bucket, key, upload_id)?;
        if wanted.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a multipart upload needs at least one part".to_owned(),
            ));
        }
        if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let versioned = self.versioned_write(bucket);
        let this = self.clone();
        let upload = upload_id.to_owned();
        let staged = blocking(move || {
            let have: BTreeMap<i32, PartInfo> = this
                .read_parts(&upload)?
                .into_iter()
                .map(|p| (p.part_number, p))
                .collect();
            let mut combined = Md5::new();
            for (i, (n, etag)) in wanted.iter().enumerate() {
                let part = have
                    .get(n)
                    .ok_or(StoreError::InvalidPart(*n, "not uploaded"))?;
                if part.etag != etag.trim_matches('"') {
                    return Err(StoreError::InvalidPart(*n, "ETag does not match"));
                }
                if i + 1 < wanted.len() && part.size < MIN_PART_SIZE {
                    return Err(StoreError::EntityTooSmall {
                        part: *n,
                        size: part.size,
                    });
                }
                let md5 = hex::decode(&part.etag)
                    .map_err(|_| StoreError::InvalidPart(*n, "stored ETag is not hex"))?;
                combined.update(&md5);
            }
            let t = Instant::now();
            let mut w = ObjectWriter::create(this.inner.layout.temp_file())
                .map_err(io_err("create temp file"))?;
            for (n, _) in &wanted {
                let key = format!("{upload}/part-{n:05}");
                let path = this.inner.layout.part(&upload, *n);
                let reader = match this.inner.open_checked(&path, &key) {
                    Ok(Some(r)) => r,
                    Ok(None) => return Err(StoreError::InvalidPart(*n, "not uploaded")),
                    Err(e) => return Err(this.inner.damaged(&upload, &key, e)),
                };
                let size = reader.footer.meta.size;
                let mut pos = 0;
                while pos < size {
                    let end = (pos + (4 << 20)).min(size);
                    let bytes = reader
                        .read_range(pos, end)
                        .map_err(|e| this.inner.damaged(&upload, &key, e))?;
                    w.write(&bytes).map_err(io_err("write temp file"))?;
                    pos = end;
                }
            }
            let mut attrs = info.attrs.clone();
            attrs.part_sizes = wanted
                .iter()
                .map(|(n, _)| have.get(n).map_or(0, |p| p.size))
                .collect();
            attrs.upload_id = Some(upload.clone());
            let meta = ObjectMeta {
                key: info.key.clone(),
                size: w.size(),
                etag: format!("{}-{}", hex::encode(combined.finalize()), wanted.len()),
                last_modified_ms: now_ms(),
                attrs,
                checksums: BTreeMap::new(),
                parts: wanted.len() as u32,
                version: this.inner.hlc.tick(),
                deleted: false,
                versioned,
                delete_marker: false,
            };
            let (file, path) = w.finish(meta.clone()).map_err(io_err("write footer"))?;
            let apply = t.elapsed();
            let t = Instant::now();
            file.sync_all().map_err(io_err("fsync object file"))?;
            Ok(Staged {
                image: None,
                path,
                meta,
                apply,
                commit: t.elapsed(),
            })
        })
        .await?;
        let meta = self.commit(bucket, key, staged).await?;
        self.remove_upload(upload_id).await?;
        Ok(meta)
    }

    /// Moves the upload directory out of `multipart/` (one durable rename), then deletes it.
    async fn remove_upload(&self, upload_id: &str) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        let upload_id = upload_id.to_owned();
        blocking(move || {
            let grave = inner.layout.temp_file();
            std::fs::rename(inner.layout.upload(&upload_id), &grave).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NoSuchUpload(upload_id.clone()),
                _ => StoreError::io("move upload away", e),
            })?;
            sync_dir(&inner.layout.multipart()).map_err(io_err("fsync multipart directory"))?;
            if let Err(e) = std::fs::remove_dir_all(&grave) {
                tracing::warn!(upload_id, error = %e, "remove finished upload; start-up will finish it");
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn abort_upload_impl(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.load_upload(bucket, key, upload_id)?;
        self.remove_upload(upload_id).await
    }

    pub(super) async fn list_parts_impl(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(UploadInfo, Vec<PartInfo>), StoreError> {
        let info = self.load_upload(bucket, key, upload_id)?;
        let this = self.clone();
        let id = upload_id.to_owned();
        let parts = blocking(move || this.read_parts(&id)).await?;
        Ok((info, parts))
    }

    pub(super) async fn list_uploads_impl(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadInfo>, StoreError> {
        if !self.inner.index.has_bucket(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let inner = self.inner.clone();
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        blocking(move || {
            let mut out = Vec::new();
            for entry in
                std::fs::read_dir(inner.layout.multipart()).map_err(io_err("list uploads"))?
            {
                let path = entry
                    .map_err(io_err("list uploads"))?
                    .path()
                    .join("upload.json");
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let Ok(info) = serde_json::from_slice::<UploadInfo>(&bytes) else {
                    tracing::warn!(file = %path.display(), "skipping an unreadable upload.json");
                    continue;
                };
                if info.bucket == bucket && info.key.starts_with(&prefix) {
                    out.push(info);
                }
            }
            out.sort_by(|a, b| (&a.key, a.initiated_ms).cmp(&(&b.key, b.initiated_ms)));
            Ok(out)
        })
        .await
    }
}
