//! The S3 operations, on top of any [`ObjectStore`]. `s3s` parses requests, checks SigV4 (header
//! and presigned) and writes XML; this file translates between its DTOs and the store.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

pub(crate) mod versioning;

use super::checksums::{Declared, to_checksum, verify_body};
use super::error::to_s3;
use crate::store::{ByteRange, ListQuery, ObjectAttrs, ObjectStore};

/// The S3 front end of a store.
#[derive(Debug, Clone)]
pub struct S3Frontend<S> {
    store: S,
}

impl<S: ObjectStore> S3Frontend<S> {
    pub fn new(store: S) -> Self {
        S3Frontend { store }
    }
}

fn ts(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_owned())
}

fn attrs(content_type: Option<ContentType>, metadata: Option<Metadata>) -> ObjectAttrs {
    ObjectAttrs {
        content_type,
        user_metadata: metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
    }
}

fn metadata(m: &BTreeMap<String, String>) -> Option<Metadata> {
    if m.is_empty() {
        None
    } else {
        Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// The flexible-checksum values a request declared in its headers.
fn declared_checksum(
    crc32: &Option<String>,
    crc32c: &Option<String>,
    sha1: &Option<String>,
    sha256: &Option<String>,
    crc64nvme: &Option<String>,
) -> Checksum {
    Checksum {
        checksum_crc32: crc32.clone(),
        checksum_crc32c: crc32c.clone(),
        checksum_sha1: sha1.clone(),
        checksum_sha256: sha256.clone(),
        checksum_crc64nvme: crc64nvme.clone(),
        ..Default::default()
    }
}

/// Percent-encodes a key for `encoding-type=url` listings: everything but unreserved characters
/// and `/`, as S3 does (boto3 always asks for this and decodes the answer).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The unquoted value of an ETag the client sent.
fn etag_value(e: &ETag) -> String {
    match e {
        ETag::Strong(s) | ETag::Weak(s) => s.trim_matches('"').to_owned(),
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore + std::fmt::Debug> S3 for S3Frontend<S> {
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        versioning::get_bucket_versioning(&self.store, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        versioning::put_bucket_versioning(&self.store, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        versioning::list_object_versions(&self.store, req).await
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.store.list_buckets().await.map_err(to_s3)?;
        let output = ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| Bucket {
                        name: Some(b.name),
                        creation_date: Some(ts(b.created_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            owner: Some(Owner {
                display_name: Some("nodewatch".to_owned()),
                id: Some("nodewatch".to_owned()),
            }),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket;
        self.store.create_bucket(&bucket).await.map_err(to_s3)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store
            .head_bucket(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.trailing_headers;
        let mut input = req.input;
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
        let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        let (stream, finish) = verify_body(declared, body, trailers);
        let meta = self
            .store
            .put_object(
                &input.bucket,
                &input.key,
                attrs(input.content_type, input.metadata),
                stream,
                finish,
            )
            .await
            .map_err(to_s3)?;
        let c = to_checksum(&meta.checksums);
        let version_id = versioning::version_header(&self.store, &input.bucket, &meta).await;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta.etag)),
            version_id,
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let range = input.range.map(|r| match r {
            Range::Int { first, last } => ByteRange::Int { first, last },
            Range::Suffix { length } => ByteRange::Suffix { length },
        });
        let obj = match input.version_id.as_deref() {
            Some(v) => {
                self.store
                    .get_object_version(&input.bucket, &input.key, v, range)
                    .await
            }
            None => {
                self.store
                    .get_object(&input.bucket, &input.key, range)
                    .await
            }
        }
        .map_err(to_s3)?;
        let meta = obj.meta;
        let version_id = versioning::version_header(&self.store, &input.bucket, &meta).await;
        let (start, end) = obj.range;
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
        let output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(obj.stream)),
            content_length: Some((end - start) as i64),
            content_range: partial
                .then(|| format!("bytes {start}-{}/{}", end.saturating_sub(1), meta.size)),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.last_modified_ms)),
            content_type: meta.attrs.content_type.clone(),
            metadata: metadata(&meta.attrs.user_metadata),
            parts_count: (meta.parts > 0).then_some(meta.parts as i32),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            version_id,
            ..Default::default()
        };
        let mut resp = S3Response::new(output);
        if partial {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let meta = match input.version_id.as_deref() {
            Some(v) => {
                self.store
                    .head_object_version(&input.bucket, &input.key, v)
                    .await
            }
            None => self.store.head_object(&input.bucket, &input.key).await,
        }
        .map_err(to_s3)?;
        let version_id = versioning::version_header(&self.store, &input.bucket, &meta).await;
        let want_checksums = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let c = if want_checksums {
            to_checksum(&meta.checksums)
        } else {
            Checksum::default()
        };
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(meta.size as i64),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.last_modified_ms)),
            content_type: meta.attrs.content_type.clone(),
            metadata: metadata(&meta.attrs.user_metadata),
            accept_ranges: Some("bytes".to_owned()),
            parts_count: (meta.parts > 0).then_some(meta.parts as i32),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            version_id,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let done = self
            .store
            .delete_object_version(&input.bucket, &input.key, input.version_id.as_deref())
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: done.delete_marker.then_some(true),
            version_id: done.version_id,
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "at most 1000 keys per DeleteObjects request"
            ));
        }
        self.store.head_bucket(&input.bucket).await.map_err(to_s3)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            match self
                .store
                .delete_object_version(&input.bucket, &obj.key, obj.version_id.as_deref())
                .await
            {
                Ok(done) => {
                    if !quiet {
                        let marker_id = done.delete_marker.then(|| done.version_id.clone());
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            // The version asked for; a marker created is named by its own field.
                            version_id: obj.version_id,
                            delete_marker: done.delete_marker.then_some(true),
                            delete_marker_version_id: marker_id.flatten(),
                        });
                    }
                }
                Err(e) => {
                    let s3e = to_s3(e);
                    errors.push(Error {
                        code: Some(s3e.code().as_str().to_owned()),
                        key: Some(obj.key),
                        message: s3e.message().map(str::to_owned),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key, src_version) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => (
                bucket.to_string(),
                key.to_string(),
                version_id.as_ref().map(|v| v.to_string()),
            ),
            CopySource::AccessPoint { .. } | CopySource::Outpost { .. } => {
                return Err(s3_error!(
                    InvalidArgument,
                    "copy sources must be bucket/key"
                ));
            }
        };
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if !replace && src_bucket == input.bucket && src_key == input.key && src_version.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata."
            ));
        }
        let new_attrs = replace.then(|| attrs(input.content_type, input.metadata));
        let meta = match src_version.as_deref() {
            Some(v) => {
                self.store
                    .copy_object_version(
                        &src_bucket,
                        &src_key,
                        v,
                        &input.bucket,
                        &input.key,
                        new_attrs,
                    )
                    .await
            }
            None => {
                self.store
                    .copy_object(&src_bucket, &src_key, &input.bucket, &input.key, new_attrs)
                    .await
            }
        }
        .map_err(to_s3)?;
        let version_id = versioning::version_header(&self.store, &input.bucket, &meta).await;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(ts(meta.last_modified_ms)),
                ..Default::default()
            }),
            copy_source_version_id: src_version,
            version_id,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max_keys = input.max_keys.unwrap_or(1000);
        if max_keys < 0 {
            return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
        }
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            start_after: input.start_after.clone(),
            continuation: input.continuation_token.clone(),
            max_keys: max_keys as usize,
        };
        let page = self
            .store
            .list_objects(&input.bucket, query)
            .await
            .map_err(to_s3)?;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        let contents: Vec<Object> = page
            .objects
            .into_iter()
            .map(|o| Object {
                key: Some(enc(o.key)),
                size: Some(o.size as i64),
                e_tag: Some(etag(&o.etag)),
                last_modified: Some(ts(o.last_modified_ms)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let common_prefixes: Vec<CommonPrefix> = page
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p)),
            })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix.map(enc),
            delimiter: input.delimiter.map(enc),
            max_keys: Some(max_keys.min(1000)),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after.map(enc),
            is_truncated: Some(page.next_continuation.is_some()),
            next_continuation_token: page.next_continuation,
            contents: Some(contents),
            common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_ascii_lowercase());
        let info = self
            .store
            .create_upload(
                &input.bucket,
                &input.key,
                attrs(input.content_type, input.metadata),
                algorithm,
            )
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

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers;
        let mut input = req.input;
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
        let body = input.body.take().ok_or_else(|| s3_error!(IncompleteBody))?;
        let (stream, finish) = verify_body(declared, body, trailers);
        let part = self
            .store
            .upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                input.part_number,
                stream,
                finish,
            )
            .await
            .map_err(to_s3)?;
        let c = to_checksum(&part.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: c.checksum_crc32,
            checksum_crc32c: c.checksum_crc32c,
            checksum_sha1: c.checksum_sha1,
            checksum_sha256: c.checksum_sha256,
            checksum_crc64nvme: c.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts: Vec<(i32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    p.part_number.unwrap_or(0),
                    p.e_tag.as_ref().map(etag_value).unwrap_or_default(),
                )
            })
            .collect();
        let meta = self
            .store
            .complete_upload(&input.bucket, &input.key, &input.upload_id, parts)
            .await
            .map_err(to_s3)?;
        let version_id = versioning::version_header(&self.store, &input.bucket, &meta).await;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            version_id,
            bucket: Some(input.bucket.clone()),
            key: Some(meta.key.clone()),
            e_tag: Some(etag(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, meta.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store
            .abort_upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let (info, parts) = self
            .store
            .list_parts(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(to_s3)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after: Vec<_> = parts
            .into_iter()
            .filter(|p| p.part_number > marker)
            .collect();
        let truncated = after.len() > max;
        let page: Vec<_> = after.into_iter().take(max).collect();
        let next = if truncated {
            page.last().map(|p| p.part_number)
        } else {
            None
        };
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(info.bucket),
            key: Some(info.key),
            upload_id: Some(info.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                page.into_iter()
                    .map(|p| {
                        let c = to_checksum(&p.checksums);
                        Part {
                            part_number: Some(p.part_number),
                            size: Some(p.size as i64),
                            e_tag: Some(etag(&p.etag)),
                            last_modified: Some(ts(p.last_modified_ms)),
                            checksum_crc32: c.checksum_crc32,
                            checksum_crc32c: c.checksum_crc32c,
                            checksum_sha1: c.checksum_sha1,
                            checksum_sha256: c.checksum_sha256,
                            checksum_crc64nvme: c.checksum_crc64nvme,
                        }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .store
            .list_uploads(&input.bucket, &prefix)
            .await
            .map_err(to_s3)?;
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let truncated = uploads.len() > max;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(
                uploads
                    .into_iter()
                    .take(max)
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(ts(u.initiated_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}
