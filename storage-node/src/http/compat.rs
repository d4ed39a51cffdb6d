//! Requests adjusted or refused before `s3s` sees them, where `s3s` differs from AWS:
//! - SigV2 bucket requests: botocore (and s3cmd) sign a path-style bucket as `/bucket/` but send
//!   `/bucket`; AWS accepts that, so the path is given its slash before the signature check.
//! - Presigned SigV4 URLs valid for more than 7 days (`X-Amz-Expires` > 604800) are refused with
//!   `AuthorizationQueryParametersError`, as AWS refuses them.
//! - A PUT/POST sent with `Transfer-Encoding: chunked` and no `Content-Length` (not aws-chunked):
//!   `s3s` needs the length to check the payload hash, so the body is read first, as RGW and MinIO
//!   accept it; bounded per request ([`MAX_UNSIZED_BODY`]) and node-wide ([`UNSIZED_BUDGET`]).

use std::sync::LazyLock;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use s3s::{S3Error, S3ErrorCode, s3_error};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest body without a Content-Length that is read before the request is served.
pub const MAX_UNSIZED_BODY: usize = 64 << 20;
/// Bytes of such bodies held at once by the whole node; more waits, never over-allocates.
pub const UNSIZED_BUDGET: usize = 256 << 20;
const BUDGET_UNIT: usize = 1 << 20;

static BUDGET: LazyLock<std::sync::Arc<Semaphore>> =
    LazyLock::new(|| std::sync::Arc::new(Semaphore::new(UNSIZED_BUDGET / BUDGET_UNIT)));

/// The longest validity AWS accepts for a presigned URL, in seconds.
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

fn is_sig_v2(headers: &HeaderMap, query: &str) -> bool {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS "));
    header || query.split('&').any(|kv| kv.starts_with("AWSAccessKeyId="))
}

/// `/bucket` as `/bucket/`, with the query kept.
fn with_bucket_slash(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let name = path.strip_prefix('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let pq = match uri.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    Uri::from_parts(parts).ok()
}

fn presign_expires_error(query: &str) -> Option<S3Error> {
    let value = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("X-Amz-Expires="))?;
    match value.parse::<u64>() {
        Ok(n) if n <= MAX_PRESIGNED_EXPIRES => None,
        Ok(_) => Some(auth_query_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )),
        Err(_) => Some(auth_query_error("X-Amz-Expires should be a number")),
    }
}

fn auth_query_error(msg: &'static str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::AuthorizationQueryParametersError, msg);
    e.set_status_code(StatusCode::BAD_REQUEST);
    e
}

/// Adjusts `req` in place, or returns the error to answer instead.
pub fn prepare<B>(req: &mut Request<B>) -> Result<(), S3Error> {
    let query = req.uri().query().unwrap_or("").to_owned();
    if let Some(e) = presign_expires_error(&query) {
        return Err(e);
    }
    if is_sig_v2(req.headers(), &query)
        && let Some(uri) = with_bucket_slash(req.uri())
    {
        *req.uri_mut() = uri;
    }
    Ok(())
}

/// Whether a request body has no length `s3s` can use.
fn unsized_body(method: &Method, h: &HeaderMap) -> bool {
    let chunked = h
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let streaming = h
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    matches!(*method, Method::PUT | Method::POST)
        && chunked
        && !streaming
        && !h.contains_key(http::header::CONTENT_LENGTH)
}

/// The request with a body `s3s` can serve: as it came, or, for a chunked body without a length,
/// read into memory (within the bounds) with its Content-Length set. The permit holds the body's
/// share of the node-wide budget until the request is done.
pub async fn sized<B>(
    req: Request<B>,
) -> Result<(Request<s3s::Body>, Option<OwnedSemaphorePermit>), S3Error>
where
    B: http_body::Body<Data = bytes::Bytes> + Into<s3s::Body> + Unpin,
    B::Error: std::fmt::Display,
{
    if !unsized_body(req.method(), req.headers()) {
        return Ok((req.map(Into::into), None));
    }
    let (mut parts, mut body) = req.into_parts();
    let mut buf = BytesMut::new();
    let mut permit: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            s3_error!(
                IncompleteBody,
                "the request body could not be read completely: {e}"
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > MAX_UNSIZED_BODY {
            return Err(s3_error!(
                EntityTooLarge,
                "a body without Content-Length may be at most {MAX_UNSIZED_BODY} bytes"
            ));
        }
        let need = (buf.len() + data.len()).div_ceil(BUDGET_UNIT) as u32;
        let held = permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits) as u32;
        if need > held {
            let more = BUDGET
                .clone()
                .acquire_many_owned(need - held)
                .await
                .map_err(|_| s3_error!(ServiceUnavailable))?;
            match permit.as_mut() {
                Some(p) => p.merge(more),
                None => permit = Some(more),
            }
        }
        buf.extend_from_slice(&data);
    }
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(buf.len()));
    Ok((
        Request::from_parts(parts, s3s::Body::from(buf.freeze())),
        permit,
    ))
}

#[cfg(test)]
mod tests;
