//! The Alertmanager sink: delivers the detectors' alerts to one or more Alertmanagers through the
//! v2 API (`POST /api/v2/alerts`), re-sending active ones like Prometheus does, resolving with
//! `endsAt` = now, retrying with backoff while one is down. `links` builds the runbook and Grafana
//! Explore annotations.

mod config;
mod links;
mod prometheus_api;
mod sink;

pub use crate::metrics::{AlertDeliveryMetrics as SinkStats, DeliveryStats};
pub use config::AlertmanagerConfig;
pub use links::{Links, rfc3339, urlencode};
pub use prometheus_api::api_alerts_json;
pub use sink::{AlertOutput, AlertmanagerError, AlertmanagerSink, encode};

#[cfg(test)]
mod tests;
