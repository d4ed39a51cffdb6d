//! Conditional requests as S3 evaluates them (RFC 7232 precedence):
//! `If-Match` decides alone when present, else `If-Unmodified-Since`; then `If-None-Match` decides
//! alone when present, else `If-Modified-Since`. GET and HEAD answer 412 or 304; a copy source
//! (`x-amz-copy-source-if-*`) answers 412 for both. PUT's `If-None-Match: *` and `If-Match` become
//! a [`WriteCondition`] that the store checks atomically with the write.

use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::{ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::store::{ObjectMeta, StoreError, WriteCondition};

/// The request's preconditions.
#[derive(Debug, Default)]
pub(super) struct Preconditions {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
    pub if_modified_since: Option<Timestamp>,
    pub if_unmodified_since: Option<Timestamp>,
}

/// What the preconditions say about an object.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Proceed,
    NotModified,
    Failed,
}

fn matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value().trim_matches('"') == etag,
    }
}

/// Whole seconds since the epoch: HTTP dates have no finer resolution.
fn secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

impl Preconditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    pub fn evaluate(&self, etag: &str, last_modified_ms: u64) -> Verdict {
        let modified = (last_modified_ms / 1000) as i64;
        match (&self.if_match, &self.if_unmodified_since) {
            (Some(m), _) if !matches(m, etag) => return Verdict::Failed,
            (None, Some(t)) if modified > secs(t) => return Verdict::Failed,
            _ => {}
        }
        match (&self.if_none_match, &self.if_modified_since) {
            (Some(m), _) if matches(m, etag) => Verdict::NotModified,
            (None, Some(t)) if modified <= secs(t) => Verdict::NotModified,
            _ => Verdict::Proceed,
        }
    }

    /// GET and HEAD: 304 Not Modified (with the object's ETag and Last-Modified, no body) or
    /// 412 Precondition Failed.
    pub fn check_read(&self, meta: &ObjectMeta) -> S3Result<()> {
        match self.evaluate(&meta.etag, meta.last_modified_ms) {
            Verdict::Proceed => Ok(()),
            Verdict::Failed => Err(precondition_failed()),
            Verdict::NotModified => {
                let mut e = S3Error::with_message(S3ErrorCode::NotModified, "Not Modified");
                e.set_status_code(StatusCode::NOT_MODIFIED);
                let mut headers = HeaderMap::new();
                if let Ok(v) = HeaderValue::try_from(format!("\"{}\"", meta.etag)) {
                    headers.insert(http::header::ETAG, v);
                }
                if let Some(v) = http_date(meta.last_modified_ms) {
                    headers.insert(http::header::LAST_MODIFIED, v);
                }
                e.set_headers(headers);
                Err(e)
            }
        }
    }

    /// A copy source: every failed precondition is 412.
    pub fn check_copy_source(&self, meta: &ObjectMeta) -> Result<(), StoreError> {
        match self.evaluate(&meta.etag, meta.last_modified_ms) {
            Verdict::Proceed => Ok(()),
            Verdict::Failed | Verdict::NotModified => Err(StoreError::PreconditionFailed),
        }
    }
}

fn http_date(ms: u64) -> Option<HeaderValue> {
    let t = super::ts(ms);
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    HeaderValue::from_bytes(&buf).ok()
}

pub(super) fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// PUT's `If-None-Match` (only `*`, as S3) and `If-Match`.
pub(super) fn write_condition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::Always),
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
        (Some(ETagCondition::ETag(e)), None) => Ok(WriteCondition::IfEtag(
            e.value().trim_matches('"').to_owned(),
        )),
        // `If-Match: *`: any live object.
        (Some(ETagCondition::Any), None) => Ok(WriteCondition::IfAny),
    }
}

#[cfg(test)]
mod tests;
