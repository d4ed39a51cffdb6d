//! The in-memory index: every bucket and, per bucket, an ordered map from key to the few fields a
//! listing needs. The object files are the truth; this index is rebuilt from them at start-up, so it
//! can never disagree with the disk after a crash.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::replication::hlc::Version;
use crate::store::{ListEntry, ListPage, ListQuery, StoreError, StoreStats};

/// The most entries one listing page returns, as in S3.
pub const MAX_LIST_KEYS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub last_modified_ms: u64,
    /// The ETag, kept inline because every listing returns it.
    pub etag: EtagBuf,
    pub version: Version,
}

/// The version the index holds for a key: a live object or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    pub version: Version,
    pub deleted: bool,
    pub size: u64,
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

#[derive(Debug, Default)]
struct BucketIndex {
    created_ms: u64,
    objects: BTreeMap<String, Entry>,
    /// Deleted keys and the version of their delete; never listed.
    tombstones: BTreeMap<String, Version>,
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
                objects: BTreeMap::new(),
                tombstones: BTreeMap::new(),
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
            Some(bi) if !bi.objects.is_empty() => {
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

    /// Replaces a key's object (if any) by a tombstone. Fails only when the bucket is gone.
    pub fn put_tombstone(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
    ) -> Result<(), StoreError> {
        let mut b = self.write();
        let bi = b
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        if let Some(old) = bi.objects.remove(key) {
            self.objects.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(old.size, Ordering::Relaxed);
        }
        bi.tombstones.insert(key.to_owned(), version);
        Ok(())
    }

    /// Forgets a tombstone if it still has `version`; true when it did.
    pub fn remove_tombstone(&self, bucket: &str, key: &str, version: Version) -> bool {
        let mut b = self.write();
        let Some(bi) = b.get_mut(bucket) else {
            return false;
        };
        if bi.tombstones.get(key) == Some(&version) {
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
        bi.tombstones.get(key).map(|v| (*v, true))
    }

    /// Up to `max` keys after `after` (objects and tombstones merged, in key order), for recovery.
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
        let mut objs = bi
            .objects
            .range::<str, _>((lower, Bound::Unbounded))
            .peekable();
        let mut tombs = bi
            .tombstones
            .range::<str, _>((lower, Bound::Unbounded))
            .peekable();
        let mut out = Vec::new();
        while out.len() < max {
            let take_obj = match (objs.peek(), tombs.peek()) {
                (Some((ok, _)), Some((tk, _))) => ok <= tk,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_obj {
                if let Some((k, e)) = objs.next() {
                    out.push(VersionEntry {
                        key: k.clone(),
                        version: e.version,
                        deleted: false,
                        size: e.size,
                    });
                }
            } else if let Some((k, v)) = tombs.next() {
                out.push(VersionEntry {
                    key: k.clone(),
                    version: *v,
                    deleted: true,
                    size: 0,
                });
            }
        }
        out
    }

    /// Objects plus tombstones in every bucket.
    pub fn version_count(&self) -> u64 {
        self.read()
            .values()
            .map(|bi| (bi.objects.len() + bi.tombstones.len()) as u64)
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

#[cfg(test)]
mod tests;
