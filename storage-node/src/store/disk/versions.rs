//! Bucket versioning on disk. The current version of a key stays where an unversioned bucket keeps
//! it (`<hh>/<sha256(key)>`), so an unversioned bucket behaves exactly as before; versions it
//! replaces in a versioned bucket move to `.versions/<hh>/<sha256(key)>.<version id>` (see
//! `layout`), in the same self-describing, CRC32C-checked file format.
//!
//! Where a version goes is decided by [`place`] from the versions alone, never from the bucket's
//! status, so that replicas applied in any order end in the same state on every node:
//! - newer than the current version: it becomes current; the old current is kept as noncurrent
//!   when either of them has its own version id (a `null` replaced by a `null` is gone, as in S3);
//!   a `null` version becoming current drops any older noncurrent `null`;
//! - older (a replica or a racing local write arriving late): kept as noncurrent if it has its own
//!   version id, or if it is the newest `null`; a tombstone or an outdated `null` is dropped.
//!
//! Crash safety: the replaced current is hard-linked into `.versions/` before the new file is
//! renamed over it, so a crash leaves it in both places; start-up drops the copy whose version
//! equals the current one (and a noncurrent `null` under a current `null`). A purged current is
//! replaced by the newest noncurrent with one rename.

use std::path::{Path, PathBuf};

use super::format::{FormatError, ObjectReader};
use super::fsutil::{create_dir_durable, sync_dir};
use super::index::{Entry, Index, entry_version_id};
use super::layout::{Layout, fanout_dirs};
use super::store::{DiskStore, Inner, Settle, blocking, entry_of, io_err, load_entry};
use crate::metrics::Metrics;
use crate::replication::hlc::{Hlc, Version};
use crate::store::versioning::{NULL_VERSION_ID, parse_version_id};
use crate::store::{
    Deleted, ObjectMeta, ReplicaOp, StoreError, VersioningStatus, validate_bucket, validate_key,
};

/// Where a new version of a key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// The same version is already held, or an older one that is not kept.
    Stale,
    /// It becomes current; `archive`: the old current stays as noncurrent; `drop_null`: a
    /// noncurrent `null` version it replaces.
    Current {
        archive: Option<Entry>,
        drop_null: Option<Entry>,
    },
    /// It is kept as noncurrent; `replaces`: the older noncurrent `null` it replaces.
    Noncurrent { replaces: Option<Entry> },
}

