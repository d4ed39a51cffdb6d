//! Multipart details: CreateMultipartUpload's headers, UploadPartCopy (with
//! `x-amz-copy-source-range`), and CompleteMultipartUpload's checksum checks and idempotent
//! retries (a repeated Complete of a finished upload with the same parts answers 200 and the same
//! ETag, as SDKs retry it).

use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::conditional::Preconditions;
use super::headers::{self, Standard};
use super::object::{copy_source, source_check};
use super::unsupported::{not_implemented, refuse_write_headers};
use super::{etag, etag_value, sse_c, ts};
use crate::http::checksums::{composite, to_checksum};
use crate::http::error::to_s3;
use crate::store::{ByteRange, ObjectStore, StoreError};

pub(super) async fn create<S: ObjectStore>(
    store: &S,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let mut input = req.input;
    refuse_write_headers!(input)?;
    if input.sse_customer_algorithm.is_some() || input.sse_customer_key.is_some() {
        return Err(not_implemented("SSE-C with multipart uploads"));
    }
    if input
        .checksum_type
        .as_ref()
        .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT)
    {
        return Err(not_implemented(
            "Full-object checksums of multipart uploads",
        ));
    }
    let algorithm = input
        .checksum_algorithm
        .as_ref()
        .map(|a| a.as_str().to_ascii_lowercase());
    let attrs = headers::attrs(
        Standard {
            content_type: input.content_type.take(),
            cache_control: input.cache_control.take(),
            content_disposition: input.content_disposition.take(),
            content_encoding: input.content_encoding.take(),
            content_language: input.content_language.take(),
            expires: input.expires.take(),
        },
        input.metadata.take(),
        input.tagging.as_deref(),
    )?;
    let info = store
        .create_upload(&input.bucket, &input.key, attrs, algorithm)
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(info.bucket),
        key: Some(info.key),
        upload_id: Some(info.upload_id),
        checksum_algorithm: input.checksum_algorithm,
        ..Default::default()
    }))
}

/// `bytes=first-last`, both required, as S3 wants it for UploadPartCopy.
fn copy_range(r: &str, size: u64) -> S3Result<ByteRange> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = r
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if last < first || last >= size {
        return Err(s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {size}"
        ));
    }
    Ok(ByteRange::Int {
        first,
        last: Some(last),
    })
}

