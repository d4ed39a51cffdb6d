//! The peer's apply path for a batch of small replicated objects: every object of the batch that
//! goes to the small-object log is appended in one batch, so one group fsync makes the whole batch
//! durable (instead of one fsync per object or per handful of objects). Each object is placed
//! exactly as [`DiskStore::apply_replica`] places it (newer version wins, HLC last-writer), under
//! its key's lock, held from the version check to the index update; the locks of a batch are taken
//! in stripe order, so two batches (or a batch and a single write) never wait on each other in a
//! circle. Nothing of the batch is visible before the fsync that covers all of it returns; a crash
//! before then leaves whole records or none (replay drops a torn tail), all of them unacknowledged.
//! Anything that is not a plain current object of an unversioned bucket within the small-object
//! threshold (tombstones, versioned buckets, multipart, large objects), and a second frame of a key
//! already in the batch, goes through `apply_replica` itself, after the batch, in frame order.

use std::time::Instant;

use bytes::Bytes;

use super::index::Entry;
use super::small_log;
use super::store::{DiskStore, Inner, blocking, entry_of, io_err};
use super::versions::{Placement, place};
use crate::store::{ByteStream, FinishHook, ObjectMeta, StoreError, validate_key};

/// One replicated object of a batch: bucket, metadata, data (its frame MAC already checked).
pub type ReplicaItem = (String, ObjectMeta, Bytes);

/// An item with its position in the batch.
type Positioned = (usize, String, ObjectMeta, Bytes);

/// An item bound for the small-object log, with its encoded record.
struct Small {
    at: usize,
    bucket: String,
    key: String,
    record: Vec<u8>,
}

/// Results by item position, and the items that must go the one-at-a-time way after all.
type GroupOutcome = (Vec<(usize, Result<bool, StoreError>)>, Vec<Positioned>);

impl DiskStore {
    /// Applies a batch of replicated objects: those that go to the small-object log with one
    /// append (one group fsync), then the rest one at a time through
    /// [`DiskStore::apply_replica`], in their order. Returns, per item in order, whether it was
    /// applied (false: the local version is the same or newer); when this returns, every applied
    /// item is durable. Never logged for replication (no bounce).
    pub async fn apply_replicas(&self, items: Vec<ReplicaItem>) -> Vec<Result<bool, StoreError>> {
        let n = items.len();
        let mut results: Vec<Option<Result<bool, StoreError>>> = (0..n).map(|_| None).collect();
        let mut small = Vec::new();
        let mut others: Vec<Positioned> = Vec::new();
        for (at, (bucket, meta, data)) in items.into_iter().enumerate() {
            if let Err(e) = validate_key(&meta.key) {
                results[at] = Some(Err(e));
                continue;
            }
            if !self.inner.index.has_bucket(&bucket) {
                match self
                    .create_bucket_at(&bucket, crate::store::now_ms(), false)
                    .await
                {
                    Ok(()) | Err(StoreError::BucketAlreadyExists(_)) => {}
                    Err(e) => {
                        results[at] = Some(Err(e));
                        continue;
                    }
                }
            }
            if self.inner.goes_to_log(&bucket, &meta, &data) {
                small.push((at, bucket, meta, data));
            } else {
                others.push((at, bucket, meta, data));
            }
        }
        if !small.is_empty() {
            let inner = self.inner.clone();
            match blocking(move || Ok(inner.apply_small_group(small))).await {
                Ok((applied, back)) => {
                    for (at, r) in applied {
                        results[at] = Some(r);
                    }
                    others.extend(back);
                }
                Err(e) => {
                    // The blocking task itself failed: none of the log-bound items is applied (the
                    // others, applied below, get their own results).
                    let msg = e.to_string();
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(StoreError::io(
                            "apply a replicated batch",
                            std::io::Error::other(msg.clone()),
                        )));
                    }
                }
            }
        }
        others.sort_by_key(|(at, ..)| *at);
        for (at, bucket, meta, data) in others {
            let stream: ByteStream =
                Box::pin(futures::stream::once(futures::future::ready(Ok(data))));
            let ok: FinishHook = Box::new(|_| Ok(Default::default()));
            results[at] = Some(self.apply_replica(&bucket, meta, stream, ok).await);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(StoreError::io(
                        "apply a replicated batch",
                        std::io::Error::other("item left unapplied"),
                    ))
                })
            })
            .collect()
    }
}

