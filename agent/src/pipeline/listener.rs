//! The push listener (default 127.0.0.1:4318): reads bounded request bodies (gzip included) and
//! routes `/v1/metrics` to the OTLP receiver and `/metrics/job/...` to the Pushgateway receiver.
//!
//! Connections are bounded by a semaphore, headers and bodies by timeouts, bodies by
//! `pipeline.max_body_bytes` before and after decompression (a gzip bomb stops at the bound).
//! The receivers' work (decode, convert, store) runs on a blocking thread.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::route::PushRoute;

use super::store::PipelineStore;

/// What went wrong reading a request body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over `max_body_bytes`, before or after decompression.
    #[error("request body is over the limit of {0} bytes")]
    TooLarge(usize),
    /// The client did not send the whole body in time.
    #[error("request body not received within the timeout")]
    Timeout,
    /// The connection failed while reading.
    #[error("read request body: {0}")]
    Read(String),
    /// `Content-Encoding: gzip` with a body that is not gzip.
    #[error("decompress gzip request body: {0}")]
    BadGzip(String),
    /// A `Content-Encoding` other than gzip or identity.
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
}

impl BodyError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge(_) => 413,
            BodyError::Timeout => 408,
            BodyError::Read(_) | BodyError::BadGzip(_) => 400,
            BodyError::UnsupportedEncoding(_) => 415,
        }
    }
}

/// A receiver's answer, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A plain-text reply.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
        }
    }
}

/// What the listener's handlers share.
#[derive(Debug)]
pub struct PipelineState {
    /// The pushed series.
    pub store: Arc<PipelineStore>,
    /// The push sources' routes.
    pub routes: Vec<PushRoute>,
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send its headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send its body.
    pub body_read_timeout: Duration,
    /// The largest body, before and after decompression.
    pub max_body_bytes: usize,
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<PipelineState>,
    shutdown: watch::Receiver<bool>,
) {
    let limits = crate::http_server::Limits {
        max_connections: state.max_connections,
        header_read_timeout: state.header_read_timeout,
    };
    crate::http_server::serve(listener, limits, "pipeline", shutdown, move |req| {
        let state = Arc::clone(&state);
        async move { into_response(handle(req, state).await) }
    })
    .await;
}

fn into_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(reply.content_type),
    );
    r
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(req: Request<Incoming>, state: Arc<PipelineState>) -> Reply {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/healthz" {
        return Reply::text(200, "ok");
    }
    let content_type = header_str(&req, header::CONTENT_TYPE);
    if let Some(route) = state.routes.iter().find(|r| r.path.matches(&path)) {
        let Some(receiver) = route.receiver.clone() else {
            return Reply::text(404, format!("{} receiver is disabled", route.name));
        };
        let body = if receiver.wants_body(&method) {
            read_body(req, state.max_body_bytes, state.body_read_timeout).await
        } else {
            Ok(Bytes::new())
        };
        return blocking(move || receiver.handle(&method, &path, content_type.as_deref(), body))
            .await;
    }
    Reply::text(404, "not found")
}

async fn blocking(f: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "push handler failed");
            Reply::text(500, "internal error")
        }
    }
}

/// Reads a body of at most `max` bytes within `timeout`, decompressing gzip (also bounded).
pub async fn read_body(
    req: Request<Incoming>,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let encoding = header_str(&req, header::CONTENT_ENCODING);
    let limited = Limited::new(req.into_body(), max);
    let collected = tokio::time::timeout(timeout, limited.collect())
        .await
        .map_err(|_| BodyError::Timeout)?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                BodyError::TooLarge(max)
            } else {
                BodyError::Read(e.to_string())
            }
        })?;
    decode_body(collected.to_bytes(), encoding.as_deref(), max)
}

/// Applies `Content-Encoding` to a raw body, stopping at `max` decompressed bytes.
pub fn decode_body(raw: Bytes, encoding: Option<&str>, max: usize) -> Result<Bytes, BodyError> {
    match encoding.map(str::trim) {
        None | Some("") => Ok(raw),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(raw),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max));
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BodyError::BadGzip(e.to_string()))?;
            if out.len() > max {
                return Err(BodyError::TooLarge(max));
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(BodyError::UnsupportedEncoding(
            other.chars().take(64).collect(),
        )),
    }
}
