//! The object store behind the S3 API: the [`ObjectStore`] trait, its data types, and the disk
//! implementation ([`disk::DiskStore`]) with its scrubber.
//!
//! The store knows buckets, keys, bytes and digests; it knows nothing of HTTP or S3 XML.

pub mod disk;
mod error;
pub mod scrub;
pub mod versioning;

use std::collections::BTreeMap;
use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};

pub use error::{StoreError, is_no_space};
pub use versioning::{
    Deleted, ReplicaOp, VersionItem, VersionQuery, VersioningStatus, VersionsPage,
};

use crate::replication::hlc::Version;

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The smallest size of every multipart part but the last (S3's rule).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// The largest single object accepted (S3's 5 TiB limit for multipart; PUT allows 5 GiB).
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// A request body, or an object's bytes on the way out.
pub type ByteStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send + Sync + 'static>>;

/// Called once the whole body has been read and before the object becomes visible. It checks the
/// client's digests (Content-MD5, flexible checksums, trailers) against what was received and returns
/// the checksums to store with the object. An error aborts the write and nothing becomes visible.
pub type FinishHook =
    Box<dyn FnOnce(&BodyDigest) -> Result<BTreeMap<String, String>, StoreError> + Send>;

/// Digests the store computes over every body it writes.
#[derive(Debug, Clone)]
pub struct BodyDigest {
    /// MD5 of the body: the ETag of a single PUT and of a part.
    pub md5: [u8; 16],
    pub size: u64,
}

/// What a client sets on an object besides its bytes. Every field after `user_metadata` is
/// optional on disk, so files written before it existed still load.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectAttrs {
    pub content_type: Option<String>,
    /// `x-amz-meta-*`, without the prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// The standard headers stored with the object and returned on GET and HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Expires`, as the HTTP date the client sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Object tags (`?tagging`, `x-amz-tagging`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Set when the bytes are encrypted with a customer-provided key (SSE-C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_c: Option<SseCInfo>,
    /// Set by the store on a completed multipart object: the size of each part, in order
    /// (`partNumber` reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
    /// Set by the store on a completed multipart object: the upload it came from (a repeated
    /// CompleteMultipartUpload of that upload is answered from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

/// What is kept of an SSE-C key: never the key, only a salted HMAC to recognise it, and the
/// (public) initial counter block of the object's AES-256-CTR stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SseCInfo {
    /// `AES256`, the one algorithm S3 defines for SSE-C.
    pub algorithm: String,
    /// Hex HMAC-SHA256 of the key, keyed with `salt`.
    pub key_hmac: String,
    /// Hex, 16 random bytes.
    pub salt: String,
    /// Hex, 16 random bytes: the counter block of byte 0.
    pub iv: String,
}

/// A condition a write must meet at the moment it becomes visible, checked atomically with it:
/// of two racing writes with [`WriteCondition::IfAbsent`], exactly one succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: only if no live object has the key.
    IfAbsent,
    /// `If-Match: "etag"`: only if the live object has this ETag (unquoted).
    IfEtag(String),
    /// `If-Match: *`: only if a live object has the key.
    IfAny,
}

/// Checks a copy source's metadata once it is open (`x-amz-copy-source-if-*`); the copy reads
/// exactly the object that passed.
pub type SourceCheck = Box<dyn FnOnce(&ObjectMeta) -> Result<(), StoreError> + Send>;

/// Everything known about a stored object except its bytes. This is the on-disk footer's payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// The S3 ETag without quotes: hex MD5, or `hex-N` for a multipart object.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    pub attrs: ObjectAttrs,
    /// Flexible checksums the client asked for, by lower-case algorithm name (`crc32`, `sha256`...),
    /// base64 as S3 returns them.
    pub checksums: BTreeMap<String, String>,
    /// Number of parts for a multipart object, 0 for a single PUT.
    pub parts: u32,
    /// The write's version (HLC, node tag); (0, 0) in files written before replication existed.
    #[serde(default)]
    pub version: Version,
    /// A tombstone: the object was deleted at `version`. A tombstone holds no data and is never
    /// listed or served; it exists so that deletes replicate and win or lose by version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Written while the bucket's versioning was `Enabled`: the version id is derived from
    /// `version`. False: the `null` version (unversioned or suspended bucket).
    #[serde(default, skip_serializing_if = "is_false")]
    pub versioned: bool,
    /// A delete marker (with `deleted`): a version that is listed and kept, unlike a tombstone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_marker: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A byte range as the client asked for it; the store resolves it against the object size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    Int { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix { length: u64 },
}

