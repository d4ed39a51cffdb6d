//! Sinks: where the store's data goes. Only the Prometheus `/metrics` exporter exists so far.

pub mod prometheus_exporter;
pub mod alertmanager;
