//! The Prometheus `/metrics` exporter: renders the store (and the agent's own telemetry) in the
//! text format or OpenMetrics, by content negotiation, gzipped when the client accepts it.

mod config;
mod render;
mod sink;

pub use config::PrometheusExporterConfig;
pub use render::{Format, RenderReport, render, write_float};
pub use sink::{MetricsResponse, accepts_gzip, respond};

#[cfg(test)]
mod tests;
