//! Optional pod labels from the Kubernetes API (`[sources.kubernetes_pods.api]`, off by default).
//!
//! When a pod's log file is first opened, the discovery thread asks the API server for the pod
//! (`GET /api/v1/namespaces/<ns>/pods/<name>`, with the service account's bearer token and CA) and
//! copies the pod labels named in `labels` onto the stream, their names made Loki-safe
//! (`app.kubernetes.io/name` becomes `app_kubernetes_io_name`). Answers are cached per pod UID; a
//! failed lookup is counted (`nodewatch_agent_log_pod_api_errors_total{reason}`), cached for a
//! short while, and the lines still ship with the path's labels: the API never holds logs back
//! longer than one `timeout_ms`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;

use super::source::PodPath;
use crate::http_client::{HttpClient, HttpClientConfig, RequestError};
use crate::logs::LogMetrics;

/// Pods remembered at most; past it the cache starts afresh.
const MAX_CACHED_PODS: usize = 10_000;
/// The largest pod object read from the API.
const MAX_POD_BYTES: usize = 1 << 20;
/// Pod labels copied onto a stream at most.
pub const MAX_POD_LABELS: usize = 16;
/// A label value longer than this is cut (Loki's default limit is 2048).
const MAX_VALUE_BYTES: usize = 1024;
/// How long a failed lookup is remembered before the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// `[sources.kubernetes_pods.api]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodApiConfig {
    /// Whether pod labels are looked up at all.
    #[serde(default)]
    pub enabled: bool,
    /// The API server, e.g. `https://kubernetes.default.svc` (in cluster) or
    /// `http://127.0.0.1:8001` (`kubectl proxy`).
    #[serde(default = "default_url")]
    pub url: String,
    /// The bearer token, read at every lookup (tokens are rotated); none: no `Authorization`.
    #[serde(default = "default_token_file")]
    pub token_file: Option<PathBuf>,
    /// The CA of an `https://` API server.
    #[serde(default = "default_ca_file")]
    pub ca_file: Option<PathBuf>,
    /// The pod labels to copy onto streams; keep them few and low-cardinality.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// How long one lookup may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for PodApiConfig {
    fn default() -> Self {
        PodApiConfig {
            enabled: false,
            url: default_url(),
            token_file: default_token_file(),
            ca_file: default_ca_file(),
            labels: default_labels(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

fn default_url() -> String {
    "https://kubernetes.default.svc".into()
}
fn default_token_file() -> Option<PathBuf> {
    Some("/var/run/secrets/kubernetes.io/serviceaccount/token".into())
}
fn default_ca_file() -> Option<PathBuf> {
    Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt".into())
}
fn default_labels() -> Vec<String> {
    [
        "app",
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/component",
    ]
    .map(String::from)
    .into()
}
fn default_timeout_ms() -> u64 {
    2000
}

impl PodApiConfig {
    /// The API server's client settings (`api.ca_file` for `https://`). The token is not one of
    /// them: it is read at every lookup, and a missing one is counted, not fatal.
    pub fn client_config(&self) -> HttpClientConfig {
        HttpClientConfig::new(&self.url, Duration::from_millis(self.timeout_ms))
            .with_ca(self.ca_file.as_deref(), "ca_file")
            .with_key_prefix("api.")
    }

    /// Checks the settings; the error names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !self.enabled {
            return Ok(());
        }
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| ("api.url", format!("{:?}: {e}", self.url)))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err((
                "api.url",
                format!("{:?}: expected an http:// or https:// URL", self.url),
            ));
        }
        if self.labels.is_empty() || self.labels.len() > MAX_POD_LABELS {
            return Err((
                "api.labels",
                format!("name 1 to {MAX_POD_LABELS} pod labels"),
            ));
        }
        if let Some(bad) = self.labels.iter().find(|l| l.is_empty() || l.len() > 317) {
            return Err((
                "api.labels",
                format!("{bad:?} is not a Kubernetes label key"),
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(("api.timeout_ms", "must be 1 to 60000".into()));
        }
        Ok(())
    }
}

/// Why a lookup failed: the `reason` label.
fn reason_of(e: &RequestError) -> &'static str {
    match e {
        RequestError::Timeout(_) => "timeout",
        RequestError::Credentials(_) | RequestError::Transport(_) => "connect",
    }
}

/// The `reason` label of an answer that is not a pod.
fn status_reason(status: u16) -> &'static str {
    match status {
        401 | 403 => "unauthorized",
        404 => "not_found",
        _ => "http_status",
    }
}

#[derive(Debug, Deserialize)]
struct Pod {
    metadata: PodMeta,
}

