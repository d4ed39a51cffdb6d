//! ListObjects (v1, rclone's default listing) and ListObjectsV2, as AWS answers them: both page
//! through the store's one ordered listing ([`ObjectStore::list_objects`]).

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::{etag, owner, ts};
use crate::http::error::to_s3;
use crate::store::{ListEntry, ListPage, ListQuery, ObjectStore};

/// The most keys one page holds, whatever `max-keys` asks for.
const MAX_KEYS: i32 = 1000;

/// Percent-encodes a key for `encoding-type=url` listings: everything but unreserved characters
/// and `/`, as S3 does (boto3 always asks for this and decodes the answer).
pub(super) fn url_encode(s: &str) -> String {
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

fn wants_url(e: &Option<EncodingType>) -> S3Result<bool> {
    match e {
        None => Ok(false),
        Some(e) if e.as_str() == EncodingType::URL => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

fn max_keys(m: Option<i32>) -> S3Result<i32> {
    let m = m.unwrap_or(MAX_KEYS);
    if m < 0 {
        return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
    }
    Ok(m)
}

/// An empty `delimiter=` is no delimiter, and is not echoed (AWS).
fn delimiter(d: Option<String>) -> Option<String> {
    d.filter(|d| !d.is_empty())
}

fn object(o: ListEntry, enc: &impl Fn(String) -> String, with_owner: bool) -> Object {
    Object {
        key: Some(enc(o.key)),
        size: Some(o.size as i64),
        e_tag: Some(etag(&o.etag)),
        last_modified: Some(ts(o.last_modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        owner: with_owner.then(owner),
        ..Default::default()
    }
}

fn prefixes(page: Vec<String>, enc: &impl Fn(String) -> String) -> Option<Vec<CommonPrefix>> {
    let list: Vec<CommonPrefix> = page
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(p)),
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The last key or common prefix of a page, in listing order: v1's `NextMarker`.
fn last_entry(page: &ListPage) -> Option<String> {
    let k = page.objects.last().map(|o| o.key.as_str());
    let p = page.common_prefixes.last().map(String::as_str);
    k.max(p).map(str::to_owned)
}

pub(super) async fn list_objects_v1<S: ObjectStore>(
    store: &S,
    input: ListObjectsInput,
) -> S3Result<ListObjectsOutput> {
    let url = wants_url(&input.encoding_type)?;
    let max = max_keys(input.max_keys)?;
    let delim = delimiter(input.delimiter);
    let marker = input.marker.filter(|m| !m.is_empty());
    let query = ListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: delim.clone(),
        start_after: marker.clone(),
        continuation: None,
        max_keys: max as usize,
    };
    let page = store
        .list_objects(&input.bucket, query)
        .await
        .map_err(to_s3)?;
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let truncated = page.next_continuation.is_some();
    // AWS names NextMarker only when a delimiter was given; without one the client continues
    // from the last key of the page.
    let next_marker = (truncated && delim.is_some())
        .then(|| last_entry(&page))
        .flatten()
        .map(enc);
    let contents: Vec<Object> = page
        .objects
        .into_iter()
        .map(|o| object(o, &enc, true))
        .collect();
    Ok(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(input.prefix.unwrap_or_default())),
        marker: Some(enc(marker.unwrap_or_default())),
        max_keys: Some(max.min(MAX_KEYS)),
        is_truncated: Some(truncated),
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: prefixes(page.common_prefixes, &enc),
        delimiter: delim.map(enc),
        next_marker,
        encoding_type: input.encoding_type,
        ..Default::default()
    })
}

pub(super) async fn list_objects_v2<S: ObjectStore>(
    store: &S,
    input: ListObjectsV2Input,
) -> S3Result<ListObjectsV2Output> {
    let url = wants_url(&input.encoding_type)?;
    let max = max_keys(input.max_keys)?;
    if input.continuation_token.as_deref() == Some("") {
        return Err(s3_error!(
            InvalidArgument,
            "The continuation token provided is incorrect"
        ));
    }
    let delim = delimiter(input.delimiter);
    let start_after = input.start_after.filter(|s| !s.is_empty());
    let query = ListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: delim.clone(),
        start_after: start_after.clone(),
        continuation: input.continuation_token.clone(),
        max_keys: max as usize,
    };
    let page = store
        .list_objects(&input.bucket, query)
        .await
        .map_err(to_s3)?;
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let with_owner = input.fetch_owner.unwrap_or(false);
    let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
    let contents: Vec<Object> = page
        .objects
        .into_iter()
        .map(|o| object(o, &enc, with_owner))
        .collect();
    Ok(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc(input.prefix.unwrap_or_default())),
        delimiter: delim.map(enc),
        max_keys: Some(max.min(MAX_KEYS)),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        start_after: start_after.map(enc),
        is_truncated: Some(page.next_continuation.is_some()),
        next_continuation_token: page.next_continuation,
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: prefixes(page.common_prefixes, &enc),
        encoding_type: input.encoding_type,
        ..Default::default()
    })
}
