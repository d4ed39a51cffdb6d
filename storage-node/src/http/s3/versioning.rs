//! The S3 versioning operations (PutBucketVersioning, GetBucketVersioning, ListObjectVersions),
//! the `x-amz-version-id` a response carries, and the delete-marker errors. `S3Frontend` calls
//! these; the store keeps the versions (`store::disk::versions`).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::list::url_encode;
use super::{etag, ts};
use crate::http::error::to_s3;
use crate::store::{
    ByteRange, ObjectBody, ObjectMeta, ObjectStore, StoreError, VersionQuery, VersioningStatus,
};

/// The owner every listing names (the node has one account).
fn owner() -> Owner {
    Owner {
        display_name: Some("nodewatch".to_owned()),
        id: Some("nodewatch".to_owned()),
    }
}

/// The `x-amz-version-id` of a response about `meta`: its own id, `null` in a bucket whose
/// versioning was ever set, nothing in a bucket that was never versioned (as S3).
pub async fn version_header<S: ObjectStore>(
    store: &S,
    bucket: &str,
    meta: &ObjectMeta,
) -> Option<String> {
    if meta.versioned {
        return Some(meta.version_id());
    }
    match store.get_versioning(bucket).await {
        Ok(Some(_)) => Some(meta.version_id()),
        _ => None,
    }
}

/// HEAD of the current version, or of `version_id`.
pub async fn head<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<ObjectMeta, StoreError> {
    match version_id {
        Some(v) => store.head_object_version(bucket, key, v).await,
        None => store.head_object(bucket, key).await,
    }
}

/// GET of the current version, or of `version_id`.
pub async fn get<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    range: Option<ByteRange>,
) -> Result<ObjectBody, StoreError> {
    match version_id {
        Some(v) => store.get_object_version(bucket, key, v, range).await,
        None => store.get_object(bucket, key, range).await,
    }
}

/// The error for a delete marker: 405 MethodNotAllowed when it was asked for by version id,
/// 404 NoSuchKey when it is the current version; both with `x-amz-delete-marker: true`.
pub fn delete_marker_error(
    version_id: &str,
    last_modified_ms: u64,
    by_version_id: bool,
) -> S3Error {
    let mut e = if by_version_id {
        s3_error!(
            MethodNotAllowed,
            "The specified method is not allowed against this resource."
        )
    } else {
        s3_error!(NoSuchKey)
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", v);
    }
    if by_version_id {
        let mut date = Vec::new();
        let t = Timestamp::from(UNIX_EPOCH + Duration::from_millis(last_modified_ms));
        if t.format(TimestampFormat::HttpDate, &mut date).is_ok()
            && let Ok(v) = HeaderValue::from_bytes(&date)
        {
            headers.insert(http::header::LAST_MODIFIED, v);
        }
    }
    e.set_headers(headers);
    e
}

pub async fn get_bucket_versioning<S: ObjectStore>(
    store: &S,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let status = store
        .get_versioning(&req.input.bucket)
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(|s| BucketVersioningStatus::from(s.as_str().to_owned())),
        mfa_delete: None,
    }))
}

pub async fn put_bucket_versioning<S: ObjectStore>(
    store: &S,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    let config = input.versioning_configuration;
    if config
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(s3_error!(
            NotImplemented,
            "MFA delete is not supported by this server"
        ));
    }
    let status = match config.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => VersioningStatus::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => VersioningStatus::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
    };
    store
        .put_versioning(&input.bucket, status)
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub async fn list_object_versions<S: ObjectStore>(
    store: &S,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let max_keys = input.max_keys.unwrap_or(1000);
    if max_keys < 0 {
        return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
    }
    let query = VersionQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        key_marker: input.key_marker.clone(),
        version_id_marker: input.version_id_marker.clone(),
        max_keys: max_keys as usize,
    };
    let page = store
        .list_object_versions(&input.bucket, query)
        .await
        .map_err(to_s3)?;
    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == EncodingType::URL);
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    for item in page.items {
        if item.delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(item.is_latest),
                key: Some(enc(item.key)),
                last_modified: Some(ts(item.last_modified_ms)),
                owner: Some(owner()),
                version_id: Some(item.version_id),
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(etag(&item.etag)),
                is_latest: Some(item.is_latest),
                key: Some(enc(item.key)),
                last_modified: Some(ts(item.last_modified_ms)),
                owner: Some(owner()),
                size: Some(item.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some(item.version_id),
                ..Default::default()
            });
        }
    }
    let common_prefixes: Vec<CommonPrefix> = page
        .common_prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(p)),
        })
        .collect();
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(input.prefix.unwrap_or_default())),
        delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
        key_marker: Some(enc(input.key_marker.unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(max_keys.min(1000)),
        is_truncated: Some(page.next_key_marker.is_some()),
        next_key_marker: page.next_key_marker.map(enc),
        next_version_id_marker: page.next_version_id_marker,
        versions: (!versions.is_empty()).then_some(versions),
        delete_markers: (!markers.is_empty()).then_some(markers),
        common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
