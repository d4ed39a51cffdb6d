//! Request tracing: every S3 request gets a W3C trace context, written into its log line as
//! `trace_id` and `span_id`; when an OTLP endpoint is configured (off by default), each request
//! also becomes one server span exported over OTLP/HTTP (protobuf) in batches.
//!
//! An incoming `traceparent` header (W3C Trace Context) is honoured: the request joins the
//! caller's trace, and its span is a child of the caller's span. Without one, a new trace starts.

use std::time::SystemTime;

use http::HeaderMap;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, SdkTracer, SdkTracerProvider};

/// Spans waiting for export beyond this many are dropped (and counted by the SDK), so a collector
/// that is down never grows memory without bound.
const MAX_QUEUED_SPANS: usize = 4096;
/// Spans per OTLP request.
const MAX_EXPORT_BATCH: usize = 512;
/// How long a finished span may wait before its batch is sent.
const EXPORT_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP trace exporter for {endpoint}: {reason}")]
pub struct TracesError {
    endpoint: String,
    reason: String,
}

/// The request tracer: ids always, spans only when exporting.
#[derive(Debug, Clone)]
pub struct Traces {
    export: Option<(SdkTracerProvider, SdkTracer)>,
}

impl Traces {
    /// Ids in log lines, nothing exported.
    pub fn disabled() -> Self {
        Traces { export: None }
    }

    /// Exports spans to `endpoint` (an OTLP/HTTP traces URL). Must run inside the Tokio runtime.
    pub fn otlp(endpoint: &http::Uri, node_id: &str) -> Result<Self, TracesError> {
        let fail = |reason: String| TracesError {
            endpoint: endpoint.to_string(),
            reason,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.to_string())
            .with_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(MAX_QUEUED_SPANS)
            .with_max_export_batch_size(MAX_EXPORT_BATCH)
            .with_scheduled_delay(EXPORT_DELAY)
            .build();
        let processor = BatchSpanProcessor::builder(exporter, Tokio)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name("storage-node")
            .with_attribute(KeyValue::new("service.instance.id", node_id.to_owned()))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(processor)
            .build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "storage-node");
        Ok(Traces {
            export: Some((provider, tracer)),
        })
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.export.is_some()
    }

    /// Starts the trace of one request named `op` (`PutObject`, ...).
    pub fn start(
        &self,
        op: &'static str,
        method: &http::Method,
        headers: &HeaderMap,
    ) -> RequestTrace {
        let parent = remote_parent(headers);
        match &self.export {
            Some((_, tracer)) => {
                let cx = match &parent {
                    Some(sc) => Context::new().with_remote_span_context(sc.clone()),
                    None => Context::new(),
                };
                let span = tracer
                    .span_builder(op)
                    .with_kind(SpanKind::Server)
                    .with_start_time(SystemTime::now())
                    .with_attributes([
                        KeyValue::new("http.request.method", method.as_str().to_owned()),
                        KeyValue::new("rpc.system", "aws-api"),
                        KeyValue::new("rpc.service", "S3"),
                        KeyValue::new("rpc.method", op.trim_start_matches("s3.")),
                    ])
                    .start_with_context(tracer, &cx);
                let sc = span.span_context().clone();
                RequestTrace {
                    trace_id: sc.trace_id(),
                    span_id: sc.span_id(),
                    span: Some(span),
                }
            }
            None => {
                let trace_id = parent
                    .as_ref()
                    .map_or_else(|| TraceId::from_bytes(rand::random()), |p| p.trace_id());
                RequestTrace {
                    trace_id,
                    span_id: SpanId::from_bytes(rand::random()),
                    span: None,
                }
            }
        }
    }

    /// Sends what is queued and stops the exporter. Blocks; call off the async threads.
    pub fn shutdown(&self) {
        if let Some((provider, _)) = &self.export
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "OTLP trace exporter shutdown");
        }
    }
}

/// The trace of one request: its ids for the log line and, when exporting, its span.
#[derive(Debug)]
pub struct RequestTrace {
    trace_id: TraceId,
    span_id: SpanId,
    span: Option<opentelemetry_sdk::trace::Span>,
}

impl RequestTrace {
    /// The trace id as 32 lowercase hex digits, as W3C and Loki's `trace_id` use it.
    pub fn trace_id(&self) -> String {
        self.trace_id.to_string()
    }

    /// The request's span id as 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        self.span_id.to_string()
    }

    /// Ends the span with the response's outcome.
    pub fn finish(
        &mut self,
        bucket: &str,
        status: u16,
        error_code: Option<&str>,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let Some(mut span) = self.span.take() else {
            return;
        };
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        span.set_attribute(KeyValue::new("aws.s3.bucket", bucket.to_owned()));
        span.set_attribute(KeyValue::new("http.request.body.size", bytes_in as i64));
        span.set_attribute(KeyValue::new("http.response.body.size", bytes_out as i64));
        if let Some(code) = error_code {
            span.set_attribute(KeyValue::new("aws.s3.error_code", code.to_owned()));
        }
        // Server spans are errors on 5xx only (OpenTelemetry's HTTP semantic conventions).
        if status >= 500 {
            span.set_status(Status::error(
                error_code.unwrap_or("server error").to_owned(),
            ));
        }
        span.end_with_timestamp(SystemTime::now());
    }
}

/// Parses a W3C `traceparent` header: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.
/// Anything malformed is ignored, as the spec asks, and the request starts a new trace.
pub fn remote_parent(headers: &HeaderMap) -> Option<SpanContext> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let mut parts = value.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !is_hex(version, 2)
        || version == "ff"
        || !is_hex(trace, 32)
        || !is_hex(span, 16)
        || !is_hex(flags, 2)
    {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags & 1),
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests;