/// Decides where `new` goes, given the key's current version (and whether it is deleted) and its
/// noncurrent versions. `new_deleted`: `new` is a tombstone or delete marker.
pub(super) fn place(
    current: Option<(Entry, bool)>,
    noncurrent: &[Entry],
    new: &Entry,
    new_deleted: bool,
) -> Placement {
    if current.is_some_and(|(c, _)| c.version == new.version)
        || noncurrent.iter().any(|e| e.version == new.version)
    {
        return Placement::Stale;
    }
    let null_nc = noncurrent.iter().find(|e| !e.versioned).copied();
    match current {
        Some((c, c_deleted)) if c.version > new.version => {
            if new_deleted && !new.marker {
                return Placement::Stale;
            }
            if new.versioned {
                return Placement::Noncurrent { replaces: None };
            }
            // A null version older than a current null one (or than a tombstone) is outdated.
            if !c.versioned || (c_deleted && !c.marker) {
                return Placement::Stale;
            }
            match null_nc {
                Some(n) if n.version > new.version => Placement::Stale,
                other => Placement::Noncurrent { replaces: other },
            }
        }
        Some((c, c_deleted)) => {
            let tombstone = c_deleted && !c.marker;
            Placement::Current {
                archive: (!tombstone && (c.versioned || new.versioned)).then_some(c),
                drop_null: if new.versioned { None } else { null_nc },
            }
        }
        None => Placement::Current {
            archive: None,
            drop_null: if new.versioned { None } else { null_nc },
        },
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VersioningFile {
    status: VersioningStatus,
    version: Version,
}

/// The bucket's versioning status from its `.versioning.json`; `None` when never set (or
/// unreadable: logged).
pub(super) fn read_versioning(
    layout: &Layout,
    bucket: &str,
) -> Option<(VersioningStatus, Version)> {
    let bytes = std::fs::read(layout.versioning_file(bucket)).ok()?;
    match serde_json::from_slice::<VersioningFile>(&bytes) {
        Ok(f) => Some((f.status, f.version)),
        Err(e) => {
            tracing::error!(bucket, error = %e, "unreadable versioning status; treating the bucket as never versioned");
            None
        }
    }
}

/// Loads a bucket's noncurrent versions at start-up (after its current ones), finishing what a
/// crash interrupted. Returns how many files were quarantined.
pub(super) fn load_noncurrent(
    layout: &Layout,
    index: &Index,
    hlc: &Hlc,
    metrics: &Metrics,
    bucket: &str,
) -> Result<u64, StoreError> {
    let root = layout.versions(bucket);
    if !root.is_dir() {
        return Ok(0);
    }
    let mut quarantined = 0;
    for fan in fanout_dirs() {
        let Ok(files) = std::fs::read_dir(root.join(&fan)) else {
            continue;
        };
        for file in files {
            let path = file.map_err(io_err("list versions"))?.path();
            let (key, e, _) = match load_entry(&path) {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(detail) => {
                    tracing::error!(bucket, file = %path.display(), %detail, "quarantining an unreadable version file");
                    metrics.checksum_error();
                    let dest = layout
                        .quarantine()
                        .join(uuid::Uuid::new_v4().simple().to_string());
                    std::fs::rename(&path, &dest).map_err(io_err("quarantine"))?;
                    quarantined += 1;
                    continue;
                }
            };
            hlc.observe(e.version);
            let current = index.current(bucket, &key);
            let leftover = current.is_some_and(|(c, _)| {
                c.version == e.version || (!c.versioned && !e.versioned && c.version > e.version)
            });
            if leftover {
                std::fs::remove_file(&path).map_err(io_err("remove leftover version"))?;
                continue;
            }
            index.add_noncurrent(bucket, &key, e)?;
        }
    }
    Ok(quarantined)
}

impl Inner {
    /// Links the current file of a key into `.versions/` as `old`; returns the directory to fsync.
    pub(super) fn archive(
        &self,
        bucket: &str,
        key: &str,
        current: &Path,
        old: &Entry,
    ) -> Result<PathBuf, StoreError> {
        let (vdir, vfile) = self.layout.version(bucket, key, &entry_version_id(old));
        create_dir_durable(&vdir).map_err(io_err("create versions directory"))?;
        match std::fs::remove_file(&vfile) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("replace version file", e)),
        }
        if old.loc.is_some() {
            // A log-resident current is copied out: noncurrent versions live in files.
            self.copy_out(bucket, key, old, &vfile)?;
            return Ok(vdir);
        }
        std::fs::hard_link(current, &vfile).map_err(io_err("keep the replaced version"))?;
        sync_dir(&vdir).map_err(io_err("fsync versions directory"))?;
        Ok(vdir)
    }

    /// Removes a noncurrent version's file and entry; returns the directory to fsync.
    pub(super) fn remove_noncurrent(
        &self,
        bucket: &str,
        key: &str,
        e: &Entry,
    ) -> Result<PathBuf, StoreError> {
        let (vdir, vfile) = self.layout.version(bucket, key, &entry_version_id(e));
        match std::fs::remove_file(&vfile) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(StoreError::io("remove version file", err)),
        }
        self.index.remove_noncurrent(bucket, key, e.version);
        Ok(vdir)
    }

    /// Removes one version for good (the caller holds the key's stripe). A removed current version
    /// is replaced by the newest noncurrent one. Returns the entry removed, if it was held.
    fn purge_locked(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> Result<Option<Entry>, StoreError> {
        let (dir, file) = self.layout.object(bucket, key);
        let current = self.index.current(bucket, key);
        let noncurrent = self.index.noncurrent(bucket, key);
        match current {
            // A plain tombstone is no version to purge.
            Some((c, deleted)) if c.version == version && (!deleted || c.marker) => {
                if let Some(loc) = c.loc {
                    // Its record must stay dead after a restart.
                    self.log_kill(bucket, key, c.version)?;
                    self.log.mark_dead(bucket, loc);
                }
                if let Some(newest) = noncurrent.first().copied() {
                    let (vdir, vfile) =
                        self.layout.version(bucket, key, &entry_version_id(&newest));
                    std::fs::rename(&vfile, &file).map_err(io_err("promote a version"))?;
                    self.index.remove_noncurrent(bucket, key, newest.version);
                    if newest.marker {
                        self.index.put_tombstone(bucket, key, newest)?;
                    } else {
                        self.index.upsert(bucket, key, newest)?;
                    }
                    sync_dir(&vdir).map_err(io_err("fsync versions directory"))?;
                } else {
                    if c.loc.is_none() {
                        match std::fs::remove_file(&file) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(StoreError::io("remove version", e)),
                        }
                    }
                    self.index.remove_current(bucket, key);
                }
                sync_dir(&dir).map_err(io_err("fsync object directory"))?;
                Ok(Some(c))
            }
            _ => match noncurrent.iter().find(|e| e.version == version) {
                Some(e) => {
                    let vdir = self.remove_noncurrent(bucket, key, e)?;
                    sync_dir(&vdir).map_err(io_err("fsync versions directory"))?;
                    Ok(Some(*e))
                }
                None => Ok(None),
            },
        }
    }

    /// The entry a client's version id names (`None`: the current version). Delete markers are
    /// [`StoreError::DeleteMarker`].
    fn find_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(Entry, bool), StoreError> {
        if !self.index.has_bucket(bucket) {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let marker = |e: &Entry, by_version_id| StoreError::DeleteMarker {
            version_id: entry_version_id(e),
            last_modified_ms: e.last_modified_ms,
            by_version_id,
        };
        let current = self.index.current(bucket, key);
        let Some(vid) = version_id else {
            return match current {
                Some((e, false)) => Ok((e, true)),
                Some((t, true)) if t.marker => Err(marker(&t, false)),
                _ => Err(StoreError::NoSuchKey {
                    bucket: bucket.to_owned(),
                }),
            };
        };
        if vid != NULL_VERSION_ID && parse_version_id(vid).is_none() {
            return Err(StoreError::InvalidArgument(
                "Invalid version id specified".to_owned(),
            ));
        }
        if let Some((c, deleted)) = current
            && entry_version_id(&c) == vid
            && (!deleted || c.marker)
        {
            return if c.marker {
                Err(marker(&c, true))
            } else {
                Ok((c, true))
            };
        }
        match self
            .index
            .noncurrent(bucket, key)
            .into_iter()
            .find(|e| entry_version_id(e) == vid)
        {
            Some(e) if e.marker => Err(marker(&e, true)),
            Some(e) => Ok((e, false)),
            None => Err(StoreError::NoSuchVersion {
                bucket: bucket.to_owned(),
            }),
        }
    }

    /// Opens one version of a key (the current one when `version_id` is `None`), verified.
    pub(super) fn open_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectReader, StoreError> {
        // A version can move (current -> noncurrent) between lookup and open: look again.
        for _ in 0..3 {
            let (e, is_current) = self.find_version(bucket, key, version_id)?;
            if is_current && e.loc.is_some() {
                match self.open_logged(bucket, key, &e) {
                    Ok(Some(r)) => return Ok(r),
                    Ok(None) => continue,
                    Err(err) => return Err(self.damaged(bucket, key, err)),
                }
            }
            let path = if is_current {
                self.layout.object(bucket, key).1
            } else {
                self.layout.version(bucket, key, &entry_version_id(&e)).1
            };
            match self.open_checked(&path, key) {
                Ok(Some(r)) if version_id.is_none() || r.footer.meta.version == e.version => {
                    return Ok(r);
                }
                Ok(_) => continue,
                Err(err) => return Err(self.damaged(bucket, key, err)),
            }
        }
        Err(match version_id {
            None => StoreError::NoSuchKey {
                bucket: bucket.to_owned(),
            },
            Some(_) => StoreError::NoSuchVersion {
                bucket: bucket.to_owned(),
            },
        })
    }

    fn write_versioning(
        &self,
        bucket: &str,
        status: VersioningStatus,
        version: Version,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_vec(&VersioningFile { status, version })
            .map_err(|e| StoreError::io("encode", std::io::Error::other(e)))?;
        let tmp = self.layout.temp_file();
        std::fs::write(&tmp, body).map_err(io_err("write versioning status"))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err("fsync versioning status"))?;
        std::fs::rename(&tmp, self.layout.versioning_file(bucket))
            .map_err(io_err("rename versioning status"))?;
        sync_dir(&self.layout.bucket(bucket)).map_err(io_err("fsync bucket directory"))?;
        Ok(())
    }
}

