//! The `/metrics` exporter's configuration.

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError};

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

impl crate::component::Component for PrometheusExporterConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        if !self.path.starts_with('/') || self.path == "/healthz" {
            return Err(ComponentError::new(
                "path",
                "must start with '/' and not be /healthz",
            ));
        }
        Ok(())
    }

    /// Hands the settings to the API listener, which serves the store at `path`.
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        ctx.provide(std::sync::Arc::new(self.clone()));
        Ok(())
    }
}
