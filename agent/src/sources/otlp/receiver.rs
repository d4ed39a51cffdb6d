//! The OTLP/HTTP receiver: decode, convert, store, answer.
//!
//! Answers follow the OTLP/HTTP specification: 200 with an `ExportMetricsServiceResponse`
//! (carrying `partial_success.rejected_data_points` when some points were dropped), 400 for a
//! body that does not decode, 413 for one over the size bound, 415 for another content type;
//! error bodies are a `google.rpc.Status` in the request's encoding.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message as _;

use crate::pipeline::{BodyError, GroupKey, Mode, Origin, PipelineStore, Reply};

use super::config::OtlpConfig;
use super::convert::{Converted, convert};
use super::delta::DeltaState;
use super::error::OtlpError;

/// `google.rpc.Status`, the body of OTLP error responses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` (3 = INVALID_ARGUMENT, 8 = RESOURCE_EXHAUSTED).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The body encoding of a request (and its answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP's JSON mapping).
    Json,
}

impl Encoding {
    /// Reads a `Content-Type` header.
    pub fn from_content_type(ct: Option<&str>) -> Result<Encoding, OtlpError> {
        let media = ct
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(OtlpError::UnsupportedContentType(
                ct.unwrap_or_default().chars().take(100).collect(),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Decodes a request body.
pub fn decode(body: &[u8], enc: Encoding) -> Result<ExportMetricsServiceRequest, OtlpError> {
    Ok(match enc {
        Encoding::Protobuf => ExportMetricsServiceRequest::decode(body)?,
        Encoding::Json => serde_json::from_slice(body)?,
    })
}

/// The OTLP receiver.
#[derive(Debug)]
pub struct OtlpReceiver {
    store: Arc<PipelineStore>,
    delta: Mutex<DeltaState>,
    config: OtlpConfig,
}

impl OtlpReceiver {
    /// A receiver that stores into `store`.
    pub fn new(config: OtlpConfig, store: Arc<PipelineStore>) -> Self {
        OtlpReceiver {
            store,
            delta: Mutex::new(DeltaState::new(config.max_delta_series)),
            config,
        }
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.config.expire_secs)
    }

    /// Counts a request answered before it reached [`OtlpReceiver::handle`].
    pub fn count_request(&self, status: u16) {
        self.store.metrics().inc_otlp_request(status);
    }

    /// Forgets the running totals of delta series that stopped arriving.
    pub fn expire(&self, now: Instant) {
        let mut d = self.delta.lock().unwrap_or_else(|e| e.into_inner());
        d.expire(self.ttl(), now);
    }

    /// Converts and stores a decoded request; returns how many points were rejected and why.
    pub fn ingest(
        &self,
        req: &ExportMetricsServiceRequest,
        now: Instant,
    ) -> (usize, usize, String) {
        let converted: Converted = {
            let mut d = self.delta.lock().unwrap_or_else(|e| e.into_inner());
            convert(req, &mut d, self.config.max_datapoints_per_request, now)
        };
        let metrics = self.store.metrics();
        metrics.add_otlp_points(converted.points);
        let mut rejected = 0usize;
        let mut reasons: Vec<&'static str> = Vec::new();
        for (r, n) in &converted.rejected {
            metrics.add_dropped(Origin::Otlp, *r, *n);
            rejected += n;
            reasons.push(r.as_str());
        }
        let ttl = Some(self.ttl());
        for b in converted.batches {
            let key = GroupKey {
                origin: Origin::Otlp,
                labels: b.key,
            };
            match self
                .store
                .push(key, &b.job, b.families, Mode::Upsert, ttl, now)
            {
                Ok(o) => {
                    for r in o.dropped.keys() {
                        if !reasons.contains(&r.as_str()) {
                            reasons.push(r.as_str());
                        }
                    }
                    rejected += o.dropped_total();
                }
                Err((r, n)) => {
                    rejected += n;
                    reasons.push(r.as_str());
                }
            }
        }
        (converted.points, rejected, reasons.join(","))
    }

    /// Answers one `POST /v1/metrics`.
    pub fn handle(&self, content_type: Option<&str>, body: Result<Bytes, BodyError>) -> Reply {
        let reply = self.answer(content_type, body);
        self.count_request(reply.status);
        reply
    }

    fn answer(&self, content_type: Option<&str>, body: Result<Bytes, BodyError>) -> Reply {
        let enc = match Encoding::from_content_type(content_type) {
            Ok(e) => e,
            Err(e) => return Reply::text(e.status(), e.to_string()),
        };
        let req = match body.map_err(OtlpError::from).and_then(|b| decode(&b, enc)) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "refuse OTLP request");
                return error_reply(enc, &e);
            }
        };
        let (_points, rejected, reasons) = self.ingest(&req, Instant::now());
        let partial_success = (rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected as i64,
            error_message: format!("rejected {rejected} data points: {reasons}"),
        });
        let resp = ExportMetricsServiceResponse { partial_success };
        let body = match enc {
            Encoding::Protobuf => resp.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec()),
        };
        Reply {
            status: 200,
            content_type: enc.content_type(),
            body,
        }
    }
}

fn error_reply(enc: Encoding, e: &OtlpError) -> Reply {
    let status = e.status();
    let code = if status == 413 { 8 } else { 3 };
    let message: String = e.to_string().chars().take(512).collect();
    let body = match enc {
        Encoding::Protobuf => RpcStatus { code, message }.encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    Reply {
        status,
        content_type: enc.content_type(),
        body,
    }
}

impl crate::pipeline::PushReceiver for OtlpReceiver {
    fn wants_body(&self, method: &http::Method) -> bool {
        method == http::Method::POST
    }

    fn handle(
        &self,
        method: &http::Method,
        _path: &str,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Reply {
        if method != http::Method::POST {
            self.count_request(405);
            return Reply::text(405, "use POST");
        }
        OtlpReceiver::handle(self, content_type, body)
    }

    fn expire(&self, now: Instant) {
        OtlpReceiver::expire(self, now);
    }
}
