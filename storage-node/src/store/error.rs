//! The one error type of the store. `http::error` maps it to S3 codes; nothing else does.

use std::io;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such bucket {0:?}")]
    NoSuchBucket(String),
    #[error("bucket {0:?} already exists")]
    BucketAlreadyExists(String),
    #[error("bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    #[error("invalid bucket name {0:?}")]
    InvalidBucketName(String),
    #[error("no such key in bucket {bucket:?}")]
    NoSuchKey { bucket: String },
    #[error("no such version of the key in bucket {bucket:?}")]
    NoSuchVersion { bucket: String },
    /// The version asked for (or the current one, when `by_version_id` is false) is a delete marker.
    #[error("the version is a delete marker")]
    DeleteMarker {
        version_id: String,
        last_modified_ms: u64,
        by_version_id: bool,
    },
    #[error("key is {len} bytes, over the 1024-byte limit")]
    KeyTooLong { len: usize },
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("range not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("no such upload {0:?}")]
    NoSuchUpload(String),
    #[error("invalid part {0}: {1}")]
    InvalidPart(i32, &'static str),
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    #[error("part {part} is {size} bytes; all parts but the last must be at least 5 MiB")]
    EntityTooSmall { part: i32, size: u64 },
    #[error("object of {size} bytes is over the {max}-byte limit")]
    EntityTooLarge { size: u64, max: u64 },
    #[error("digest mismatch: {0}")]
    BadDigest(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("no space left on the data device")]
    InsufficientStorage,
    #[error("checksum mismatch in stored object {bucket}/{key_hash}: {detail}")]
    Corrupt {
        bucket: String,
        key_hash: String,
        detail: String,
    },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("read request body: {0}")]
    Body(io::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl StoreError {
    /// Wraps an I/O error with what was being done, turning "disk full" into its own variant.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        if is_no_space(&source) {
            return StoreError::InsufficientStorage;
        }
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// ENOSPC and EDQUOT both mean the write cannot be stored.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}
