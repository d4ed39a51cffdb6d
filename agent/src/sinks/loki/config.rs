//! `[sinks.loki]`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::buffer::WhenFull;
use crate::component::{BuildContext, ComponentError};
pub use crate::http_client::BasicAuthConfig;
use crate::http_client::{Auth, HttpClientConfig};
use crate::sources::tail::LogSources;

/// The request body format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `application/x-protobuf`, snappy block compression (what Promtail sends).
    #[default]
    Protobuf,
    /// `application/json`, gzip content encoding.
    Json,
}

/// `[sinks.loki]`: the Loki endpoints; each gets its own positions and buffer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LokiConfig {
    /// The endpoints (`[[sinks.loki.endpoints]]`); logs are off while the list is empty.
    #[serde(default)]
    pub endpoints: Vec<LokiEndpointConfig>,
}

/// One Loki endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LokiEndpointConfig {
    /// The `sink` metric label and the positions directory name; default `loki`, `loki_1`, ...
    #[serde(default)]
    pub name: Option<String>,
    /// The push URL, e.g. `http://loki:3100/loki/api/v1/push`.
    pub url: String,
    /// `X-Scope-OrgID`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Basic auth.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// A file holding a bearer token.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM CA bundle for https; default: the system bundle.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The body format.
    #[serde(default)]
    pub encoding: Encoding,
    /// A batch is pushed when it holds this many bytes of lines...
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// ...or when its first entry waited this long.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// One push attempt's timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The first retry delay.
    #[serde(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,
    /// The longest retry delay (a longer Retry-After is still honoured, up to 5 minutes).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Bytes of entries held between the sources and this sink; at the bound the sources stop
    /// reading (the files keep the data) and say so.
    #[serde(default = "default_buffer_max_bytes")]
    pub buffer_max_bytes: usize,
    /// The most distinct streams sent to this tenant per `stream_limit_window_secs`; entries of
    /// further streams are dropped and counted.
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
    /// The window of `max_streams`.
    #[serde(default = "default_stream_limit_window_secs")]
    pub stream_limit_window_secs: u64,
    /// Pod logs go through a disk spill buffer of at most this many bytes (the kubelet deletes
    /// rotated pod logs, so pausing is not enough); 0 turns it off (pause instead).
    #[serde(default = "default_pod_logs_spill_max_bytes")]
    pub pod_logs_spill_max_bytes: u64,
    /// What the spill buffer does at `pod_logs_spill_max_bytes`: `"block"` (the default: pod
    /// tailing pauses, nothing is dropped) or `"drop_oldest"` (the oldest buffered lines are
    /// dropped and counted, `reason="spill_full"`).
    #[serde(default = "default_pod_logs_spill_when_full")]
    pub pod_logs_spill_when_full: WhenFull,
}

impl LokiEndpointConfig {
    /// The endpoint's client settings; `key_prefix` names the endpoint in errors
    /// (`endpoints[1].`).
    pub fn client_config(&self, key_prefix: &str) -> HttpClientConfig {
        HttpClientConfig::new(&self.url, std::time::Duration::from_millis(self.timeout_ms))
            .with_ca(self.ca_file.as_deref(), "ca_file")
            .with_auth(Auth::from_keys(
                self.basic_auth.as_ref(),
                self.bearer_token_file.as_deref(),
            ))
            .with_key_prefix(key_prefix)
    }

    /// An endpoint with defaults (`--loki-url`).
    pub fn with_url(url: &str) -> Self {
        LokiEndpointConfig {
            name: None,
            url: url.to_string(),
            tenant_id: None,
            basic_auth: None,
            bearer_token_file: None,
            ca_file: None,
            encoding: Encoding::default(),
            batch_max_bytes: default_batch_max_bytes(),
            batch_wait_ms: default_batch_wait_ms(),
            timeout_ms: default_timeout_ms(),
            min_backoff_ms: default_min_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            buffer_max_bytes: default_buffer_max_bytes(),
            max_streams: default_max_streams(),
            stream_limit_window_secs: default_stream_limit_window_secs(),
            pod_logs_spill_max_bytes: default_pod_logs_spill_max_bytes(),
            pod_logs_spill_when_full: default_pod_logs_spill_when_full(),
        }
    }
}

fn default_batch_max_bytes() -> usize {
    1024 * 1024
}
fn default_batch_wait_ms() -> u64 {
    1_000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_min_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_buffer_max_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_streams() -> usize {
    10_000
}
fn default_pod_logs_spill_when_full() -> WhenFull {
    WhenFull::Block
}
fn default_pod_logs_spill_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_stream_limit_window_secs() -> u64 {
    3_600
}

impl LokiConfig {
    /// The sink names of the endpoints: `name`, else `loki`, `loki_1`, ...
    pub fn sink_names(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| match &e.name {
                Some(n) => n.clone(),
                None if i == 0 => "loki".to_string(),
                None => format!("loki_{i}"),
            })
            .collect()
    }
}

impl crate::component::Component for LokiConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        let names = self.sink_names();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(ComponentError::new(
                    "endpoints",
                    format!("two endpoints are named {n:?}"),
                ));
            }
        }
        for (e, name) in self.endpoints.iter().zip(&names) {
            super::check_url(&e.url).map_err(|source| {
                ComponentError::new("endpoints", format!("endpoint {name}: {source}"))
            })?;
        }
        Ok(())
    }

    /// Starts one pipeline per endpoint over the log sources built before; stopping drains
    /// them before the agent's shutdown signal.
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let sources = ctx.shared::<LogSources>().list();
        let running = super::pipeline::start(self, &sources, ctx)?;
        if let Some(r) = running {
            ctx.on_stop(Box::new(move || {
                Box::pin(r.stop(std::time::Duration::from_secs(5)))
            }));
        }
        Ok(())
    }
}
