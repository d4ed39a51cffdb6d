//! The receiver's state and HTTP handling.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use prost::Message as _;
use serde::Serialize;

use super::answer;
use super::labels::{self, LabelLimits};
use super::proto;

/// What the receiver accepts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `max_line_size` (Loki: 256 KiB).
    pub max_line_bytes: usize,
    /// The most bytes of a (decompressed) push body.
    pub max_batch_bytes: usize,
    /// Refuse an entry older than the newest one accepted in its stream.
    pub reject_out_of_order: bool,
    /// `reject_old_samples_max_age`: refuse an entry older than this (Loki: 7 days when
    /// `reject_old_samples` is on); `None`: accept any age.
    pub reject_old_samples_max_age: Option<Duration>,
    /// `creation_grace_period`: refuse an entry newer than now plus this; `None`: accept any.
    pub creation_grace_period: Option<Duration>,
    /// Label limits.
    pub labels: LabelLimits,
    /// The most entries kept for `/control/entries`.
    pub keep_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 256 * 1024,
            max_batch_bytes: 16 * 1024 * 1024,
            reject_out_of_order: false,
            reject_old_samples_max_age: None,
            creation_grace_period: None,
            labels: LabelLimits::default(),
            keep_max: 100_000,
        }
    }
}

/// One accepted entry.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// The stream's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Nanoseconds since the epoch, as a string (like Loki's JSON).
    pub ts: String,
    /// The line.
    pub line: String,
    /// Structured metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// When the receiver accepted it (nanoseconds since the epoch).
    pub received: u128,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    requests: u64,
    failed_requests: u64,
    bad_requests: u64,
    accepted_entries: u64,
    accepted_bytes: u64,
    rejected_entries: u64,
    rejected_reasons: std::collections::BTreeMap<String, u64>,
    streams: u64,
    protobuf_requests: u64,
    json_requests: u64,
    tenants: std::collections::BTreeMap<String, u64>,
    authorization: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Failing {
    status: u16,
    until: Option<Instant>,
    count: Option<u64>,
    retry_after: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    stats: Stats,
    last_ts: HashMap<String, (i64, String)>,
    kept: Vec<Accepted>,
    failing: Option<Failing>,
}

/// The receiver.
#[derive(Debug)]
pub struct Receiver {
    limits: Limits,
    state: Mutex<State>,
    record: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
}

type Resp = Response<Full<Bytes>>;

fn text(status: u16, body: impl Into<String>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

fn json(v: &impl Serialize) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(v).unwrap_or_default(),
    )));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One decoded entry: time, line, structured metadata.
type InEntry = (i64, String, Vec<(String, String)>);

/// One stream of a decoded push.
struct InStream {
    labels: Result<Vec<(String, String)>, String>,
    entries: Vec<InEntry>,
}