#[derive(Debug, Deserialize)]
struct PodMeta {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    labels: HashMap<String, String>,
}

/// A Kubernetes label key as a Loki label name: every character outside `[A-Za-z0-9_]` becomes
/// `_`, and a leading digit gets a `_` in front.
pub fn label_name(key: &str) -> String {
    let mut out = crate::event::label_name_chars(key);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Picks the configured labels out of a pod's labels, as Loki label pairs.
pub fn pick(wanted: &[String], labels: &HashMap<String, String>) -> Vec<(String, String)> {
    wanted
        .iter()
        .filter_map(|k| labels.get(k).map(|v| (label_name(k), cut(v))))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn cut(v: &str) -> String {
    let mut end = v.len().min(MAX_VALUE_BYTES);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_string()
}

/// A name as Kubernetes allows it in a path segment (DNS subdomain characters).
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Pod labels by pod, with the time they were looked up (`None`: the lookup failed).
type LabelCache = HashMap<String, (Instant, Option<Vec<(String, String)>>)>;

/// The lookups, their cache and their counters. Used from the discovery thread only (a plain
/// thread: a lookup blocks it on the agent's runtime, never a runtime thread).
#[derive(Debug)]
pub struct PodApi {
    cfg: PodApiConfig,
    http: HttpClient,
    runtime: tokio::runtime::Handle,
    cache: LabelCache,
    metrics: Arc<LogMetrics>,
}

impl PodApi {
    /// Lookups for `cfg` (enabled and checked) with `http`, the agent's client for
    /// [`PodApiConfig::client_config`], run on `runtime`.
    pub fn new(
        cfg: PodApiConfig,
        metrics: Arc<LogMetrics>,
        http: HttpClient,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        metrics.pod_api_errors("connect", 0);
        PodApi {
            cfg,
            http,
            runtime,
            cache: HashMap::new(),
            metrics,
        }
    }

    /// The configured pod labels of the pod a log path names; empty when it has none or the API
    /// could not say.
    pub fn labels(&mut self, p: &PodPath) -> Vec<(String, String)> {
        if let Some((at, cached)) = self.cache.get(&p.uid) {
            match cached {
                Some(labels) => return labels.clone(),
                None if at.elapsed() < RETRY_AFTER_FAILURE => return Vec::new(),
                None => {}
            }
        }
        if self.cache.len() >= MAX_CACHED_PODS {
            self.cache.clear();
        }
        let found = self.fetch(p);
        let labels = found.clone().unwrap_or_default();
        self.cache.insert(p.uid.clone(), (Instant::now(), found));
        labels
    }

    fn fetch(&self, p: &PodPath) -> Option<Vec<(String, String)>> {
        if !safe_segment(&p.namespace) || !safe_segment(&p.pod) {
            self.metrics.pod_api_errors("bad_name", 1);
            return None;
        }
        let path = format!("/api/v1/namespaces/{}/pods/{}", p.namespace, p.pod);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(tf) = &self.cfg.token_file {
            let token = std::fs::read_to_string(tf).map_err(|e| e.to_string()).and_then(|t| {
                HeaderValue::from_str(&format!("Bearer {}", t.trim()))
                    .map_err(|_| "not a valid header value".to_string())
            });
            match token {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
                Err(e) => {
                    tracing::warn!(error = %e, file = %tf.display(), "read the Kubernetes API token");
                    self.metrics.pod_api_errors("token", 1);
                    return None;
                }
            }
        }
        let answer = self
            .runtime
            .block_on(self.http.get(&path, headers, MAX_POD_BYTES));
        let fail = |reason: &'static str, e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, namespace = %p.namespace, pod = %p.pod, "look up pod labels");
            self.metrics.pod_api_errors(reason, 1);
        };
        let body = match answer {
            Ok(a) if !a.status.is_success() => {
                fail(status_reason(a.status.as_u16()), &a.status);
                return None;
            }
            Ok(a) if !a.complete => {
                fail("too_large", &format!("pod object over {MAX_POD_BYTES} bytes"));
                return None;
            }
            Ok(a) => a.body,
            Err(e) => {
                fail(reason_of(&e), &e);
                return None;
            }
        };
        let pod: Pod = match serde_json::from_slice(&body) {
            Ok(pod) => pod,
            Err(e) => {
                tracing::warn!(error = %e, namespace = %p.namespace, pod = %p.pod, "pod object does not parse");
                self.metrics.pod_api_errors("bad_answer", 1);
                return None;
            }
        };
        // A pod of the same name but another UID is its successor: its labels are not this one's.
        if pod.metadata.uid != p.uid {
            return Some(Vec::new());
        }
        Some(pick(&self.cfg.labels, &pod.metadata.labels))
    }
}
