//! The `/metrics` exporter's configuration.

use serde::Deserialize;

/// `[sinks.prometheus_exporter]`: how `/metrics` is served (the listener is `[api]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrometheusExporterConfig {
    /// The HTTP path of the exposition.
    #[serde(default = "default_path")]
    pub path: String,
    /// Whether to gzip the body when the client accepts it.
    #[serde(default = "default_gzip")]
    pub gzip: bool,
}

impl Default for PrometheusExporterConfig {
    fn default() -> Self {
        PrometheusExporterConfig {
            path: default_path(),
            gzip: default_gzip(),
        }
    }
}

fn default_path() -> String {
    "/metrics".to_string()
}

fn default_gzip() -> bool {
    true
}