impl Receiver {
    /// A receiver; `record` is appended one JSON line per accepted entry.
    pub fn new(limits: Limits, record: Option<std::fs::File>) -> Self {
        Receiver {
            limits,
            state: Mutex::new(State::default()),
            record: record.map(|f| Mutex::new(std::io::BufWriter::new(f))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes one request.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Resp, std::convert::Infallible> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        Ok(match (method.as_str(), path.as_str()) {
            ("POST", "/loki/api/v1/push") => self.push(req).await,
            ("POST", "/control/fail") => {
                let q = query(&req);
                let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(500);
                self.lock().failing = Some(Failing {
                    status,
                    until: q
                        .get("seconds")
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(|s| Instant::now() + Duration::from_secs_f64(s)),
                    count: q.get("count").and_then(|s| s.parse().ok()),
                    retry_after: q.get("retry_after").and_then(|s| s.parse().ok()),
                });
                text(200, "ok")
            }
            ("POST", "/control/ok") => {
                self.lock().failing = None;
                text(200, "ok")
            }
            ("GET", "/control/stats") => {
                let g = self.lock();
                json(&g.stats)
            }
            ("GET", "/control/entries") => {
                let g = self.lock();
                json(&g.kept)
            }
            ("GET", "/ready") => text(200, "ready"),
            _ => text(404, "not found"),
        })
    }

    fn failure(&self) -> Option<Resp> {
        let mut g = self.lock();
        g.stats.requests += 1;
        let f = g.failing.as_mut()?;
        if f.until.is_some_and(|u| Instant::now() >= u) || f.count == Some(0) {
            g.failing = None;
            return None;
        }
        if let Some(c) = &mut f.count {
            *c -= 1;
        }
        let mut r = text(
            f.status,
            format!("test-loki: failing with {} on request", f.status),
        );
        if let Some(ra) = f.retry_after
            && let Ok(v) = hyper::header::HeaderValue::from_str(&ra.to_string())
        {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
        g.stats.failed_requests += 1;
        Some(r)
    }

    async fn push(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        if let Some(r) = self.failure() {
            return r;
        }
        let headers = req.headers().clone();
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let ctype = header("content-type");
        let cenc = header("content-encoding");
        let tenant = header("x-scope-orgid");
        let auth = header("authorization");
        let max = self.limits.max_batch_bytes;
        let body = match Limited::new(req.into_body(), max + 1).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return self.bad(413, "request body too large"),
        };
        let decoded = if ctype.starts_with("application/x-protobuf") {
            self.lock().stats.protobuf_requests += 1;
            decode_protobuf(&body, max)
        } else if ctype.starts_with("application/json") {
            self.lock().stats.json_requests += 1;
            decode_json(&body, &cenc, max)
        } else {
            Err((415, format!("unsupported content type {ctype:?}")))
        };
        let streams = match decoded {
            Ok(s) => s,
            Err((code, msg)) => return self.bad(code, &msg),
        };
        // What the distributor refuses (validation), and the ingester's refusal: the last
        // stream with entries out of order (see `answer.rs`).
        let mut errors: Vec<String> = Vec::new();
        let mut ingester_error: Option<String> = None;
        let mut accepted = Vec::new();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let now = i64::try_from(now_ns).unwrap_or(i64::MAX);
        let oldest = self
            .limits
            .reject_old_samples_max_age
            .map(|a| now.saturating_sub(i64::try_from(a.as_nanos()).unwrap_or(i64::MAX)));
        let newest = self
            .limits
            .creation_grace_period
            .map(|g| now.saturating_add(i64::try_from(g.as_nanos()).unwrap_or(i64::MAX)));
        {
            let mut g = self.lock();
            *g.stats.tenants.entry(tenant.clone()).or_insert(0) += 1;
            *g.stats.authorization.entry(auth).or_insert(0) += 1;
            for s in streams {
                let pairs = match s
                    .labels
                    .and_then(|p| labels::validate(&p, &self.limits.labels).map(|_| p))
                {
                    Ok(p) => p,
                    Err(e) => {
                        g.stats.rejected_entries += s.entries.len() as u64;
                        *g.stats.rejected_reasons.entry("labels".into()).or_insert(0) +=
                            s.entries.len() as u64;
                        errors.push(e);
                        continue;
                    }
                };
                let mut sorted = pairs.clone();
                sorted.sort();
                let key = format!("{sorted:?}");
                let stream = answer::labels_string(&pairs);
                // The distributor: entry validation.
                let mut valid = Vec::with_capacity(s.entries.len());
                for (ts, line, md) in s.entries {
                    let refused = if line.len() > self.limits.max_line_bytes {
                        Some((
                            "line_too_long",
                            answer::line_too_long(&stream, self.limits.max_line_bytes, line.len()),
                        ))
                    } else if let Some(o) = oldest.filter(|o| ts < *o) {
                        Some((
                            "greater_than_max_sample_age",
                            answer::too_old(&stream, ts, o),
                        ))
                    } else if newest.is_some_and(|n| ts > n) {
                        Some(("too_far_in_future", answer::too_new(&stream, ts)))
                    } else {
                        md.iter().find(|(n, _)| !labels::valid_name(n)).map(|bad| {
                            (
                                "metadata",
                                format!("invalid structured metadata name {:?}", bad.0),
                            )
                        })
                    };
                    match refused {
                        Some((r, msg)) => {
                            g.stats.rejected_entries += 1;
                            *g.stats.rejected_reasons.entry(r.into()).or_insert(0) += 1;
                            errors.push(msg);
                        }
                        None => valid.push((ts, line, md)),
                    }
                }
                // The ingester: order within the stream, exact repeats.
                let total = valid.len();
                let mut out_of_order: Vec<(i64, String)> = Vec::new();
                for (ts, line, md) in valid {
                    match g.last_ts.get(&key) {
                        // Loki drops an exact repeat silently.
                        Some((last, last_line)) if *last == ts && *last_line == line => continue,
                        Some((last, _)) if self.limits.reject_out_of_order && ts < *last => {
                            g.stats.rejected_entries += 1;
                            *g.stats
                                .rejected_reasons
                                .entry("out_of_order".into())
                                .or_insert(0) += 1;
                            out_of_order.push((ts, "entry out of order".into()));
                            continue;
                        }
                        _ => {}
                    }
                    let newest = g.last_ts.get(&key).is_none_or(|(l, _)| ts >= *l);
                    if newest {
                        if !g.last_ts.contains_key(&key) {
                            g.stats.streams += 1;
                        }
                        g.last_ts.insert(key.clone(), (ts, line.clone()));
                    }
                    g.stats.accepted_entries += 1;
                    g.stats.accepted_bytes += line.len() as u64;
                    accepted.push(Accepted {
                        labels: pairs.iter().cloned().collect(),
                        ts: ts.to_string(),
                        line,
                        metadata: md.into_iter().collect(),
                        received: now_ns,
                    });
                }
                if !out_of_order.is_empty() {
                    ingester_error = Some(answer::ingester_refused(
                        &tenant,
                        &stream,
                        &out_of_order,
                        total,
                    ));
                }
            }
            let room = self.limits.keep_max.saturating_sub(g.kept.len());
            g.kept.extend(accepted.iter().take(room).cloned());
        }
        if let Some(rec) = &self.record {
            let mut w = rec.lock().unwrap_or_else(|e| e.into_inner());
            for a in &accepted {
                let _ = serde_json::to_writer(&mut *w, a);
                let _ = w.write_all(b"\n");
            }
            let _ = w.flush();
        }
        let body = match ingester_error {
            Some(e) => e,
            None if errors.is_empty() => return text(204, ""),
            None => answer::grouped(&errors),
        };
        self.lock().stats.bad_requests += 1;
        text(400, format!("{body}\n"))
    }

    fn bad(&self, code: u16, msg: &str) -> Resp {
        self.lock().stats.bad_requests += 1;
        text(code, msg.to_string())
    }
}

fn decode_protobuf(body: &[u8], max: usize) -> Result<Vec<InStream>, (u16, String)> {
    let len = snap::raw::decompress_len(body).map_err(|e| (400, format!("snappy: {e}")))?;
    if len > max {
        return Err((413, "request body too large".into()));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| (400, format!("snappy: {e}")))?;
    let req =
        proto::PushRequest::decode(raw.as_slice()).map_err(|e| (400, format!("protobuf: {e}")))?;
    Ok(req
        .streams
        .into_iter()
        .map(|s| InStream {
            labels: labels::parse(&s.labels),
            entries: s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e
                        .timestamp
                        .map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
                    let md = e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect();
                    (ts, e.line, md)
                })
                .collect(),
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(serde::Deserialize)]
struct JsonStream {
    stream: std::collections::BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
}

fn decode_json(body: &[u8], encoding: &str, max: usize) -> Result<Vec<InStream>, (u16, String)> {
    let raw: Vec<u8> = if encoding.eq_ignore_ascii_case("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| (400, format!("gzip: {e}")))?;
        if out.len() > max {
            return Err((413, "request body too large".into()));
        }
        out
    } else {
        body.to_vec()
    };
    let p: JsonPush = serde_json::from_slice(&raw).map_err(|e| (400, format!("json: {e}")))?;
    let mut out = Vec::new();
    for s in p.streams {
        let mut entries = Vec::new();
        for v in s.values {
            let ts = v
                .first()
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or((400, "json: bad timestamp".to_string()))?;
            let line = v
                .get(1)
                .and_then(|l| l.as_str())
                .ok_or((400, "json: bad line".to_string()))?;
            let md = v
                .get(2)
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            entries.push((ts, line.to_string(), md));
        }
        out.push(InStream {
            labels: Ok(s.stream.into_iter().collect()),
            entries,
        });
    }
    Ok(out)
}

/// Serves `receiver` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, receiver: Arc<Receiver>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let r = Arc::clone(&receiver);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| Arc::clone(&r).handle(req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}
