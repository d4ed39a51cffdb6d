//! Sinks: where the store's data goes: the Prometheus `/metrics` exporter and remote_write.

pub mod alertmanager;
pub mod loki;
pub mod prometheus_exporter;
pub mod prometheus_remote_write;
