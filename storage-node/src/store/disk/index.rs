//! The in-memory index: every bucket and, per bucket, an ordered map from key to the few fields a
//! listing needs. The object files are the truth; this index is rebuilt from them at start-up, so it
//! can never disagree with the disk after a crash.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::small_log::LogLoc;
use crate::replication::hlc::Version;
use crate::store::{ListEntry, ListPage, ListQuery, StoreError, StoreStats, VersioningStatus};

/// The most entries one listing page returns, as in S3.
pub const MAX_LIST_KEYS: usize = 1000;

/// One version of a key: a live object, a tombstone or delete marker, or a noncurrent version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub last_modified_ms: u64,
    /// The ETag, kept inline because every listing returns it.
    pub etag: EtagBuf,
    pub version: Version,
    /// Has its own version id (false: the `null` version).
    pub versioned: bool,
    /// A delete marker.
    pub marker: bool,
    /// Where the object lives in the small-object log; `None`: in its own file.
    pub loc: Option<LogLoc>,
}

/// The version the index holds for a key: a live object or a tombstone, and the noncurrent
/// versions under it (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    pub version: Version,
    pub deleted: bool,
    pub size: u64,
    pub noncurrent: Vec<Version>,
}

/// An ETag (`32 hex` or `32 hex-N`) stored without a heap allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtagBuf {
    len: u8,
    bytes: [u8; 48],
}

