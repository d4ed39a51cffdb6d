//! The layer in front of the S3 service: it names the op, registers it as in flight, gives it a
//! request id and a trace context (`crate::traces`), and when the response body has been fully sent (or dropped) records the op latency,
//! bytes, error code and one JSON log line. Measuring to the end of the body matches Ceph's op
//! latency, which ends when the op completes, not when its first byte leaves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use s3s::S3ErrorCode;
use s3s::service::S3Service;

use super::error::STORAGE_FULL_CODE;
use crate::metrics::{Metrics, Op, Outcome};
use crate::ops::{OpGuard, OpTracker};
use crate::traces::{RequestTrace, Traces};

/// An error body larger than this is passed through without reading its code.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Names the op of a path-style S3 request from its method, path and query.
pub fn classify(method: &Method, uri: &Uri) -> Op {
    let path = uri.path().trim_start_matches('/');
    let query = uri.query().unwrap_or("");
    let has = |name: &str| {
        query.split('&').any(|kv| {
            kv.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
        })
    };
    let is_object = path.split_once('/').is_some_and(|(_, key)| !key.is_empty());
    if has("uploads") || has("uploadId") {
        return Op::Multipart;
    }
    match *method {
        Method::GET if is_object => Op::Get,
        Method::GET => Op::List,
        Method::HEAD => Op::Head,
        Method::PUT => Op::Put,
        Method::DELETE => Op::Delete,
        Method::POST if has("delete") => Op::Delete,
        Method::POST => Op::Put,
        _ => Op::Get,
    }
}

/// The error code in an S3 XML error body, mapped to a bounded label value.
pub fn error_code_label(body: &[u8]) -> String {
    let Some(start) = memfind(body, b"<Code>").map(|i| i + 6) else {
        return "Unknown".to_owned();
    };
    let Some(len) = memfind(&body[start..], b"</Code>") else {
        return "Unknown".to_owned();
    };
    let code = &body[start..start + len];
    if code == STORAGE_FULL_CODE.as_bytes() {
        return STORAGE_FULL_CODE.to_owned();
    }
    match S3ErrorCode::from_bytes(code) {
        // Custom codes are whatever text a body held: not a bounded label value.
        Some(S3ErrorCode::Custom(_)) | None => "Other".to_owned(),
        Some(c) => c.as_str().to_owned(),
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Wraps the `s3s` service.
#[derive(Debug, Clone)]
pub struct Metered {
    inner: S3Service,
    metrics: Arc<Metrics>,
    tracker: Arc<OpTracker>,
    traces: Traces,
}

impl Metered {
    pub fn new(
        inner: S3Service,
        metrics: Arc<Metrics>,
        tracker: Arc<OpTracker>,
        traces: Traces,
    ) -> Self {
        Metered {
            inner,
            metrics,
            tracker,
            traces,
        }
    }
}

/// What is logged and recorded when a response ends.
#[derive(Debug)]
struct Completion {
    guard: OpGuard,
    metrics: Arc<Metrics>,
    op: Op,
    method: Method,
    bucket: String,
    status: u16,
    bytes_in: u64,
    request_id: String,
    error_code: Option<String>,
    trace: RequestTrace,
}

impl Completion {
    fn finish(mut self, bytes_out: u64, body_failed: bool) {
        let secs = self.guard.elapsed().as_secs_f64();
        let outcome = if body_failed {
            Outcome::ServerError
        } else {
            Outcome::from_status(self.status)
        };
        self.metrics.observe_op(self.op, outcome, secs);
        if self.op == Op::Get && self.status < 300 {
            self.metrics.add_read_bytes(bytes_out);
        }
        if let Some(code) = &self.error_code {
            self.metrics.request_error(code);
        }
        tracing::info!(
            target: "storage_node::request",
            op = self.op.as_str(),
            method = %self.method,
            bucket = %self.bucket,
            status = self.status,
            error_code = self.error_code.as_deref(),
            bytes_in = self.bytes_in,
            bytes_out,
            latency_ms = secs * 1000.0,
            request_id = %self.request_id,
            trace_id = %self.trace.trace_id(),
            span_id = %self.trace.span_id(),
            body_failed,
            "request"
        );
        let status = if body_failed {
            self.status.max(500)
        } else {
            self.status
        };
        self.trace.finish(
            &self.bucket,
            status,
            self.error_code.as_deref(),
            self.bytes_in,
            bytes_out,
        );
        drop(self.guard);
    }
}

/// A response body that reports its completion exactly once: at its end, on error, or on drop.
pub struct MeteredBody {
    inner: s3s::Body,
    sent: u64,
    /// The Content-Length, when known: hyper stops polling once that many bytes went out.
    expected: Option<u64>,
    done: Option<Completion>,
}

impl std::fmt::Debug for MeteredBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredBody")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl MeteredBody {
    fn complete(&mut self, failed: bool) {
        if let Some(c) = self.done.take() {
            c.finish(self.sent, failed);
        }
    }
}

impl HttpBody for MeteredBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.complete(false);
                }
            }
            Poll::Ready(Some(Err(_))) => this.complete(true),
            Poll::Ready(None) => this.complete(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        // Dropped before its end means the client went away, unless every promised byte was sent.
        let failed = match self.expected {
            Some(n) => self.sent < n,
            None => !self.inner.is_end_stream(),
        };
        self.complete(failed);
    }
}

