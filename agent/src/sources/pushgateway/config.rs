//! The Pushgateway receiver's configuration.

use serde::Deserialize;

/// `[sources.pushgateway]`: the Pushgateway API (`/metrics/job/<job>{/<label>/<value>}`) on the
/// pipeline listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushgatewayConfig {
    /// Whether `/metrics/job/...` is served.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds after its last successful push at which a group is removed; 0 keeps groups until
    /// they are deleted (the Pushgateway's own behaviour). The default, two days, outlives a
    /// daily batch job that missed one run, so a "last success is too old" alert still sees the
    /// job's series and fires instead of finding nothing.
    #[serde(default = "default_expire_secs")]
    pub expire_secs: u64,
    /// The most series (exposition lines) one push may carry; a larger push is refused whole.
    #[serde(default = "default_max_series_per_push")]
    pub max_series_per_push: usize,
}

impl Default for PushgatewayConfig {
    fn default() -> Self {
        PushgatewayConfig {
            enabled: default_enabled(),
            expire_secs: default_expire_secs(),
            max_series_per_push: default_max_series_per_push(),
        }
    }
}

impl PushgatewayConfig {
    /// Checks the values the types alone cannot; returns the offending key and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.expire_secs > 365 * 86_400 {
            return Err((
                "sources.pushgateway.expire_secs",
                "must be at most 31536000",
            ));
        }
        if self.max_series_per_push == 0 {
            return Err((
                "sources.pushgateway.max_series_per_push",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

fn default_enabled() -> bool {
    true
}
fn default_expire_secs() -> u64 {
    2 * 86_400
}
fn default_max_series_per_push() -> usize {
    10_000
}