impl DiskStore {
    /// HEAD of the current version or of `version_id`.
    pub(super) async fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectMeta, StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        validate_key(key)?;
        let inner = self.inner.clone();
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let version_id = version_id.map(str::to_owned);
        blocking(move || {
            inner
                .open_version(&bucket, &key, version_id.as_deref())
                .map(|r| r.footer.meta)
        })
        .await
    }

    /// PutBucketVersioning: stamped with a fresh version, logged for replication.
    pub(super) async fn set_versioning_local(
        &self,
        bucket: &str,
        status: VersioningStatus,
    ) -> Result<(), StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        self.inner.index.versioning(bucket)?;
        let inner = self.inner.clone();
        let bucket = bucket.to_owned();
        // Like bucket creation, a status change replicates without waiting for the write quorum.
        blocking(move || {
            let _guard = inner.stripe("");
            let version = inner.hlc.tick();
            let seq = match inner.write_log.get() {
                Some(log) => {
                    Some(log.log_op(&bucket, "", ReplicaOp::SetVersioning { status, version })?)
                }
                None => None,
            };
            let _settle = seq.zip(inner.write_log.get()).map(|(seq, log)| Settle {
                log: log.as_ref(),
                seq,
            });
            inner.write_versioning(&bucket, status, version)?;
            inner.index.set_versioning(&bucket, status, version)?;
            Ok(())
        })
        .await
    }

    async fn wait_quorum(&self, seq: Option<u64>) -> Result<(), StoreError> {
        if let (Some(seq), Some(log)) = (seq, self.inner.write_log.get()) {
            log.wait_quorum(seq).await?;
        }
        Ok(())
    }

    /// DeleteObject with a version id: that version is removed for good (a removed current
    /// version is replaced by the newest noncurrent one). A version that is not there is no error,
    /// as in S3. In a bucket that was never versioned, the `null` version is a plain delete.
    pub(super) async fn purge_version(
        &self,
        bucket: &str,
        key: &str,
        vid: &str,
    ) -> Result<Deleted, StoreError> {
        validate_bucket(bucket).map_err(|_| StoreError::NoSuchBucket(bucket.to_owned()))?;
        validate_key(key)?;
        if vid != NULL_VERSION_ID && parse_version_id(vid).is_none() {
            return Err(StoreError::InvalidArgument(
                "Invalid version id specified".to_owned(),
            ));
        }
        if self.inner.index.versioning(bucket)?.is_none() && vid == NULL_VERSION_ID {
            self.delete_current(bucket, key).await?;
            return Ok(Deleted {
                version_id: Some(vid.to_owned()),
                delete_marker: false,
            });
        }
        let inner = self.inner.clone();
        let (b, k, v) = (bucket.to_owned(), key.to_owned(), vid.to_owned());
        let (removed, seq) = blocking(move || {
            let _guard = inner.stripe(&k);
            let target = inner.find_version(&b, &k, Some(&v)).map(|(e, _)| e);
            let target = match target {
                Ok(e) => e,
                Err(StoreError::DeleteMarker { .. }) => {
                    let all = inner.index.current(&b, &k).map(|(c, _)| c).into_iter();
                    match all
                        .chain(inner.index.noncurrent(&b, &k))
                        .find(|e| entry_version_id(e) == v)
                    {
                        Some(e) => e,
                        None => return Ok((None, None)),
                    }
                }
                Err(StoreError::NoSuchVersion { .. }) => return Ok((None, None)),
                Err(e) => return Err(e),
            };
            let seq = match inner.write_log.get() {
                Some(log) => Some(log.log_op(
                    &b,
                    &k,
                    ReplicaOp::PurgeVersion {
                        version: target.version,
                    },
                )?),
                None => None,
            };
            let _settle = seq.zip(inner.write_log.get()).map(|(seq, log)| Settle {
                log: log.as_ref(),
                seq,
            });
            let removed = inner.purge_locked(&b, &k, target.version)?;
            inner.metrics.set_stored(inner.index.stats());
            Ok((removed, seq))
        })
        .await?;
        self.wait_quorum(seq).await?;
        Ok(Deleted {
            version_id: Some(vid.to_owned()),
            delete_marker: removed.is_some_and(|e| e.marker),
        })
    }

    /// Whether a replica of `meta` would be dropped here (held already, or outdated).
    pub fn replica_is_stale(&self, bucket: &str, meta: &ObjectMeta) -> bool {
        let current = self.inner.index.current(bucket, &meta.key);
        let noncurrent = self.inner.index.noncurrent(bucket, &meta.key);
        place(current, &noncurrent, &entry_of(meta), meta.deleted) == Placement::Stale
    }

    /// The bucket's versioning status and the version of that setting, if ever set.
    pub fn versioning_state(&self, bucket: &str) -> Option<(VersioningStatus, Version)> {
        self.inner.index.versioning(bucket).ok().flatten()
    }

    /// The noncurrent versions held of a key, newest first (for recovery's comparison).
    pub fn noncurrent_versions(&self, bucket: &str, key: &str) -> Vec<Version> {
        self.inner
            .index
            .noncurrent(bucket, key)
            .iter()
            .map(|e| e.version)
            .collect()
    }

    /// A noncurrent version's file, for shipping to a peer. `Ok(None)` when it is gone.
    pub fn open_noncurrent(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> Result<Option<ObjectReader>, StoreError> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        let Some(e) = self
            .inner
            .index
            .noncurrent(bucket, key)
            .into_iter()
            .find(|e| e.version == version)
        else {
            return Ok(None);
        };
        let (_, file) = self
            .inner
            .layout
            .version(bucket, key, &entry_version_id(&e));
        match ObjectReader::open(&file) {
            Ok(Some(r)) if r.footer.meta.key == key && r.footer.meta.version == version => {
                Ok(Some(r))
            }
            Ok(Some(_)) | Ok(None) => Ok(None),
            Err(err) => Err(self.inner.damaged(bucket, key, err)),
        }
    }

    /// Every noncurrent version, for the scrubber: (bucket, key, version id).
    pub fn all_noncurrent(&self) -> Vec<(String, String, String)> {
        self.inner.index.all_noncurrent()
    }

    /// Opens a noncurrent version's file for the scrubber. `Ok(None)` when it is gone.
    pub fn open_version_file(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectReader>, FormatError> {
        let (_, file) = self.inner.layout.version(bucket, key, version_id);
        match ObjectReader::open(&file)? {
            Some(r) if r.footer.meta.key == key => Ok(Some(r)),
            Some(_) => Err(FormatError::Corrupt("footer names another key".to_owned())),
            None => Ok(None),
        }
    }

    /// Applies an operation a peer made (never logged again). Returns whether it changed anything.
    pub async fn apply_op(
        &self,
        bucket: &str,
        key: &str,
        op: ReplicaOp,
    ) -> Result<bool, StoreError> {
        validate_bucket(bucket)?;
        match op {
            ReplicaOp::CreateBucket { created_ms } => {
                match self.create_bucket_at(bucket, created_ms, false).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::BucketAlreadyExists(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            ReplicaOp::DeleteBucket { version } => {
                match self.delete_bucket_if(bucket, false, Some(version)).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::NoSuchBucket(_)) => Ok(false),
                    Err(StoreError::BucketNotEmpty(_)) => {
                        tracing::warn!(
                            bucket,
                            "a peer deleted this bucket, but it holds newer writes here; keeping it"
                        );
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
            ReplicaOp::SetVersioning { status, version } => {
                if !self.inner.index.has_bucket(bucket) {
                    match self
                        .create_bucket_at(bucket, crate::store::now_ms(), false)
                        .await
                    {
                        Ok(()) | Err(StoreError::BucketAlreadyExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                self.inner.hlc.observe(version);
                let inner = self.inner.clone();
                let bucket = bucket.to_owned();
                blocking(move || {
                    let _guard = inner.stripe("");
                    if inner
                        .index
                        .versioning(&bucket)?
                        .is_some_and(|(_, v)| v >= version)
                    {
                        return Ok(false);
                    }
                    inner.write_versioning(&bucket, status, version)?;
                    inner.index.set_versioning(&bucket, status, version)
                })
                .await
            }
            ReplicaOp::PurgeVersion { version } => {
                validate_key(key)?;
                let inner = self.inner.clone();
                let (bucket, key) = (bucket.to_owned(), key.to_owned());
                blocking(move || {
                    if !inner.index.has_bucket(&bucket) {
                        return Ok(false);
                    }
                    let _guard = inner.stripe(&key);
                    let removed = inner.purge_locked(&bucket, &key, version)?;
                    inner.metrics.set_stored(inner.index.stats());
                    Ok(removed.is_some())
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests;