impl Inner {
    /// Whether a replica goes to the small-object log: a plain current object of a bucket that was
    /// never versioned, within the threshold, whose data is as long as its metadata says (anything
    /// else goes through `apply_replica`, which checks and reports it).
    fn goes_to_log(&self, bucket: &str, meta: &ObjectMeta, data: &Bytes) -> bool {
        self.small_max > 0
            && !meta.deleted
            && !meta.versioned
            && !meta.delete_marker
            && meta.parts == 0
            && data.len() as u64 == meta.size
            && meta.size <= self.small_max
            && matches!(self.index.versioning(bucket), Ok(None))
    }

    /// Checks, places and appends the log-bound items of a batch (blocking).
    fn apply_small_group(&self, items: Vec<Positioned>) -> GroupOutcome {
        let started = Instant::now();
        let mut out = Vec::with_capacity(items.len());
        let mut back = Vec::new();
        let mut ready: Vec<(usize, String, ObjectMeta, Bytes)> = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::new();
        for (at, bucket, meta, data) in items {
            if !seen.insert((bucket.clone(), meta.key.clone())) {
                // The same key again in one batch: placed on its own after this one, so the two
                // are checked against each other by version like any two writes.
                back.push((at, bucket, meta, data));
                continue;
            }
            self.hlc.observe(meta.version);
            let md5: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&data).into();
            if hex::encode(md5) != meta.etag {
                out.push((
                    at,
                    Err(StoreError::BadDigest(
                        "replica MD5 does not match its ETag".to_owned(),
                    )),
                ));
                continue;
            }
            ready.push((at, bucket, meta, data));
        }
        let mut stripes: Vec<usize> = ready
            .iter()
            .map(|(_, _, meta, _)| self.stripe_index(&meta.key))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        // Held from the version check to the index update, taken in stripe order.
        let _guards: Vec<_> = stripes.iter().map(|&i| self.stripe_at(i)).collect();
        // (item, its entry, the current entry it replaces) of what goes to the log.
        let mut placed: Vec<(Small, Entry, Option<Entry>)> = Vec::new();
        for (at, bucket, meta, data) in ready {
            if !self.index.has_bucket(&bucket) {
                out.push((at, Err(StoreError::NoSuchBucket(bucket))));
                continue;
            }
            let entry = entry_of(&meta);
            let current = self.index.current(&bucket, &meta.key);
            let noncurrent = self.index.noncurrent(&bucket, &meta.key);
            match place(current, &noncurrent, &entry, false) {
                Placement::Stale => out.push((at, Ok(false))),
                Placement::Current {
                    archive: None,
                    drop_null: None,
                } => {
                    let key = meta.key.clone();
                    let record = super::format::encode_image(data.to_vec(), meta)
                        .and_then(|image| small_log::object_record(&image));
                    match record {
                        Ok(record) => placed.push((
                            Small {
                                at,
                                bucket,
                                key,
                                record,
                            },
                            entry,
                            current.map(|(c, _)| c),
                        )),
                        Err(e) => out.push((at, Err(io_err("encode log record")(e)))),
                    }
                }
                // Versions to keep: the one-at-a-time path handles them.
                _ => back.push((at, bucket, meta, data)),
            }
        }
        if placed.is_empty() {
            return (out, back);
        }
        let records = placed
            .iter_mut()
            .map(|(s, ..)| (s.bucket.clone(), std::mem::take(&mut s.record)))
            .collect();
        let prepared = started.elapsed();
        let t = Instant::now();
        let locs = self.log.append_many(records);
        let waited = t.elapsed();
        let group = placed.len();
        for ((s, mut entry, current), loc) in placed.into_iter().zip(locs) {
            let r = match loc {
                Ok(loc) => {
                    entry.loc = Some(loc);
                    if let Some(c) = current {
                        let (_, file) = self.layout.object(&s.bucket, &s.key);
                        self.retire_current(&s.bucket, &file, &c);
                    }
                    self.index.upsert(&s.bucket, &s.key, entry).map(|()| true)
                }
                Err(e) => Err(io_err("append to the small-object log")(e)),
            };
            out.push((s.at, r));
        }
        // Each write's commit is the batch's wait for its fsync; its apply, its share of the rest.
        let apply =
            (prepared + started.elapsed().saturating_sub(prepared + waited)).div_f64(group as f64);
        for _ in 0..group {
            self.metrics.observe_apply(apply.as_secs_f64());
            self.metrics.observe_commit(waited.as_secs_f64());
        }
        self.metrics.set_stored(self.index.stats());
        (out, back)
    }
}

#[cfg(test)]
mod tests;