fn bucket_of(uri: &Uri) -> String {
    let path = uri.path().trim_start_matches('/');
    let b = path.split('/').next().unwrap_or("");
    match b.char_indices().nth(63) {
        Some((end, _)) => b[..end].to_owned(),
        None => b.to_owned(),
    }
}

fn declared_len(req: &Request<Incoming>) -> u64 {
    let h = req.headers();
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    get("x-amz-decoded-content-length")
        .or_else(|| get("content-length"))
        .unwrap_or(0)
}

impl hyper::service::Service<Request<Incoming>> for Metered {
    type Response = Response<MeteredBody>;
    type Error = s3s::HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let op = classify(req.method(), req.uri());
        // A v4 UUID from the thread's CSPRNG: `Uuid::new_v4` asks the kernel (getrandom) each time.
        let request_id = uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .simple()
            .to_string();
        let guard = self.tracker.start(op, request_id.clone());
        let method = req.method().clone();
        let trace = self.traces.start(op.span_name(), &method, req.headers());
        let bucket = bucket_of(req.uri());
        let bytes_in = declared_len(&req);
        let metrics = self.metrics.clone();
        let inner = self.inner.clone();
        let fut: BoxFuture<'static, Result<Response<s3s::Body>, s3s::HttpError>> =
            match super::compat::prepare(&mut req) {
                Ok(()) => Box::pin(async move {
                    match super::compat::sized(req).await {
                        Ok((req, _budget)) => inner.call(req).await,
                        Err(e) => e
                            .to_http_response()
                            .map_err(|e| s3s::HttpError::new(Box::new(e))),
                    }
                }),
                Err(e) => Box::pin(async move {
                    e.to_http_response()
                        .map_err(|e| s3s::HttpError::new(Box::new(e)))
                }),
            };
        Box::pin(async move {
            if let Some(d) = crate::fault::disk_delay() {
                tokio::time::sleep(d).await;
            }
            let resp = fut.await?;
            let (mut parts, body) = resp.into_parts();
            let status = parts.status.as_u16();
            if let Ok(v) = http::HeaderValue::from_str(&request_id) {
                parts.headers.insert("x-amz-request-id", v);
            }
            // A refused upload may leave its body unread, and hyper then closes the connection:
            // say so, so that clients do not reuse it and fail their next request.
            if status >= 400 && matches!(method, Method::PUT | Method::POST) {
                parts.headers.insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            let (body, error_code) = if status >= 400
                && body
                    .size_hint()
                    .upper()
                    .is_some_and(|n| n as usize <= MAX_ERROR_BODY)
            {
                match http_body_util::BodyExt::collect(body).await {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        let code = error_code_label(&bytes);
                        (s3s::Body::from(bytes), Some(code))
                    }
                    Err(_) => (s3s::Body::empty(), Some("Unknown".to_owned())),
                }
            } else if status >= 400 {
                (body, Some("Unknown".to_owned()))
            } else {
                (body, None)
            };
            let is_head = method == Method::HEAD;
            let completion = Completion {
                guard,
                metrics,
                op,
                method,
                bucket,
                status,
                bytes_in,
                request_id,
                error_code,
                trace,
            };
            let expected = if is_head {
                None
            } else {
                parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .or_else(|| body.size_hint().exact())
            };
            let mut body = MeteredBody {
                inner: body,
                sent: 0,
                expected,
                done: Some(completion),
            };
            if body.inner.is_end_stream() {
                body.complete(false);
            }
            Ok(Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests;
