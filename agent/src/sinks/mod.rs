//! Sinks: where the store's data goes. Only the Prometheus `/metrics` exporter exists so far.

pub mod loki;
pub mod prometheus_exporter;
