//! PutObject, GetObject, HeadObject and CopyObject: standard headers, conditional requests,
//! SSE-C, `partNumber` reads and tagging around the store's object operations.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::conditional::Preconditions;
use super::headers::{self, Overrides, Standard};
use super::sse_c::{self, CustomerKey};
use super::unsupported::{not_implemented, refuse_write_headers};
use super::{conditional, declared_checksum, etag, tagging, ts, versioning};
use crate::http::checksums::{Declared, to_checksum, verify_body};
use crate::http::error::to_s3;
use crate::store::{ByteRange, ObjectAttrs, ObjectMeta, ObjectStore, SourceCheck, StoreError};

fn sse_out(key: &Option<CustomerKey>) -> (Option<String>, Option<String>) {
    match key {
        Some(k) => (Some(sse_c::ALGORITHM.to_owned()), Some(k.md5())),
        None => (None, None),
    }
}

pub(super) async fn put_object<S: ObjectStore>(
    store: &S,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    if req.method == http::Method::POST && req.input.key.contains("${filename}") {
        // A browser form upload whose key names the uploaded file: not substituted here.
        return Err(not_implemented(
            "${filename} in the key of a POST object upload",
        ));
    }
    let trailers = req.trailing_headers;
    let mut input = req.input;
    refuse_write_headers!(input)?;
    if input.write_offset_bytes.is_some() {
        return Err(not_implemented("Appending with x-amz-write-offset-bytes"));
    }
    let cond = conditional::write_condition(input.if_match.take(), input.if_none_match.take())?;
    let key = sse_c::parse(
        input.sse_customer_algorithm.as_deref(),
        input.sse_customer_key.as_deref(),
        input.sse_customer_key_md5.as_deref(),
    )?;
    let declared = Declared::new(
        input.content_md5.take(),
        declared_checksum(
            &input.checksum_crc32,
            &input.checksum_crc32c,
            &input.checksum_sha1,
            &input.checksum_sha256,
            &input.checksum_crc64nvme,
        ),
        input.checksum_algorithm.as_ref(),
    )
    .map_err(to_s3)?;
    let mut attrs = headers::attrs(
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
    let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
    let (stream, finish) = verify_body(declared, body, trailers);
    let (stream, finish) = match &key {
        Some(k) => {
            let info = k.new_info();
            let sealed = k.encrypt(&info, stream, finish)?;
            attrs.sse_c = Some(info);
            sealed
        }
        None => (stream, finish),
    };
    let meta = store
        .put_object_if(&input.bucket, &input.key, attrs, stream, finish, cond)
        .await
        .map_err(to_s3)?;
    let c = to_checksum(&meta.checksums);
    let (sse_customer_algorithm, sse_customer_key_md5) = sse_out(&key);
    let version_id = versioning::version_header(store, &input.bucket, &meta).await;
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&meta.etag)),
        version_id,
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    }))
}

