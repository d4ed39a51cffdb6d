//! Requests adjusted or refused before `s3s` sees them, where `s3s` differs from AWS:
//! - SigV2 bucket requests: botocore (and s3cmd) sign a path-style bucket as `/bucket/` but send
//!   `/bucket`; AWS accepts that, so the path is given its slash before the signature check.
//! - Presigned SigV4 URLs valid for more than 7 days (`X-Amz-Expires` > 604800) are refused with
//!   `AuthorizationQueryParametersError`, as AWS refuses them.

use http::{HeaderMap, Request, StatusCode, Uri};
use s3s::{S3Error, S3ErrorCode};

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

#[cfg(test)]
mod tests;