impl EtagBuf {
    pub fn new(etag: &str) -> Self {
        let mut bytes = [0u8; 48];
        let n = etag.len().min(48);
        bytes[..n].copy_from_slice(&etag.as_bytes()[..n]);
        EtagBuf {
            len: n as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl Default for EtagBuf {
    fn default() -> Self {
        EtagBuf::new("")
    }
}

#[derive(Debug, Default)]
pub(super) struct BucketIndex {
    created_ms: u64,
    pub(super) objects: BTreeMap<String, Entry>,
    /// Keys whose current version is deleted: tombstones (never listed) and delete markers.
    pub(super) tombstones: BTreeMap<String, Entry>,
    /// Noncurrent versions of a key, newest first (versioned buckets only).
    pub(super) noncurrent: BTreeMap<String, Vec<Entry>>,
    /// The versioning status and the version of the setting; `None` until it is first set.
    pub(super) versioning: Option<(VersioningStatus, Version)>,
}

/// All buckets and their objects.
#[derive(Debug, Default)]
pub struct Index {
    buckets: RwLock<BTreeMap<String, BucketIndex>>,
    objects: AtomicU64,
    bytes: AtomicU64,
}

impl Index {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BucketIndex>> {
        self.buckets.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, BucketIndex>> {
        self.buckets.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_bucket(&self, bucket: &str, created_ms: u64) -> bool {
        let mut b = self.write();
        if b.contains_key(bucket) {
            return false;
        }
        b.insert(
            bucket.to_owned(),
            BucketIndex {
                created_ms,
                ..Default::default()
            },
        );
        true
    }

    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.read().contains_key(bucket)
    }

    /// Removes a bucket that holds no object, atomically with the emptiness check.
    pub fn remove_bucket_if_empty(&self, bucket: &str) -> Result<(), StoreError> {
        let mut b = self.write();
        match b.get(bucket) {
            None => Err(StoreError::NoSuchBucket(bucket.to_owned())),
            Some(bi)
                if !bi.objects.is_empty()
                    || !bi.noncurrent.is_empty()
                    || bi.tombstones.values().any(|t| t.marker) =>
            {
                Err(StoreError::BucketNotEmpty(bucket.to_owned()))
            }
            Some(_) => {
                b.remove(bucket);
                Ok(())
            }
        }
    }

    pub fn buckets(&self) -> Vec<(String, u64)> {
        self.read()
            .iter()
            .map(|(name, b)| (name.clone(), b.created_ms))
            .collect()
    }

    /// The live object of a key, if any.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Entry>, StoreError> {
        let b = self.read();
        let bi = b
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        Ok(bi.objects.get(key).copied())
    }

    /// Inserts or replaces an object. Fails only when the bucket is gone.
    pub fn upsert(&self, bucket: &str, key: &str, entry: Entry) -> Result<(), StoreError> {
        let mut b = self.write();
        let bi = b
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        bi.tombstones.remove(key);
        match bi.objects.insert(key.to_owned(), entry) {
            Some(old) => {
                self.bytes.fetch_sub(old.size, Ordering::Relaxed);
            }
            None => {
                self.objects.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.bytes.fetch_add(entry.size, Ordering::Relaxed);
        Ok(())
    }

    /// Points a live object at `new` if it still lives at `old` (compaction moved its record);
    /// true when it did.
    pub fn relocate(&self, bucket: &str, key: &str, old: LogLoc, new: LogLoc) -> bool {
        let mut b = self.write();
        match b.get_mut(bucket).and_then(|bi| bi.objects.get_mut(key)) {
            Some(e) if e.loc == Some(old) => {
                e.loc = Some(new);
                true
            }
            _ => false,
        }
    }

    /// Replaces a key's object (if any) by a tombstone. Fails only when the bucket is gone.
    pub fn put_tombstone(&self, bucket: &str, key: &str, entry: Entry) -> Result<(), StoreError> {
        let mut b = self.write();
        let bi = b
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        if let Some(old) = bi.objects.remove(key) {
            self.objects.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(old.size, Ordering::Relaxed);
        }
        bi.tombstones.insert(key.to_owned(), entry);
        Ok(())
    }

    /// Forgets a tombstone if it still has `version`; true when it did.
    pub fn remove_tombstone(&self, bucket: &str, key: &str, version: Version) -> bool {
        let mut b = self.write();
        let Some(bi) = b.get_mut(bucket) else {
            return false;
        };
        if bi
            .tombstones
            .get(key)
            .is_some_and(|t| t.version == version && !t.marker)
        {
            bi.tombstones.remove(key);
            return true;
        }
        false
    }

    /// The current version of a key, live or deleted. `None` when the key (or bucket) is unknown.
    pub fn version_of(&self, bucket: &str, key: &str) -> Option<(Version, bool)> {
        let b = self.read();
        let bi = b.get(bucket)?;
        if let Some(e) = bi.objects.get(key) {
            return Some((e.version, false));
        }
        bi.tombstones.get(key).map(|t| (t.version, true))
    }

    /// Up to `max` keys after `after` (objects, tombstones and noncurrent versions merged, in key
    /// order), for recovery.
    pub fn versions_page(
        &self,
        bucket: &str,
        after: Option<&str>,
        max: usize,
    ) -> Vec<VersionEntry> {
        let b = self.read();
        let Some(bi) = b.get(bucket) else {
            return Vec::new();
        };
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        for key in bi.keys_from(lower) {
            if out.len() >= max {
                break;
            }
            let noncurrent = bi
                .noncurrent
                .get(key)
                .map(|v| v.iter().map(|e| e.version).collect())
                .unwrap_or_default();
            let (version, deleted, size) = match (bi.objects.get(key), bi.tombstones.get(key)) {
                (Some(e), _) => (e.version, false, e.size),
                (None, Some(t)) => (t.version, true, 0),
                // Only noncurrent versions: the current one was removed for good.
                (None, None) => (Version::default(), true, 0),
            };
            out.push(VersionEntry {
                key: key.clone(),
                version,
                deleted,
                size,
                noncurrent,
            });
        }
        out
    }

    /// Objects plus tombstones in every bucket.
    pub fn version_count(&self) -> u64 {
        self.read()
            .values()
            .map(|bi| {
                (bi.objects.len()
                    + bi.tombstones.len()
                    + bi.noncurrent.values().map(Vec::len).sum::<usize>()) as u64
            })
            .sum()
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            buckets: self.read().len() as u64,
            objects: self.objects.load(Ordering::Relaxed),
            stored_bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Every (bucket, key) pair, for the scrubber.
    pub fn all_keys(&self) -> Vec<(String, String)> {
        let b = self.read();
        b.iter()
            .flat_map(|(name, bi)| bi.objects.keys().map(move |k| (name.clone(), k.clone())))
            .collect()
    }

    /// One ListObjectsV2 page.
    pub fn list(&self, bucket: &str, q: &ListQuery) -> Result<ListPage, StoreError> {
        let max = q.max_keys.min(MAX_LIST_KEYS);
        let (after, mut skip_prefix) = match &q.continuation {
            Some(token) => match decode_token(token)? {
                Token::Key(k) => (Some(k), None),
                Token::Prefix(p) => (Some(p.clone()), Some(p)),
            },
            // A start-after (v1 marker) that is a common prefix resumes after everything under it.
            None => {
                let skip = q.start_after.clone().filter(|a| {
                    q.delimiter.as_deref().is_some_and(|d| {
                        !d.is_empty()
                            && a.len() > q.prefix.len()
                            && a.starts_with(q.prefix.as_str())
                            && a.ends_with(d)
                            && a[q.prefix.len()..].find(d)
                                == Some(a.len() - q.prefix.len() - d.len())
                    })
                });
                (q.start_after.clone(), skip)
            }
        };
        let b = self.read();
        let bi = b
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        let mut page = ListPage::default();
        if max == 0 {
            return Ok(page);
        }
        let lower = match &after {
            Some(a) if a.as_str() >= q.prefix.as_str() => Bound::Excluded(a.as_str()),
            _ => Bound::Included(q.prefix.as_str()),
        };
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut count = 0;
        let mut last: Option<Token> = None;
        for (key, entry) in bi.objects.range::<str, _>((lower, Bound::Unbounded)) {
            if !key.starts_with(&q.prefix) {
                break;
            }
            if let Some(sp) = &skip_prefix
                && key.starts_with(sp.as_str())
            {
                continue;
            }
            if let Some(d) = delimiter
                && let Some(pos) = key[q.prefix.len()..].find(d)
            {
                if count == max {
                    page.next_continuation = last.as_ref().map(encode_token);
                    return Ok(page);
                }
                let cp = key[..q.prefix.len() + pos + d.len()].to_owned();
                page.common_prefixes.push(cp.clone());
                skip_prefix = Some(cp.clone());
                last = Some(Token::Prefix(cp));
                count += 1;
                continue;
            }
            if count == max {
                page.next_continuation = last.as_ref().map(encode_token);
                return Ok(page);
            }
            page.objects.push(ListEntry {
                key: key.clone(),
                size: entry.size,
                etag: entry.etag.as_str().to_owned(),
                last_modified_ms: entry.last_modified_ms,
            });
            last = Some(Token::Key(key.clone()));
            count += 1;
        }
        Ok(page)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Key(String),
    Prefix(String),
}

fn encode_token(t: &Token) -> String {
    match t {
        Token::Key(k) => format!("k{}", hex::encode(k)),
        Token::Prefix(p) => format!("p{}", hex::encode(p)),
    }
}

fn decode_token(token: &str) -> Result<Token, StoreError> {
    let bad = || StoreError::InvalidArgument("the continuation token is not valid".to_owned());
    let (kind, rest) = token.split_at_checked(1).ok_or_else(bad)?;
    let bytes = hex::decode(rest).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    match kind {
        "k" => Ok(Token::Key(s)),
        "p" => Ok(Token::Prefix(s)),
        _ => Err(bad()),
    }
}

mod versions;

pub use versions::entry_version_id;

#[cfg(test)]
mod tests;