/// The byte range of part `n` of an object, for `partNumber` reads: `None` is the whole object
/// (part 1 of an object that was not uploaded in parts).
fn part_range(meta: &ObjectMeta, n: i32) -> S3Result<Option<ByteRange>> {
    let not_satisfiable = || {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        e
    };
    if n < 1 {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    if meta.parts == 0 {
        return if n == 1 {
            Ok(None)
        } else {
            Err(not_satisfiable())
        };
    }
    let sizes = &meta.attrs.part_sizes;
    if sizes.len() != meta.parts as usize {
        return Err(not_implemented(
            "partNumber reads of objects completed before part sizes were recorded",
        ));
    }
    let idx = (n - 1) as usize;
    let size = *sizes.get(idx).ok_or_else(not_satisfiable)?;
    let first: u64 = sizes[..idx].iter().sum();
    if size == 0 {
        return Err(not_satisfiable());
    }
    Ok(Some(ByteRange::Int {
        first,
        last: Some(first + size - 1),
    }))
}

fn read_key(
    alg: Option<&str>,
    key: Option<&str>,
    md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    sse_c::parse(alg, key, md5)
}

pub(super) async fn get_object<S: ObjectStore>(
    store: &S,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let key = read_key(
        input.sse_customer_algorithm.as_deref(),
        input.sse_customer_key.as_deref(),
        input.sse_customer_key_md5.as_deref(),
    )?;
    if input.part_number.is_some() && input.range.is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        ));
    }
    let pre = Preconditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    };
    let mut range = input.range.map(|r| match r {
        Range::Int { first, last } => ByteRange::Int { first, last },
        Range::Suffix { length } => ByteRange::Suffix { length },
    });
    let mut expect_etag = None;
    if !pre.is_empty() || input.part_number.is_some() || key.is_some() {
        // Checked before any byte is read: a refused read costs no data I/O.
        let meta = versioning::head(
            store,
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
        )
        .await
        .map_err(to_s3)?;
        sse_c::check_read(key.as_ref(), meta.attrs.sse_c.as_ref())?;
        pre.check_read(&meta)?;
        if let Some(n) = input.part_number {
            range = part_range(&meta, n)?;
        }
        expect_etag = Some(meta.etag);
    }
    let obj = versioning::get(
        store,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        range,
    )
    .await
    .map_err(to_s3)?;
    let meta = obj.meta;
    let version_id = versioning::version_header(store, &input.bucket, &meta).await;
    if expect_etag.is_some_and(|e| e != meta.etag) {
        // Replaced between the checks and the read: check the object actually read.
        sse_c::check_read(key.as_ref(), meta.attrs.sse_c.as_ref())?;
        pre.check_read(&meta)?;
        if input.part_number.is_some() {
            return Err(conditional::precondition_failed());
        }
    }
    sse_c::check_read(key.as_ref(), meta.attrs.sse_c.as_ref())?;
    let (start, end) = obj.range;
    let stream = match (&key, &meta.attrs.sse_c) {
        (Some(k), Some(info)) => k.decrypt(info, obj.stream, start)?,
        _ => obj.stream,
    };
    let partial = range.is_some();
    let want_checksums = !partial
        && input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let c = if want_checksums {
        to_checksum(&meta.checksums)
    } else {
        Checksum::default()
    };
    let out = headers::out(
        &meta.attrs,
        Overrides {
            content_type: input.response_content_type,
            cache_control: input.response_cache_control,
            content_disposition: input.response_content_disposition,
            content_encoding: input.response_content_encoding,
            content_language: input.response_content_language,
            expires: input.response_expires,
        },
    );
    let (sse_customer_algorithm, sse_customer_key_md5) = sse_out(&key);
    let output = GetObjectOutput {
        body: Some(StreamingBlob::wrap(stream)),
        content_length: Some((end - start) as i64),
        content_range: partial
            .then(|| format!("bytes {start}-{}/{}", end.saturating_sub(1), meta.size)),
        accept_ranges: Some("bytes".to_owned()),
        e_tag: Some(etag(&meta.etag)),
        last_modified: Some(ts(meta.last_modified_ms)),
        content_type: out.content_type,
        cache_control: out.cache_control,
        content_disposition: out.content_disposition,
        content_encoding: out.content_encoding,
        content_language: out.content_language,
        expires: out.expires,
        metadata: headers::metadata(&meta.attrs.user_metadata),
        parts_count: (meta.parts > 0).then_some(meta.parts as i32),
        tag_count: tagging::tag_count(&meta.attrs.tags),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        sse_customer_algorithm,
        sse_customer_key_md5,
        version_id,
        ..Default::default()
    };
    let mut resp = S3Response::new(output);
    if partial {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(resp)
}

pub(super) async fn head_object<S: ObjectStore>(
    store: &S,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let key = read_key(
        input.sse_customer_algorithm.as_deref(),
        input.sse_customer_key.as_deref(),
        input.sse_customer_key_md5.as_deref(),
    )?;
    let meta = versioning::head(
        store,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )
    .await
    .map_err(to_s3)?;
    let version_id = versioning::version_header(store, &input.bucket, &meta).await;
    sse_c::check_read(key.as_ref(), meta.attrs.sse_c.as_ref())?;
    Preconditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    }
    .check_read(&meta)?;
    let range = match input.part_number {
        Some(n) => part_range(&meta, n)?,
        None => None,
    };
    let (length, content_range) = match range {
        Some(r) => {
            let (start, end) = r.resolve(meta.size).map_err(to_s3)?;
            (
                end - start,
                Some(format!("bytes {start}-{}/{}", end - 1, meta.size)),
            )
        }
        None => (meta.size, None),
    };
    let want_checksums = input
        .checksum_mode
        .as_ref()
        .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let c = if want_checksums && range.is_none() {
        to_checksum(&meta.checksums)
    } else {
        Checksum::default()
    };
    let out = headers::out(
        &meta.attrs,
        Overrides {
            content_type: input.response_content_type,
            cache_control: input.response_cache_control,
            content_disposition: input.response_content_disposition,
            content_encoding: input.response_content_encoding,
            content_language: input.response_content_language,
            expires: input.response_expires,
        },
    );
    let (sse_customer_algorithm, sse_customer_key_md5) = sse_out(&key);
    let mut resp = S3Response::new(HeadObjectOutput {
        content_length: Some(length as i64),
        content_range,
        e_tag: Some(etag(&meta.etag)),
        last_modified: Some(ts(meta.last_modified_ms)),
        content_type: out.content_type,
        cache_control: out.cache_control,
        content_disposition: out.content_disposition,
        content_encoding: out.content_encoding,
        content_language: out.content_language,
        expires: out.expires,
        metadata: headers::metadata(&meta.attrs.user_metadata),
        accept_ranges: Some("bytes".to_owned()),
        parts_count: (meta.parts > 0).then_some(meta.parts as i32),
        checksum_crc32: c.checksum_crc32,
        checksum_crc32c: c.checksum_crc32c,
        checksum_sha1: c.checksum_sha1,
        checksum_sha256: c.checksum_sha256,
        checksum_crc64nvme: c.checksum_crc64nvme,
        sse_customer_algorithm,
        sse_customer_key_md5,
        version_id,
        ..Default::default()
    });
    if range.is_some() {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(resp)
}

