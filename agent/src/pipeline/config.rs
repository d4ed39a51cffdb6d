//! The pipeline listener's configuration: `[pipeline]`.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[pipeline]`: the listener for pushes (OTLP/HTTP and the Pushgateway API) and the bounds of
/// the store that keeps pushed series.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Whether the push listener runs at all.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The address OTLP/HTTP (`/v1/metrics`) and Pushgateway pushes (`/metrics/job/...`) arrive on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The most connections served at once; more wait in the accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a client may take to send its request headers.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send its request body.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
    /// The largest request body, before and after gzip decompression.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most series (exposition lines) all pushed data together may hold; pushes past it are
    /// dropped and counted (`reason="series_limit"`).
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// The most groups (Pushgateway grouping keys plus OTLP resources).
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// The most labels one pushed series may carry.
    #[serde(default = "default_max_labels_per_series")]
    pub max_labels_per_series: usize,
    /// The longest label value, in bytes.
    #[serde(default = "default_max_label_value_bytes")]
    pub max_label_value_bytes: usize,
    /// The most `job` values `nodewatch_pipeline_last_push_timestamp_seconds` remembers; the
    /// one pushed longest ago is forgotten first.
    #[serde(default = "default_max_jobs")]
    pub max_jobs: usize,
    /// How often expired series are removed (they are never served after their expiry anyway).
    #[serde(default = "default_reap_interval_ms")]
    pub reap_interval_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            enabled: default_enabled(),
            listen: default_listen(),
            max_connections: default_max_connections(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_read_timeout_ms: default_body_read_timeout_ms(),
            max_body_bytes: default_max_body_bytes(),
            max_series: default_max_series(),
            max_groups: default_max_groups(),
            max_labels_per_series: default_max_labels_per_series(),
            max_label_value_bytes: default_max_label_value_bytes(),
            max_jobs: default_max_jobs(),
            reap_interval_ms: default_reap_interval_ms(),
        }
    }
}

impl PipelineConfig {
    /// Checks the values the types alone cannot; returns the offending key and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.max_connections == 0 || self.max_connections > 10_000 {
            return Err(("pipeline.max_connections", "must be between 1 and 10000"));
        }
        if self.header_read_timeout_ms == 0 {
            return Err(("pipeline.header_read_timeout_ms", "must be at least 1"));
        }
        if self.body_read_timeout_ms == 0 {
            return Err(("pipeline.body_read_timeout_ms", "must be at least 1"));
        }
        if self.max_body_bytes < 1024 || self.max_body_bytes > 1024 * 1024 * 1024 {
            return Err(("pipeline.max_body_bytes", "must be between 1 KiB and 1 GiB"));
        }
        if self.max_series == 0 {
            return Err(("pipeline.max_series", "must be at least 1"));
        }
        if self.max_groups == 0 {
            return Err(("pipeline.max_groups", "must be at least 1"));
        }
        if self.max_labels_per_series < 2 {
            return Err(("pipeline.max_labels_per_series", "must be at least 2"));
        }
        if self.max_label_value_bytes < 16 {
            return Err(("pipeline.max_label_value_bytes", "must be at least 16"));
        }
        if self.max_jobs == 0 {
            return Err(("pipeline.max_jobs", "must be at least 1"));
        }
        if self.reap_interval_ms == 0 {
            return Err(("pipeline.reap_interval_ms", "must be at least 1"));
        }
        Ok(())
    }
}

fn default_enabled() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4318))
}
fn default_max_connections() -> usize {
    256
}
fn default_header_read_timeout_ms() -> u64 {
    5_000
}
fn default_body_read_timeout_ms() -> u64 {
    30_000
}
fn default_max_body_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_series() -> usize {
    100_000
}
fn default_max_groups() -> usize {
    4_096
}
fn default_max_labels_per_series() -> usize {
    64
}
fn default_max_label_value_bytes() -> usize {
    2_048
}
fn default_max_jobs() -> usize {
    1_024
}
fn default_reap_interval_ms() -> u64 {
    1_000
}
