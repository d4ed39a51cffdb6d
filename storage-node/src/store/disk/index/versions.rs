//! The index's side of bucket versioning: noncurrent versions, the versioning status, and
//! ListObjectVersions paging.

use std::collections::btree_map;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::atomic::Ordering;

use super::{BucketIndex, Entry, Index, MAX_LIST_KEYS};
use crate::replication::hlc::Version;
use crate::store::versioning::{NULL_VERSION_ID, parse_version_id, version_id};
use crate::store::{StoreError, VersionItem, VersionQuery, VersioningStatus, VersionsPage};

/// The S3 version id of an index entry.
pub fn entry_version_id(e: &Entry) -> String {
    if e.versioned {
        version_id(e.version)
    } else {
        NULL_VERSION_ID.to_owned()
    }
}

/// Every key with a current or noncurrent version, in order, from a lower bound.
pub(in crate::store::disk) struct MergedKeys<'a> {
    objects: Peekable<btree_map::Range<'a, String, Entry>>,
    tombstones: Peekable<btree_map::Range<'a, String, Entry>>,
    noncurrent: Peekable<btree_map::Range<'a, String, Vec<Entry>>>,
}

impl<'a> Iterator for MergedKeys<'a> {
    type Item = &'a String;

    fn next(&mut self) -> Option<&'a String> {
        let a = self.objects.peek().map(|(k, _)| *k);
        let b = self.tombstones.peek().map(|(k, _)| *k);
        let c = self.noncurrent.peek().map(|(k, _)| *k);
        let min = [a, b, c].into_iter().flatten().min()?;
        if a == Some(min) {
            self.objects.next();
        }
        if b == Some(min) {
            self.tombstones.next();
        }
        if c == Some(min) {
            self.noncurrent.next();
        }
        Some(min)
    }
}

impl BucketIndex {
    pub(in crate::store::disk) fn keys_from<'a>(&'a self, lower: Bound<&'a str>) -> MergedKeys<'a> {
        let range = (lower, Bound::Unbounded);
        MergedKeys {
            objects: self.objects.range::<str, _>(range).peekable(),
            tombstones: self.tombstones.range::<str, _>(range).peekable(),
            noncurrent: self.noncurrent.range::<str, _>(range).peekable(),
        }
    }

    /// A key's listable versions, newest first, with whether each is the latest.
    fn listed_versions(&self, key: &str) -> Vec<(Entry, bool)> {
        let mut out = Vec::new();
        if let Some(e) = self.objects.get(key) {
            out.push((*e, true));
        } else if let Some(t) = self.tombstones.get(key).filter(|t| t.marker) {
            out.push((*t, true));
        }
        if let Some(nc) = self.noncurrent.get(key) {
            out.extend(nc.iter().map(|e| (*e, false)));
        }
        out
    }
}

impl Index {
    /// The current version of a key (object, tombstone or delete marker) and whether it is deleted.
    pub fn current(&self, bucket: &str, key: &str) -> Option<(Entry, bool)> {
        let b = self.read();
        let bi = b.get(bucket)?;
        if let Some(e) = bi.objects.get(key) {
            return Some((*e, false));
        }
        bi.tombstones.get(key).map(|t| (*t, true))
    }