impl ByteRange {
    /// The half-open `[start, end)` range within an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), StoreError> {
        match self {
            ByteRange::Int { first, last } => {
                if first >= size {
                    return Err(StoreError::InvalidRange { size });
                }
                let end = match last {
                    Some(last) if last < first => return Err(StoreError::InvalidRange { size }),
                    Some(last) => last.saturating_add(1).min(size),
                    None => size,
                };
                Ok((first, end))
            }
            ByteRange::Suffix { length } => {
                if length == 0 {
                    return Err(StoreError::InvalidRange { size });
                }
                Ok((size.saturating_sub(length), size))
            }
        }
    }
}

/// An object being read: its metadata, the resolved range, and a stream of verified bytes.
pub struct ObjectBody {
    pub meta: ObjectMeta,
    /// `[start, end)` served; `(0, size)` without a Range.
    pub range: (u64, u64),
    pub stream: ByteStream,
}

impl std::fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBody")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// A bucket in a listing.
#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub created_ms: u64,
}

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: u64,
}

/// A ListObjectsV2 query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Start strictly after this key (`start-after`, v1 `marker`), when no continuation token is
    /// given; when it is a common prefix of the listing, after everything under it too.
    pub start_after: Option<String>,
    /// The opaque token from a previous page.
    pub continuation: Option<String>,
    /// At most this many keys plus common prefixes (capped at 1000).
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ListEntry>,
    pub common_prefixes: Vec<String>,
    /// Set when more entries follow; pass it back as `continuation`.
    pub next_continuation: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated_ms: u64,
    pub attrs: ObjectAttrs,
    /// The checksum algorithm named at creation, if any (lower case).
    pub checksum_algorithm: Option<String>,
}

/// An uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: i32,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: u64,
    pub checksums: BTreeMap<String, String>,
}

/// Object count and bytes held, for metrics and `/admin/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StoreStats {
    pub buckets: u64,
    pub objects: u64,
    pub stored_bytes: u64,
}

/// The operations the S3 layer needs. Every write is durable when its future resolves.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError>;
    async fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError>;
    async fn head_bucket(&self, bucket: &str) -> Result<(), StoreError>;
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError>;

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<ObjectMeta, StoreError>;
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError>;
    async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError>;
    /// Deleting a missing key succeeds, as in S3.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError>;
    /// Copies bytes and checksums; `attrs` replaces the attributes when given (REPLACE directive).
    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        attrs: Option<ObjectAttrs>,
    ) -> Result<ObjectMeta, StoreError>;
    async fn list_objects(&self, bucket: &str, query: ListQuery) -> Result<ListPage, StoreError>;

    /// [`ObjectStore::put_object`] that commits only if `cond` holds when the object would become
    /// visible; otherwise [`StoreError::PreconditionFailed`] (or `NoSuchKey` for `IfEtag` on a
    /// missing key) and nothing changes.
    async fn put_object_if(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        body: ByteStream,
        finish: FinishHook,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError>;
    /// [`ObjectStore::copy_object`] with a check of the source and a condition on the destination.
    /// `range` copies only those bytes (UploadPartCopy uses [`ObjectStore::upload_part_copy`]).
    async fn copy_object_if(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        attrs: Option<ObjectAttrs>,
        check: SourceCheck,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError>;
    /// Replaces the attributes of a live object (tags), keeping its bytes, ETag and Last-Modified.
    async fn replace_attrs(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
    ) -> Result<ObjectMeta, StoreError>;
    /// Copies `range` (or all) of an object's bytes into a part of an upload (UploadPartCopy).
    async fn upload_part_copy(
        &self,
        src: (&str, &str),
        range: Option<ByteRange>,
        check: SourceCheck,
        dst: (&str, &str, &str),
        part_number: i32,
    ) -> Result<PartInfo, StoreError>;

    /// A bucket's named sub-resource document (`tagging`, `cors`), as the HTTP layer encoded it.
    async fn get_bucket_config(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores (`Some`) or removes (`None`) a bucket's named document, durably.
    async fn put_bucket_config(
        &self,
        bucket: &str,
        name: &str,
        doc: Option<Vec<u8>>,
    ) -> Result<(), StoreError>;

    async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        checksum_algorithm: Option<String>,
    ) -> Result<UploadInfo, StoreError>;
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: ByteStream,
        finish: FinishHook,
    ) -> Result<PartInfo, StoreError>;
    /// `parts` are (part number, ETag without quotes) in the order the client sent them.
    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<ObjectMeta, StoreError>;
    async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError>;
    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(UploadInfo, Vec<PartInfo>), StoreError>;
    async fn list_uploads(&self, bucket: &str, prefix: &str)
    -> Result<Vec<UploadInfo>, StoreError>;

    /// The bucket's versioning status; `None` when it was never set.
    async fn get_versioning(&self, bucket: &str) -> Result<Option<VersioningStatus>, StoreError>;
    async fn put_versioning(
        &self,
        bucket: &str,
        status: VersioningStatus,
    ) -> Result<(), StoreError>;
    /// GET of one version (`null` included); a delete marker is [`StoreError::DeleteMarker`].
    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError>;
    async fn head_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<ObjectMeta, StoreError>;
    /// DeleteObject: without a version id, a delete marker in a versioned bucket (a plain delete
    /// otherwise); with one, that version is removed for good.
    async fn delete_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Deleted, StoreError>;
    /// [`ObjectStore::copy_object_if`] from one version of the source: `(bucket, key, version id)`.
    async fn copy_object_version(
        &self,
        src: (&str, &str, &str),
        dst: (&str, &str),
        attrs: Option<ObjectAttrs>,
        check: SourceCheck,
        cond: WriteCondition,
    ) -> Result<ObjectMeta, StoreError>;
    async fn list_object_versions(
        &self,
        bucket: &str,
        query: VersionQuery,
    ) -> Result<VersionsPage, StoreError>;

    fn stats(&self) -> StoreStats;
}

