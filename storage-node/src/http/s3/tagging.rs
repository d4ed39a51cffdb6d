//! Object tagging (`?tagging` on a key; `x-amz-tagging` on writes, in the object's attributes)
//! and bucket tagging (`?tagging` on a bucket; a bucket document in the store).

use std::collections::BTreeMap;

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::headers::check_tags;
use super::unsupported::not_implemented;
use super::versioning;
use crate::http::error::to_s3;
use crate::store::ObjectStore;

/// The store's name for a bucket's tag set.
const BUCKET_DOC: &str = "tagging";

fn to_map(set: TagSet) -> S3Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    for t in set {
        let key = t.key.unwrap_or_default();
        if tags.insert(key, t.value.unwrap_or_default()).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    check_tags(&tags)?;
    Ok(tags)
}

fn to_set(tags: &BTreeMap<String, String>) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// The `x-amz-tagging-count` of GET.
pub(super) fn tag_count(tags: &BTreeMap<String, String>) -> Option<i32> {
    (!tags.is_empty()).then_some(tags.len() as i32)
}

pub(super) async fn put_object_tagging<S: ObjectStore>(
    store: &S,
    input: PutObjectTaggingInput,
) -> S3Result<PutObjectTaggingOutput> {
    let tags = to_map(input.tagging.tag_set)?;
    let version_id = set_object_tags(
        store,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
        tags,
    )
    .await?;
    Ok(PutObjectTaggingOutput { version_id })
}

/// Replaces the tags of the current version (`version_id`, when given, must name it). Returns the
/// version id to answer with. A version with its own id keeps its tags: rewriting it would make a
/// new version, so that is refused (501) rather than done differently from S3.
pub(super) async fn set_object_tags<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: BTreeMap<String, String>,
) -> S3Result<Option<String>> {
    let meta = versioning::head(store, bucket, key, version_id)
        .await
        .map_err(to_s3)?;
    let shown = versioning::version_header(store, bucket, &meta).await;
    if version_id.is_some() {
        let current = store.head_object(bucket, key).await.map_err(to_s3)?;
        if current.version != meta.version {
            return Err(not_implemented("Changing the tags of a noncurrent version"));
        }
    }
    if meta.versioned {
        return Err(not_implemented(
            "Changing the tags of an object version in a versioning-enabled bucket",
        ));
    }
    if meta.attrs.tags == tags {
        return Ok(shown);
    }
    let mut attrs = meta.attrs;
    attrs.tags = tags;
    store
        .replace_attrs(bucket, key, attrs)
        .await
        .map_err(to_s3)?;
    Ok(shown)
}

pub(super) async fn get_object_tagging<S: ObjectStore>(
    store: &S,
    input: GetObjectTaggingInput,
) -> S3Result<GetObjectTaggingOutput> {
    let meta = versioning::head(
        store,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )
    .await
    .map_err(to_s3)?;
    Ok(GetObjectTaggingOutput {
        tag_set: to_set(&meta.attrs.tags),
        version_id: versioning::version_header(store, &input.bucket, &meta).await,
    })
}

pub(super) async fn put_bucket_tagging<S: ObjectStore>(
    store: &S,
    input: PutBucketTaggingInput,
) -> S3Result<()> {
    let mut tags = BTreeMap::new();
    for t in input.tagging.tag_set {
        let key = t.key.unwrap_or_default();
        if tags.insert(key, t.value.unwrap_or_default()).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    // Buckets take up to 50 tags; keys and values have the object limits.
    if tags.len() > 50 {
        return Err(s3_error!(
            InvalidTag,
            "Bucket tag count cannot be greater than 50"
        ));
    }
    let one: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &tags {
        let mut single = one.clone();
        single.insert(k.clone(), v.clone());
        check_tags(&single)?;
    }
    let doc = serde_json::to_vec(&tags).map_err(|e| s3_error!(InternalError, "{e}"))?;
    store
        .put_bucket_config(&input.bucket, BUCKET_DOC, Some(doc))
        .await
        .map_err(to_s3)
}

pub(super) async fn get_bucket_tagging<S: ObjectStore>(
    store: &S,
    bucket: &str,
) -> S3Result<GetBucketTaggingOutput> {
    let doc = store
        .get_bucket_config(bucket, BUCKET_DOC)
        .await
        .map_err(to_s3)?
        .ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
    let tags: BTreeMap<String, String> = serde_json::from_slice(&doc)
        .map_err(|_| s3_error!(InternalError, "the stored bucket tag set is damaged"))?;
    Ok(GetBucketTaggingOutput {
        tag_set: to_set(&tags),
    })
}

pub(super) async fn delete_bucket_tagging<S: ObjectStore>(store: &S, bucket: &str) -> S3Result<()> {
    store
        .put_bucket_config(bucket, BUCKET_DOC, None)
        .await
        .map_err(to_s3)
}
