//! [`WithCors`]: CORS for browsers, in front of the S3 service. An `OPTIONS` preflight is answered
//! from the bucket's `?cors` rules (`http::s3::cors`) as S3 answers it: 200 with the
//! `Access-Control-Allow-*` headers when a rule allows the origin, method and headers, 403
//! `AccessForbidden` otherwise. A request carrying `Origin` gets `Access-Control-Allow-Origin` (and
//! the rule's exposed headers) on its response when a rule allows it.

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use super::s3::cors::{Allowed, preflight, rules};
use crate::store::{ObjectStore, StoreError};

/// The S3 service plus CORS.
#[derive(Debug, Clone)]
pub struct WithCors<S, T> {
    inner: S,
    store: T,
}

impl<S, T> WithCors<S, T> {
    pub fn new(inner: S, store: T) -> Self {
        WithCors { inner, store }
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn bucket_of(path: &str) -> Option<String> {
    let b = path.trim_start_matches('/').split('/').next()?;
    (!b.is_empty()).then(|| b.to_owned())
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn allow_headers(h: &mut HeaderMap, a: &Allowed) {
    set(h, "access-control-allow-origin", &a.origin);
    set(h, "access-control-allow-methods", &a.methods);
    if let Some(x) = &a.expose {
        set(h, "access-control-expose-headers", x);
    }
    set(
        h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

async fn answer_preflight<T: ObjectStore>(
    store: &T,
    path: &str,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let forbidden = |msg: &str| error(StatusCode::FORBIDDEN, "AccessForbidden", msg);
    let (Some(origin), Some(method)) = (
        header(headers, "origin"),
        header(headers, "access-control-request-method"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let Some(bucket) = bucket_of(path) else {
        return forbidden("CORSResponse: Bucket not found");
    };
    let requested: Vec<String> = header(headers, "access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .take(64)
                .collect()
        })
        .unwrap_or_default();
    match rules(store, &bucket).await {
        Ok(Some(rules)) => match preflight(&rules, &origin, &method, &requested) {
            Some(a) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                let h = r.headers_mut();
                allow_headers(h, &a);
                if let Some(x) = &a.headers {
                    set(h, "access-control-allow-headers", x);
                }
                if let Some(age) = a.max_age {
                    set(h, "access-control-max-age", &age.to_string());
                }
                r
            }
            None => forbidden(
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            ),
        },
        Ok(None) => forbidden("CORSResponse: CORS is not enabled for this bucket."),
        Err(StoreError::NoSuchBucket(_)) => forbidden("CORSResponse: Bucket not found"),
        Err(e) => {
            tracing::warn!(error = %e, "read CORS rules for a preflight");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

impl<S, B, T> hyper::service::Service<Request<Incoming>> for WithCors<S, T>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    T: ObjectStore + Clone,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let store = self.store.clone();
        if req.method() == Method::OPTIONS {
            let path = req.uri().path().to_owned();
            let headers = req.headers().clone();
            return Box::pin(async move {
                Ok(answer_preflight(&store, &path, &headers)
                    .await
                    .map(Either::Right))
            });
        }
        let origin = header(req.headers(), "origin");
        let method = req.method().as_str().to_owned();
        let bucket = bucket_of(req.uri().path());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if let (Some(origin), Some(bucket)) = (origin, bucket)
                && let Ok(Some(rules)) = rules(&store, &bucket).await
                && let Some(a) = preflight(&rules, &origin, &method, &[])
            {
                allow_headers(resp.headers_mut(), &a);
            }
            Ok(resp.map(Either::Left))
        })
    }
}