/// Checks a key the way S3 does, before anything touches the disk.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey("empty key"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::KeyTooLong { len: key.len() });
    }
    if key.contains('\0') {
        return Err(StoreError::InvalidKey("key contains a NUL byte"));
    }
    Ok(())
}

/// S3 bucket naming rules (the subset that matters for safety and compatibility).
pub fn validate_bucket(bucket: &str) -> Result<(), StoreError> {
    let bad = || StoreError::InvalidBucketName(bucket.chars().take(80).collect());
    let b = bucket.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Err(bad());
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Err(bad());
    }
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(&b[0]) || !alnum(&b[b.len() - 1]) || bucket.contains("..") {
        return Err(bad());
    }
    Ok(())
}

/// AWS's full naming rules for a bucket being created: [`validate_bucket`], and no `.-` or `-.`,
/// not an IPv4 address, none of the reserved prefixes and suffixes. Buckets already on disk are
/// only held to [`validate_bucket`], so that none created earlier becomes unreachable.
pub fn validate_new_bucket(bucket: &str) -> Result<(), StoreError> {
    validate_bucket(bucket)?;
    let bad = || StoreError::InvalidBucketName(bucket.to_owned());
    if bucket.contains(".-") || bucket.contains("-.") {
        return Err(bad());
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad());
    }
    const PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if PREFIXES.iter().any(|p| bucket.starts_with(p))
        || SUFFIXES.iter().any(|s| bucket.ends_with(s))
    {
        return Err(bad());
    }
    Ok(())
}

/// The write log behind the store: replication's durable log and its write quorum. The disk store
/// calls it for local writes only (never for replicated ones, so nothing bounces back).
#[async_trait]
pub trait WriteLog: Send + Sync + std::fmt::Debug + 'static {
    /// Makes a record of a local write (or tombstone) durable, before the write becomes visible.
    /// Returns its sequence number.
    fn log(&self, bucket: &str, meta: &ObjectMeta) -> Result<u64, StoreError>;
    /// Makes a record of a local operation other than an object write durable (see [`ReplicaOp`]).
    fn log_op(&self, bucket: &str, key: &str, op: ReplicaOp) -> Result<u64, StoreError>;
    /// Writes the record of a local write whose object goes to the small-object log, without
    /// making it durable: the store puts the returned fold into the object's log record, whose
    /// group fsync makes both durable, and then settles it (see `replication::log`).
    fn log_folded(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
    ) -> Result<disk::small_log::Fold, StoreError>;
    /// Called once the logged write is visible (or failed): until then shippers do not read it.
    fn settled(&self, seq: u64);
    /// Resolves once the write quorum holds `seq`, or fails with [`StoreError::Unavailable`].
    async fn wait_quorum(&self, seq: u64) -> Result<(), StoreError>;
}

/// Milliseconds since the Unix epoch, now (the clock the HLC reads, too).
pub use crate::replication::hlc::now_ms;

#[cfg(test)]
mod tests;