    /// A key's noncurrent versions, newest first.
    pub fn noncurrent(&self, bucket: &str, key: &str) -> Vec<Entry> {
        let b = self.read();
        b.get(bucket)
            .and_then(|bi| bi.noncurrent.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// Keeps a version as noncurrent (once). Fails only when the bucket is gone.
    pub fn add_noncurrent(&self, bucket: &str, key: &str, entry: Entry) -> Result<(), StoreError> {
        let mut b = self.write();
        let bi = b
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        let list = bi.noncurrent.entry(key.to_owned()).or_default();
        if list.iter().any(|e| e.version == entry.version) {
            return Ok(());
        }
        let at = list
            .iter()
            .position(|e| e.version < entry.version)
            .unwrap_or(list.len());
        list.insert(at, entry);
        self.bytes.fetch_add(entry.size, Ordering::Relaxed);
        Ok(())
    }

    /// Forgets a noncurrent version; true when it was there.
    pub fn remove_noncurrent(&self, bucket: &str, key: &str, version: Version) -> bool {
        let mut b = self.write();
        let Some(bi) = b.get_mut(bucket) else {
            return false;
        };
        let Some(list) = bi.noncurrent.get_mut(key) else {
            return false;
        };
        let Some(at) = list.iter().position(|e| e.version == version) else {
            return false;
        };
        let gone = list.remove(at);
        if list.is_empty() {
            bi.noncurrent.remove(key);
        }
        self.bytes.fetch_sub(gone.size, Ordering::Relaxed);
        true
    }

    /// Forgets the current version of a key (object or tombstone).
    pub fn remove_current(&self, bucket: &str, key: &str) {
        let mut b = self.write();
        let Some(bi) = b.get_mut(bucket) else {
            return;
        };
        if let Some(old) = bi.objects.remove(key) {
            self.objects.fetch_sub(1, Ordering::Relaxed);
            self.bytes.fetch_sub(old.size, Ordering::Relaxed);
        }
        bi.tombstones.remove(key);
    }

    pub fn versioning(
        &self,
        bucket: &str,
    ) -> Result<Option<(VersioningStatus, Version)>, StoreError> {
        let b = self.read();
        let bi = b
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        Ok(bi.versioning)
    }

    /// Sets the versioning status if `version` is newer than the current setting; true if it was.
    pub fn set_versioning(
        &self,
        bucket: &str,
        status: VersioningStatus,
        version: Version,
    ) -> Result<bool, StoreError> {
        let mut b = self.write();
        let bi = b
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        if bi.versioning.is_some_and(|(_, v)| v >= version) {
            return Ok(false);
        }
        bi.versioning = Some((status, version));
        Ok(true)
    }

    /// Removes a bucket if everything in it is older than `version` (a peer's bucket delete).
    pub fn remove_bucket_if_older(&self, bucket: &str, version: Version) -> Result<(), StoreError> {
        let mut b = self.write();
        let bi = b
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        let newer = bi.objects.values().any(|e| e.version >= version)
            || bi.tombstones.values().any(|e| e.version >= version)
            || bi
                .noncurrent
                .values()
                .flatten()
                .any(|e| e.version >= version)
            || bi.versioning.is_some_and(|(_, v)| v >= version);
        if newer {
            return Err(StoreError::BucketNotEmpty(bucket.to_owned()));
        }
        if let Some(bi) = b.remove(bucket) {
            let live: u64 = bi.objects.values().map(|e| e.size).sum::<u64>()
                + bi.noncurrent
                    .values()
                    .flatten()
                    .map(|e| e.size)
                    .sum::<u64>();
            self.objects
                .fetch_sub(bi.objects.len() as u64, Ordering::Relaxed);
            self.bytes.fetch_sub(live, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Every noncurrent version (bucket, key, version id), for the scrubber.
    pub fn all_noncurrent(&self) -> Vec<(String, String, String)> {
        let b = self.read();
        b.iter()
            .flat_map(|(name, bi)| {
                bi.noncurrent.iter().flat_map(move |(k, list)| {
                    list.iter()
                        .map(move |e| (name.clone(), k.clone(), entry_version_id(e)))
                })
            })
            .collect()
    }

    /// One ListObjectVersions page.
    pub fn list_versions(
        &self,
        bucket: &str,
        q: &VersionQuery,
    ) -> Result<VersionsPage, StoreError> {
        let max = q.max_keys.min(MAX_LIST_KEYS);
        let key_marker = q.key_marker.as_deref().filter(|k| !k.is_empty());
        let vid_marker = q.version_id_marker.as_deref().filter(|v| !v.is_empty());
        let resume = match (key_marker, vid_marker) {
            (None, Some(_)) => {
                return Err(StoreError::InvalidArgument(
                    "A version-id marker cannot be specified without a key marker.".to_owned(),
                ));
            }
            (Some(k), Some(v)) => {
                if v != NULL_VERSION_ID && parse_version_id(v).is_none() {
                    return Err(StoreError::InvalidArgument(
                        "Invalid version id specified".to_owned(),
                    ));
                }
                Some((k, v))
            }
            _ => None,
        };
        let b = self.read();
        let bi = b
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_owned()))?;
        let mut page = VersionsPage::default();
        if max == 0 {
            return Ok(page);
        }
        let prefix = q.prefix.as_str();
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let lower = match (key_marker, resume) {
            (Some(k), Some(_)) if k >= prefix => Bound::Included(k),
            (Some(k), None) if k >= prefix => Bound::Excluded(k),
            _ => Bound::Included(prefix),
        };
        // A key marker that is a common prefix (from a previous page) skips that whole prefix.
        let mut skip_prefix: Option<String> = match (key_marker, delimiter, resume) {
            (Some(k), Some(d), None)
                if k.starts_with(prefix)
                    && k[prefix.len()..].find(d) == Some(k.len() - prefix.len() - d.len()) =>
            {
                Some(k.to_owned())
            }
            _ => None,
        };
        let mut count = 0usize;
        let mut last: Option<(String, Option<String>)> = None;
        let truncate = |page: &mut VersionsPage, last: &Option<(String, Option<String>)>| {
            if let Some((k, v)) = last {
                page.next_key_marker = Some(k.clone());
                page.next_version_id_marker = v.clone();
            }
        };
        for key in bi.keys_from(lower) {
            if !key.starts_with(prefix) {
                if key.as_str() > prefix {
                    break;
                }
                continue;
            }
            if let Some(sp) = &skip_prefix
                && key.starts_with(sp.as_str())
            {
                continue;
            }
            if let Some(d) = delimiter
                && let Some(pos) = key[prefix.len()..].find(d)
            {
                let cp = key[..prefix.len() + pos + d.len()].to_owned();
                if count == max {
                    truncate(&mut page, &last);
                    return Ok(page);
                }
                page.common_prefixes.push(cp.clone());
                skip_prefix = Some(cp.clone());
                last = Some((cp, None));
                count += 1;
                continue;
            }
            let mut versions = bi.listed_versions(key);
            if let Some((rk, rv)) = resume
                && rk == key.as_str()
            {
                match versions.iter().position(|(e, _)| entry_version_id(e) == rv) {
                    Some(at) => {
                        versions.drain(..=at);
                    }
                    None => match parse_version_id(rv) {
                        Some(v) => versions.retain(|(e, _)| e.version < v),
                        None => versions.clear(),
                    },
                }
            }
            for (e, is_latest) in versions {
                if count == max {
                    truncate(&mut page, &last);
                    return Ok(page);
                }
                let vid = entry_version_id(&e);
                page.items.push(VersionItem {
                    key: key.clone(),
                    version_id: vid.clone(),
                    is_latest,
                    delete_marker: e.marker,
                    size: e.size,
                    etag: e.etag.as_str().to_owned(),
                    last_modified_ms: e.last_modified_ms,
                });
                last = Some((key.clone(), Some(vid)));
                count += 1;
            }
        }
        Ok(page)
    }
}
