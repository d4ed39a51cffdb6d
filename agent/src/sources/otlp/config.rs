//! The OTLP receiver's configuration.

use serde::Deserialize;

/// `[sources.otlp]`: OTLP/HTTP metrics at `/v1/metrics` on the pipeline listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Whether `/v1/metrics` is served.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds after which a series no export refreshed is removed (OTLP exporters resend every
    /// series each interval, 60 s by default, so 10 minutes is ten missed exports).
    #[serde(default = "default_expire_secs")]
    pub expire_secs: u64,
    /// The most data points one request may carry; the rest are rejected (`push_limit`) and
    /// reported in `partial_success`.
    #[serde(default = "default_max_datapoints_per_request")]
    pub max_datapoints_per_request: usize,
    /// The most series with delta temporality whose running totals are kept.
    #[serde(default = "default_max_delta_series")]
    pub max_delta_series: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: default_enabled(),
            expire_secs: default_expire_secs(),
            max_datapoints_per_request: default_max_datapoints_per_request(),
            max_delta_series: default_max_delta_series(),
        }
    }
}

impl OtlpConfig {
    /// Checks the values the types alone cannot; returns the offending key and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.expire_secs == 0 || self.expire_secs > 30 * 86_400 {
            return Err(("sources.otlp.expire_secs", "must be between 1 and 2592000"));
        }
        if self.max_datapoints_per_request == 0 {
            return Err((
                "sources.otlp.max_datapoints_per_request",
                "must be at least 1",
            ));
        }
        if self.max_delta_series == 0 {
            return Err(("sources.otlp.max_delta_series", "must be at least 1"));
        }
        Ok(())
    }
}

fn default_enabled() -> bool {
    true
}
fn default_expire_secs() -> u64 {
    600
}
fn default_max_datapoints_per_request() -> usize {
    50_000
}
fn default_max_delta_series() -> usize {
    100_000
}