/// The bucket and key of a copy source (UploadPartCopy: the current version only).
pub(super) fn copy_source(src: &CopySource) -> S3Result<(String, String)> {
    match copy_source_version(src)? {
        (bucket, key, None) => Ok((bucket, key)),
        _ => Err(not_implemented("Copying a part from a specific version")),
    }
}

/// The bucket, key and version id (if any) of a copy source.
pub(super) fn copy_source_version(src: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((
            bucket.to_string(),
            key.to_string(),
            version_id.as_ref().map(|v| v.to_string()),
        )),
        CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => Err(s3_error!(
            InvalidArgument,
            "copy sources must be bucket/key"
        )),
    }
}

/// A check of the copy source, once open: the preconditions and that it is still the object
/// whose encryption and attributes were looked at (`etag`).
pub(super) fn source_check(pre: Preconditions, etag: String) -> SourceCheck {
    Box::new(move |meta: &ObjectMeta| {
        pre.check_copy_source(meta)?;
        if meta.etag != etag {
            return Err(StoreError::PreconditionFailed);
        }
        Ok(())
    })
}

pub(super) async fn copy_object<S: ObjectStore>(
    store: &S,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let mut input = req.input;
    refuse_write_headers!(input)?;
    let (src_bucket, src_key, src_version) = copy_source_version(&input.copy_source)?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let replace_tags = input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    let src_key_sse = sse_c::parse(
        input.copy_source_sse_customer_algorithm.as_deref(),
        input.copy_source_sse_customer_key.as_deref(),
        input.copy_source_sse_customer_key_md5.as_deref(),
    )?;
    let dst_key_sse = sse_c::parse(
        input.sse_customer_algorithm.as_deref(),
        input.sse_customer_key.as_deref(),
        input.sse_customer_key_md5.as_deref(),
    )?;
    let src = versioning::head(store, &src_bucket, &src_key, src_version.as_deref())
        .await
        .map_err(to_s3)?;
    sse_c::check_read(src_key_sse.as_ref(), src.attrs.sse_c.as_ref())?;
    // The ciphertext is copied as it is: the destination must be encrypted with the same key.
    match (&src_key_sse, &dst_key_sse) {
        (None, None) => {}
        (Some(s), Some(d)) if s.md5() == d.md5() => {}
        _ => {
            return Err(not_implemented(
                "Copying between different server-side encryption keys",
            ));
        }
    }
    // Copying an older version over its own key restores it: that is no copy onto itself.
    if !replace
        && !replace_tags
        && src_bucket == input.bucket
        && src_key == input.key
        && src_version.is_none()
    {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let mut attrs = if replace {
        headers::attrs(
            Standard {
                content_type: input.content_type.take(),
                cache_control: input.cache_control.take(),
                content_disposition: input.content_disposition.take(),
                content_encoding: input.content_encoding.take(),
                content_language: input.content_language.take(),
                expires: input.expires.take(),
            },
            input.metadata.take(),
            None,
        )?
    } else {
        ObjectAttrs {
            part_sizes: Vec::new(),
            upload_id: None,
            ..src.attrs.clone()
        }
    };
    attrs.tags = if replace_tags {
        match input.tagging.as_deref() {
            Some(t) => headers::parse_tagging_header(t)?,
            None => Default::default(),
        }
    } else {
        src.attrs.tags.clone()
    };
    attrs.sse_c = src.attrs.sse_c.clone();
    let pre = Preconditions {
        if_match: input.copy_source_if_match,
        if_none_match: input.copy_source_if_none_match,
        if_modified_since: input.copy_source_if_modified_since,
        if_unmodified_since: input.copy_source_if_unmodified_since,
    };
    let check = source_check(pre, src.etag.clone());
    let cond = crate::store::WriteCondition::Always;
    let meta = match src_version.as_deref() {
        Some(v) => {
            store
                .copy_object_version(
                    (&src_bucket, &src_key, v),
                    (&input.bucket, &input.key),
                    Some(attrs),
                    check,
                    cond,
                )
                .await
        }
        None => {
            store
                .copy_object_if(
                    (&src_bucket, &src_key),
                    (&input.bucket, &input.key),
                    Some(attrs),
                    check,
                    cond,
                )
                .await
        }
    }
    .map_err(to_s3)?;
    let (sse_customer_algorithm, sse_customer_key_md5) = sse_out(&dst_key_sse);
    let version_id = versioning::version_header(store, &input.bucket, &meta).await;
    let copy_source_version_id = match src_version {
        Some(v) => Some(v),
        None => versioning::version_header(store, &src_bucket, &src).await,
    };
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.last_modified_ms)),
            ..Default::default()
        }),
        version_id,
        copy_source_version_id,
        sse_customer_algorithm,
        sse_customer_key_md5,
        ..Default::default()
    }))
}
