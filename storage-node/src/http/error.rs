//! The one place where store errors become S3 error codes and HTTP statuses.

use http::StatusCode;
use s3s::{S3Error, S3ErrorCode, s3_error};

use crate::store::StoreError;

/// HTTP 507, with the code MinIO and other S3 servers use for a full disk.
pub const STORAGE_FULL_CODE: &str = "XMinioStorageFull";

/// Maps a store error to the S3 error a client expects. Internal details (paths, OS errors) are
/// logged here and never sent to the client.
pub fn to_s3(e: StoreError) -> S3Error {
    match e {
        StoreError::NoSuchBucket(_) => s3_error!(NoSuchBucket),
        StoreError::BucketAlreadyExists(_) => s3_error!(BucketAlreadyOwnedByYou),
        StoreError::BucketNotEmpty(_) => s3_error!(BucketNotEmpty),
        StoreError::InvalidBucketName(_) => s3_error!(InvalidBucketName),
        StoreError::NoSuchKey { .. } => s3_error!(NoSuchKey),
        StoreError::NoSuchVersion { .. } => {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        }
        StoreError::DeleteMarker {
            version_id,
            last_modified_ms,
            by_version_id,
        } => {
            super::s3::versioning::delete_marker_error(&version_id, last_modified_ms, by_version_id)
        }
        StoreError::KeyTooLong { .. } => s3_error!(KeyTooLongError, "Your key is too long"),
        StoreError::InvalidKey(why) => s3_error!(InvalidArgument, "{why}"),
        StoreError::InvalidRange { .. } => s3_error!(InvalidRange),
        StoreError::NoSuchUpload(_) => s3_error!(NoSuchUpload),
        StoreError::InvalidPart(n, why) => s3_error!(InvalidPart, "part {n}: {why}"),
        StoreError::InvalidPartOrder => s3_error!(InvalidPartOrder),
        StoreError::EntityTooSmall { .. } => s3_error!(EntityTooSmall),
        StoreError::EntityTooLarge { .. } => s3_error!(EntityTooLarge),
        StoreError::BadDigest(msg) => s3_error!(BadDigest, "{msg}"),
        StoreError::InvalidArgument(msg) => s3_error!(InvalidArgument, "{msg}"),
        StoreError::PreconditionFailed => s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ),
        // s3s's check of a signed payload fails the body stream with this error.
        StoreError::Body(err) if err.to_string().contains("Sha256Mismatch") => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            );
            e.set_status_code(StatusCode::BAD_REQUEST);
            e
        }
        StoreError::Body(err) => {
            tracing::debug!(error = %err, "request body ended early");
            s3_error!(
                IncompleteBody,
                "the request body could not be read completely"
            )
        }
        StoreError::InsufficientStorage => {
            tracing::error!("no space left on the data device; refusing the write");
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom(STORAGE_FULL_CODE.into()),
                "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.",
            );
            e.set_status_code(StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        StoreError::Corrupt { .. } => {
            // Already counted and logged with the object by the store.
            s3_error!(
                InternalError,
                "the stored object failed its checksum and cannot be served"
            )
        }
        StoreError::Unavailable(msg) => {
            tracing::warn!(reason = %msg, "write answered 503");
            s3_error!(ServiceUnavailable, "{msg}")
        }
        e @ StoreError::Io { .. } => {
            tracing::error!(error = %e, "storage i/o failed");
            s3_error!(InternalError)
        }
    }
}

#[cfg(test)]
mod tests;
