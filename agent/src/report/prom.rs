//! A small client for the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`), on the
//! agent's one HTTP client ([`crate::http_client`]; `sla-report` is a command, not a component,
//! so it makes its client itself).

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Uri};
use serde_json::Value;

use super::ReportError;
use crate::http_client::{HttpClient, HttpClientConfig};

/// The most bytes read from one answer.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long one query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// (Unix seconds, value) pairs.
    pub points: Vec<(i64, f64)>,
}

/// The client.
#[derive(Debug, Clone)]
pub struct PromClient {
    client: HttpClient,
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn parse_value(v: &Value) -> Option<(i64, f64)> {
    let arr = v.as_array()?;
    let ts = arr.first()?.as_f64()?;
    let val = match arr.get(1)?.as_str()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    Some((ts.round() as i64, val))
}

fn parse_labels(v: &Value) -> BTreeMap<String, String> {
    v.get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl PromClient {
    /// A client for `base` (`http://host:port`, optionally with a path prefix).
    pub fn new(base: &str) -> Result<PromClient, ReportError> {
        let trimmed = base.trim_end_matches('/');
        let uri: Uri = trimmed.parse().map_err(|e| ReportError::Url {
            url: base.to_string(),
            reason: format!("{e}"),
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ReportError::Url {
                url: base.to_string(),
                reason: "must be http://host[:port][/prefix] (put TLS in front of a proxy)"
                    .to_string(),
            });
        }
        let client =
            HttpClient::new(&HttpClientConfig::new(trimmed, QUERY_TIMEOUT)).map_err(|e| {
                ReportError::Url {
                    url: base.to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(PromClient { client })
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
        query: &str,
    ) -> Result<Value, ReportError> {
        let err = |reason: String| ReportError::Query {
            query: query.to_string(),
            reason,
        };
        let qs: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let a = self
            .client
            .get(&format!("{path}?{}", qs.join("&")), headers, MAX_BODY_BYTES)
            .await
            .map_err(|e| err(e.to_string()))?;
        if !a.complete {
            return Err(err(format!(
                "read body: longer than {MAX_BODY_BYTES} bytes"
            )));
        }
        let (status, body) = (a.status, a.body);
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| err(format!("HTTP {status}: answer is not JSON: {e}")))?;
        if doc.get("status").and_then(Value::as_str) != Some("success") {
            let msg = doc
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error message");
            return Err(err(format!("HTTP {status}: {msg}")));
        }
        doc.get("data")
            .cloned()
            .ok_or_else(|| err("answer has no data".to_string()))
    }

    /// An instant query at `time` (Unix seconds); the result must be a vector.
    pub async fn query(&self, expr: &str, time: i64) -> Result<Vec<InstantSample>, ReportError> {
        let data = self
            .get(
                "/api/v1/query",
                &[("query", expr.to_string()), ("time", time.to_string())],
                expr,
            )
            .await?;
        let result = vector_result(&data, "vector", expr)?;
        Ok(result
            .iter()
            .filter_map(|s| {
                let (_, value) = parse_value(s.get("value")?)?;
                Some(InstantSample {
                    labels: parse_labels(s),
                    value,
                })
            })
            .collect())
    }

    /// A range query over [start, end] every `step` seconds; the result must be a matrix.
    pub async fn query_range(
        &self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<RangeSeries>, ReportError> {
        let data = self
            .get(
                "/api/v1/query_range",
                &[
                    ("query", expr.to_string()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ],
                expr,
            )
            .await?;
        let result = vector_result(&data, "matrix", expr)?;
        Ok(result
            .iter()
            .map(|s| RangeSeries {
                labels: parse_labels(s),
                points: s
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| vs.iter().filter_map(parse_value).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }
}

fn vector_result<'a>(
    data: &'a Value,
    want: &str,
    expr: &str,
) -> Result<&'a Vec<Value>, ReportError> {
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    if kind != want {
        return Err(ReportError::Query {
            query: expr.to_string(),
            reason: format!("result type {kind:?}, expected {want}"),
        });
    }
    data.get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| ReportError::Query {
            query: expr.to_string(),
            reason: "no result array".to_string(),
        })
}
