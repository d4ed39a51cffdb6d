//! The store's side of the small-object log (`small_log`): replay into the index at start-up,
//! verified reads of log-resident objects, kill records for removals, copying a record out to
//! `.versions/` when its object becomes noncurrent, and compaction.
//!
//! Replay also gathers the folded replication records (`small_log::Fold`) of the last
//! `replication::log::FOLD_REPLAY_SEQS` sequence numbers ([`FoldTail`]): replication takes them at
//! start-up ([`DiskStore::take_folded`]) and appends those its log lost in a crash.
//!
//! Compaction rewrites a sealed segment whose dead share passed a threshold, keeping its live
//! records (and its kill records, unless it is the bucket's oldest segment) in their order, as the
//! next generation of the same segment id: written to a temporary file, fsynced, renamed, the
//! directory fsynced. Only then are index entries moved to the new offsets, each under its key's
//! lock and only if the key still points at the old record (an overwrite meanwhile wins), and the
//! old generation removed. A crash at any point leaves either generation whole; start-up keeps the
//! newest. Each run reads at most a byte budget of segments.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use super::format::{FormatError, ObjectReader};
use super::index::{Entry, Index};
use super::layout::Layout;
use super::small_log::{self, Fold, LogLoc, LogReadError, Replayed, SmallLog};
use super::store::{DiskStore, Inner, blocking, entry_of, io_err};
use crate::replication::hlc::{Hlc, Version};
use crate::replication::log::FOLD_REPLAY_SEQS;
use crate::store::{ObjectMeta, StoreError};

/// A local write whose replication record was folded into its small-object log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedWrite {
    pub bucket: String,
    pub key: String,
    pub version: Version,
    pub size: u64,
    pub deleted: bool,
    pub fold: Fold,
}

/// The folded writes replay met, by sequence number, only those within [`FOLD_REPLAY_SEQS`] of
/// the highest (older ones are fsynced in the replication log: see `replication::log`).
#[derive(Debug, Default)]
pub(super) struct FoldTail {
    by_seq: BTreeMap<u64, FoldedWrite>,
}

impl FoldTail {
    fn add(&mut self, bucket: &str, meta: &ObjectMeta, fold: Fold) {
        let top = self.by_seq.keys().next_back().copied().unwrap_or(0);
        if fold.seq.saturating_add(FOLD_REPLAY_SEQS) <= top {
            return;
        }
        self.by_seq.insert(
            fold.seq,
            FoldedWrite {
                bucket: bucket.to_owned(),
                key: meta.key.clone(),
                version: meta.version,
                size: meta.size,
                deleted: meta.deleted,
                fold,
            },
        );
        // Bounded: drop what fell out of the window.
        if self.by_seq.len() as u64 > 2 * FOLD_REPLAY_SEQS {
            let top = fold.seq.max(top);
            self.by_seq = self
                .by_seq
                .split_off(&top.saturating_sub(FOLD_REPLAY_SEQS - 1));
        }
    }

    pub(super) fn into_writes(self) -> Vec<FoldedWrite> {
        let top = self.by_seq.keys().next_back().copied().unwrap_or(0);
        self.by_seq
            .into_values()
            .filter(|w| w.fold.seq.saturating_add(FOLD_REPLAY_SEQS) > top)
            .collect()
    }
}

/// What one compaction run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    pub segments: u64,
    pub read_bytes: u64,
    pub reclaimed_bytes: u64,
    pub moved_records: u64,
}

/// Replays a bucket's log into the index, after its object files were loaded and before its
/// noncurrent versions are. A record newer than the key's file wins and the file (kept in
/// `.versions/` first when it had to be) is removed, finishing what a crash interrupted.
/// Returns how many current objects live in the log.
pub(super) fn replay_log(
    layout: &Layout,
    log: &SmallLog,
    index: &Index,
    hlc: &Hlc,
    bucket: &str,
    folded: &mut FoldTail,
) -> Result<u64, StoreError> {
    let records = log
        .replay(bucket)
        .map_err(io_err("replay small-object log"))?;
    let mut newest: HashMap<String, Entry> = HashMap::new();
    for r in records {
        match r {
            Replayed::Object { loc, meta, fold } => {
                hlc.observe(meta.version);
                if let Some(f) = fold {
                    folded.add(bucket, &meta, f);
                }
                if meta.deleted
                    || newest
                        .get(&meta.key)
                        .is_some_and(|e| e.version >= meta.version)
                {
                    continue;
                }
                let mut e = entry_of(&meta);
                e.loc = Some(loc);
                newest.insert(meta.key.clone(), e);
            }
            Replayed::Kill { key, version } => {
                hlc.observe(version);
                if newest.get(&key).is_some_and(|e| e.version <= version) {
                    newest.remove(&key);
                }
            }
        }
    }
    let mut n = 0;
    for (key, e) in newest {
        match index.current(bucket, &key) {
            Some((c, _)) if c.version >= e.version => continue,
            Some(_) => {
                let (_, file) = layout.object(bucket, &key);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(StoreError::io("remove a replaced object file", err)),
                }
            }
            None => {}
        }
        index.upsert(bucket, &key, e)?;
        if let Some(loc) = e.loc {
            log.mark_live(bucket, loc);
        }
        n += 1;
    }
    Ok(n)
}

