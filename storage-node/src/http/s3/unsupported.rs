//! Features this node does not implement are refused with `501 NotImplemented` and the S3 XML
//! error body, never accepted and silently ignored: server-side encryption other than SSE-C
//! (SSE-S3 and SSE-KMS), ACLs other than the canned `private`, object lock, storage classes other
//! than STANDARD, website redirects. Sub-resources without a handler (`?policy`, `?lifecycle`,
//! `?object-lock`, `?logging`, ...) get the same answer from `s3s`'s default methods.

use s3s::dto::{ObjectCannedACL, ServerSideEncryption, StorageClass};
use s3s::{S3Error, S3ErrorCode, S3Result};

pub(super) fn not_implemented(what: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("{what} is not implemented by this server"),
    )
}

/// The write headers every object write (PUT, copy, multipart) may carry.
#[derive(Debug, Default)]
pub(super) struct WriteHeaders<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    pub kms_key: bool,
    pub acl: Option<&'a ObjectCannedACL>,
    pub grants: bool,
    pub object_lock: bool,
    pub storage_class: Option<&'a StorageClass>,
    pub website_redirect: bool,
}

pub(super) fn refuse_write(h: WriteHeaders<'_>) -> S3Result<()> {
    if let Some(sse) = h.sse {
        return Err(not_implemented(&format!(
            "Server-side encryption {:?} (only SSE-C is supported)",
            sse.as_str()
        )));
    }
    if h.kms_key {
        return Err(not_implemented("SSE-KMS"));
    }
    if let Some(acl) = h.acl
        && acl.as_str() != ObjectCannedACL::PRIVATE
    {
        return Err(not_implemented(&format!(
            "The canned ACL {:?} (only private is supported)",
            acl.as_str()
        )));
    }
    if h.grants {
        return Err(not_implemented("Access control grants"));
    }
    if h.object_lock {
        return Err(not_implemented("Object lock"));
    }
    if let Some(c) = h.storage_class
        && c.as_str() != StorageClass::STANDARD
    {
        return Err(not_implemented(&format!(
            "The storage class {:?} (only STANDARD is supported)",
            c.as_str()
        )));
    }
    if h.website_redirect {
        return Err(not_implemented("Website redirects"));
    }
    Ok(())
}

/// Refuses the write headers of a request type that has them all (PutObject, CopyObject,
/// CreateMultipartUpload).
macro_rules! refuse_write_headers {
    ($input:expr) => {
        $crate::http::s3::unsupported::refuse_write($crate::http::s3::unsupported::WriteHeaders {
            sse: $input.server_side_encryption.as_ref(),
            kms_key: $input.ssekms_key_id.is_some() || $input.ssekms_encryption_context.is_some(),
            acl: $input.acl.as_ref(),
            grants: $input.grant_full_control.is_some()
                || $input.grant_read.is_some()
                || $input.grant_read_acp.is_some()
                || $input.grant_write_acp.is_some(),
            object_lock: $input.object_lock_mode.is_some()
                || $input.object_lock_retain_until_date.is_some()
                || $input.object_lock_legal_hold_status.is_some(),
            storage_class: $input.storage_class.as_ref(),
            website_redirect: $input.website_redirect_location.is_some(),
        })
    };
}
pub(super) use refuse_write_headers;
