//! The storage_node source's configuration.

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, Schedule};

/// `[sources.storage_node]`: scrape local storage nodes' admin endpoints.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageNodeConfig {
    /// Whether the source runs.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Admin base URLs (`http://host:port`); `/metrics` and `/admin/status` are appended.
    #[serde(default = "default_urls")]
    pub urls: Vec<String>,
    /// Seconds between collections.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one collection (all nodes, in parallel) may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most bytes read from one response.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// The most series this source may hand to the store.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

impl Default for StorageNodeConfig {
    fn default() -> Self {
        StorageNodeConfig {
            enabled: default_enabled(),
            urls: default_urls(),
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            max_response_bytes: default_max_response_bytes(),
            max_series: default_max_series(),
        }
    }
}

fn default_enabled() -> bool {
    true
}
fn default_urls() -> Vec<String> {
    vec!["http://127.0.0.1:9900".to_string()]
}
fn default_interval_secs() -> u64 {
    15
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_max_response_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_series() -> usize {
    20_000
}

impl crate::component::Component for StorageNodeConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        Schedule::validate(self.interval_secs, self.timeout_ms, self.max_series)?;
        if self.urls.len() > 64 {
            return Err(ComponentError::new("urls", "at most 64 URLs"));
        }
        for u in &self.urls {
            super::check_url(u).map_err(|reason| ComponentError::new("urls", reason))?;
        }
        if self.max_response_bytes < 1024 {
            return Err(ComponentError::new(
                "max_response_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if !self.enabled || self.urls.is_empty() {
            return Ok(());
        }
        let source = super::StorageNodeSource::new(self, ctx);
        ctx.add_collected(source, self.interval_secs, self.timeout_ms, self.max_series)
    }
}