impl Inner {
    /// Opens the log-resident entry `e` of `key`, verified. `Ok(None)` when its record moved
    /// meanwhile (look the key up again).
    pub(super) fn open_logged(
        &self,
        bucket: &str,
        key: &str,
        e: &Entry,
    ) -> Result<Option<ObjectReader>, FormatError> {
        let Some(loc) = e.loc else {
            return Ok(None);
        };
        match self.log.open(bucket, loc) {
            Ok(r) if r.footer.meta.key == key && r.footer.meta.version == e.version => Ok(Some(r)),
            Ok(_) => Err(FormatError::Corrupt(
                "small-object log record names another key or version".to_owned(),
            )),
            Err(LogReadError::Moved) => Ok(None),
            Err(LogReadError::Format(f)) => Err(f),
        }
    }

    /// Opens the current version of a key wherever it lives (log or file); tombstones are
    /// `Ok(None)` unless `tombstones`. Retries when the object moves between lookup and open.
    pub(super) fn open_current_any(
        &self,
        bucket: &str,
        key: &str,
        tombstones: bool,
    ) -> Result<Option<ObjectReader>, FormatError> {
        for _ in 0..5 {
            if let Some((e, false)) = self.index.current(bucket, key)
                && e.loc.is_some()
            {
                match self.open_logged(bucket, key, &e)? {
                    Some(r) => return Ok(Some(r)),
                    None => continue,
                }
            }
            let (_, file) = self.layout.object(bucket, key);
            match ObjectReader::open(&file)? {
                Some(r) if r.footer.meta.key != key => {
                    return Err(FormatError::Corrupt("footer names another key".to_owned()));
                }
                Some(r) if r.footer.meta.deleted && !tombstones => return Ok(None),
                Some(r) => return Ok(Some(r)),
                None if self
                    .index
                    .current(bucket, key)
                    .is_some_and(|(e, _)| e.loc.is_some()) =>
                {
                    continue;
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Records durably that every log record of `key` at or below `version` is dead (a purge, a
    /// collected tombstone), so that replay cannot bring it back.
    pub(super) fn log_kill(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> Result<(), StoreError> {
        let record = small_log::kill_record(key, version).map_err(io_err("encode kill record"))?;
        self.log
            .append(bucket, record)
            .map_err(io_err("append to the small-object log"))?;
        Ok(())
    }

    /// A current entry replaced by a log-resident write: its record is dead, or its file removed
    /// (kept in `.versions/` first when it had to be).
    pub(super) fn retire_current(&self, bucket: &str, file: &Path, old: &Entry) {
        match old.loc {
            Some(loc) => self.log.mark_dead(bucket, loc),
            None => match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Harmless: start-up removes a file older than the key's record.
                Err(e) => tracing::warn!(bucket, error = %e, "remove a replaced object file"),
            },
        }
    }

    /// Copies a log-resident object's record out to `dest` (it becomes a noncurrent version).
    pub(super) fn copy_out(
        &self,
        bucket: &str,
        key: &str,
        e: &Entry,
        dest: &Path,
    ) -> Result<(), StoreError> {
        let Some(loc) = e.loc else {
            return Err(StoreError::io(
                "copy a log record out",
                std::io::Error::other("entry is not in the log"),
            ));
        };
        let image = self.log.read_image(bucket, loc).map_err(|err| match err {
            LogReadError::Moved => StoreError::io(
                "copy a log record out",
                std::io::Error::other("record moved"),
            ),
            LogReadError::Format(f) => self.damaged(bucket, key, f),
        })?;
        super::store::write_file_durable(&self.layout, &image, dest)?;
        self.log.mark_dead(bucket, loc);
        Ok(())
    }
}

impl DiskStore {
    /// The folded writes replay found at start-up (see [`FoldTail`]); empty after the first call.
    pub fn take_folded(&self) -> Vec<FoldedWrite> {
        std::mem::take(&mut *self.inner.folded.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The small-object log (tests, metrics).
    pub fn small_log(&self) -> &SmallLog {
        &self.inner.log
    }

    /// One compaction run: rewrites sealed segments whose dead share is at least
    /// `min_dead_ratio`, most dead first, until `budget_bytes` of segments were read.
    pub fn compact_log(
        &self,
        budget_bytes: u64,
        min_dead_ratio: f64,
    ) -> Result<CompactReport, StoreError> {
        let started = Instant::now();
        let mut report = CompactReport::default();
        for (bucket, id, generation, _dead) in self.inner.log.compaction_candidates(min_dead_ratio)
        {
            if report.read_bytes >= budget_bytes {
                break;
            }
            match self.compact_segment(&bucket, id, generation, &mut report) {
                Ok(true) => report.segments += 1,
                Ok(false) => {}
                // The bucket was deleted meanwhile.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(bucket, segment = id, error = %e, "compact small-object log segment");
                    self.inner
                        .metrics
                        .observe_compaction(started.elapsed().as_secs_f64());
                    return Err(e);
                }
            }
        }
        self.inner
            .metrics
            .observe_compaction(started.elapsed().as_secs_f64());
        Ok(report)
    }

    fn compact_segment(
        &self,
        bucket: &str,
        id: u32,
        generation: u32,
        report: &mut CompactReport,
    ) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let (data, oldest, known_damage) = inner
            .log
            .segment_bytes(bucket, id, generation)
            .map_err(io_err("read small-object log segment"))?;
        report.read_bytes += data.len() as u64;
        let (records, damaged) = small_log::records_checked(&data);
        if damaged > known_damage {
            // Damage since start-up: an entry may point into it, so keep the segment as it is.
            inner.log.freeze(bucket, id, generation, damaged);
            return Ok(false);
        }
        let next = generation.checked_add(1).ok_or_else(|| {
            StoreError::io("compact", std::io::Error::other("generations exhausted"))
        })?;
        let mut out = Vec::new();
        let mut moved = Vec::new();
        for small_log::SegRecord {
            off,
            content,
            bytes: rec,
        } in records
        {
            let len = rec.len() as u32;
            match content {
                small_log::Content::Object(key) => {
                    let old = LogLoc {
                        seg: id,
                        generation,
                        off,
                        len,
                    };
                    let live = inner
                        .index
                        .current(bucket, &key)
                        .is_some_and(|(e, deleted)| !deleted && e.loc == Some(old));
                    if live {
                        let new_off = u32::try_from(out.len()).map_err(|_| {
                            StoreError::io("compact", std::io::Error::other("segment too large"))
                        })?;
                        out.extend_from_slice(rec);
                        let new = LogLoc {
                            seg: id,
                            generation: next,
                            off: new_off,
                            len,
                        };
                        moved.push((key, old, new));
                    }
                }
                // Kill records matter while an older segment may hold what they kill.
                small_log::Content::Kill if !oldest => out.extend_from_slice(rec),
                small_log::Content::Kill => {}
            }
        }
        report.reclaimed_bytes += (data.len() - out.len()) as u64;
        if !out.is_empty() {
            inner
                .log
                .install(bucket, id, next, &out)
                .map_err(io_err("write compacted segment"))?;
            for (key, old, new) in moved {
                let _guard = inner.stripe(&key);
                if inner.index.relocate(bucket, &key, old, new) {
                    report.moved_records += 1;
                } else {
                    inner.log.mark_dead(bucket, new);
                }
            }
        }
        inner
            .log
            .remove(bucket, id, generation)
            .map_err(io_err("remove compacted segment"))?;
        Ok(true)
    }
}

/// Runs compaction forever, `interval` apart, each run bounded by `budget_bytes` read.
pub async fn run_compaction(
    store: DiskStore,
    interval: std::time::Duration,
    budget_bytes: u64,
    min_dead_ratio: f64,
) {
    loop {
        tokio::time::sleep(interval).await;
        let s = store.clone();
        if let Err(e) = blocking(move || s.compact_log(budget_bytes, min_dead_ratio)).await {
            tracing::warn!(error = %e, "small-object log compaction run failed");
        }
    }
}

#[cfg(test)]
mod tests;