pub(super) async fn upload_part_copy<S: ObjectStore>(
    store: &S,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let (src_bucket, src_key) = copy_source(&input.copy_source)?;
    let src_sse = sse_c::parse(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
    if src_sse.is_some() || input.sse_customer_algorithm.is_some() {
        return Err(not_implemented("SSE-C with multipart uploads"));
    }
    let src = store
        .head_object(&src_bucket, &src_key)
        .await
        .map_err(to_s3)?;
    sse_c::check_read(None, src.attrs.sse_c.as_ref())?;
    let range = match input.copy_source_range.as_deref() {
        Some(r) => Some(copy_range(r, src.size)?),
        None => None,
    };
    let pre = Preconditions {
        if_match: input.copy_source_if_match,
        if_none_match: input.copy_source_if_none_match,
        if_modified_since: input.copy_source_if_modified_since,
        if_unmodified_since: input.copy_source_if_unmodified_since,
    };
    let part = store
        .upload_part_copy(
            (&src_bucket, &src_key),
            range,
            source_check(pre, src.etag),
            (&input.bucket, &input.key, &input.upload_id),
            input.part_number,
        )
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(ts(part.last_modified_ms)),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// The ETag S3 gives an object completed from these parts.
fn multipart_etag(parts: &[(i32, String)]) -> Option<String> {
    let mut h = Md5::new();
    for (_, e) in parts {
        h.update(hex::decode(e).ok()?);
    }
    Some(format!("{}-{}", hex::encode(h.finalize()), parts.len()))
}

/// Per-part and whole-upload checksums the request declares, by algorithm name.
struct Declared {
    parts: Vec<Vec<(&'static str, String)>>,
    whole: Vec<(&'static str, String)>,
}

fn named(c: Checksum) -> Vec<(&'static str, String)> {
    [
        ("crc32", c.checksum_crc32),
        ("crc32c", c.checksum_crc32c),
        ("sha1", c.checksum_sha1),
        ("sha256", c.checksum_sha256),
        ("crc64nvme", c.checksum_crc64nvme),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .collect()
}

pub(super) async fn complete<S: ObjectStore>(
    store: &S,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    if input.sse_customer_algorithm.is_some() {
        return Err(not_implemented("SSE-C with multipart uploads"));
    }
    let completed = input
        .multipart_upload
        .and_then(|m| m.parts)
        .unwrap_or_default();
    let mut parts: Vec<(i32, String)> = Vec::with_capacity(completed.len());
    let mut declared = Declared {
        parts: Vec::with_capacity(completed.len()),
        whole: named(Checksum {
            checksum_crc32: input.checksum_crc32,
            checksum_crc32c: input.checksum_crc32c,
            checksum_sha1: input.checksum_sha1,
            checksum_sha256: input.checksum_sha256,
            checksum_crc64nvme: input.checksum_crc64nvme,
            ..Default::default()
        }),
    };
    for p in completed {
        parts.push((
            p.part_number.unwrap_or(0),
            p.e_tag.as_ref().map(etag_value).unwrap_or_default(),
        ));
        declared.parts.push(named(Checksum {
            checksum_crc32: p.checksum_crc32,
            checksum_crc32c: p.checksum_crc32c,
            checksum_sha1: p.checksum_sha1,
            checksum_sha256: p.checksum_sha256,
            checksum_crc64nvme: p.checksum_crc64nvme,
            ..Default::default()
        }));
    }
    if !declared.whole.is_empty()
        && input
            .checksum_type
            .as_ref()
            .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT)
    {
        return Err(not_implemented(
            "Full-object checksums of multipart uploads",
        ));
    }
    let stored = match store
        .list_parts(&input.bucket, &input.key, &input.upload_id)
        .await
    {
        Ok((_, stored)) => stored,
        Err(StoreError::NoSuchUpload(_)) => {
            return retried(store, &input.bucket, &input.key, &input.upload_id, &parts).await;
        }
        Err(e) => return Err(to_s3(e)),
    };
    let find = |n: i32| stored.iter().find(|p| p.part_number == n);
    for ((n, _), sums) in parts.iter().zip(&declared.parts) {
        let Some(part) = find(*n) else { continue }; // the store names the missing part
        for (alg, want) in sums {
            if part.checksums.get(*alg) != Some(want) {
                return Err(s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag."
                ));
            }
        }
    }
    let mut whole = Vec::new();
    for (alg, want) in &declared.whole {
        let sums: Option<Vec<_>> = parts
            .iter()
            .map(|(n, _)| find(*n).map(|p| &p.checksums))
            .collect();
        let got = sums.and_then(|s| composite(alg, &s)).ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "The upload was created using a different checksum algorithm than x-amz-checksum-{alg}"
            )
        })?;
        let base = |v: &str| v.split_once('-').map_or(v, |(b, _)| b).to_owned();
        if base(&got) != base(want) {
            return Err(s3_error!(
                BadDigest,
                "The x-amz-checksum-{alg} you specified did not match the calculated checksum."
            ));
        }
        whole.push((alg.to_string(), got));
    }
    let meta = store
        .complete_upload(&input.bucket, &input.key, &input.upload_id, parts)
        .await
        .map_err(to_s3)?;
    let c = to_checksum(&whole.into_iter().collect());
    let version_id = super::versioning::version_header(store, &input.bucket, &meta).await;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        version_id,
        bucket: Some(input.bucket.clone()),
        key: Some(meta.key.clone()),
        e_tag: Some(etag(&meta.etag)),
        location: Some(format!("/{}/{}", input.bucket, meta.key)),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        ..Default::default()
    }))
}

/// A Complete of an upload that is no longer in progress: 200 with the object's ETag when the
/// current object is that upload, completed from the same parts; NoSuchUpload otherwise.
async fn retried<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[(i32, String)],
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let no_such = || s3_error!(NoSuchUpload);
    let meta = store
        .head_object(bucket, key)
        .await
        .map_err(|_| no_such())?;
    if meta.attrs.upload_id.as_deref() != Some(upload_id)
        || multipart_etag(parts).as_deref() != Some(meta.etag.as_str())
    {
        return Err(no_such());
    }
    let version_id = super::versioning::version_header(store, bucket, &meta).await;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        version_id,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        e_tag: Some(etag(&meta.etag)),
        location: Some(format!("/{bucket}/{key}")),
        ..Default::default()
    }))
}
