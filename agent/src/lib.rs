//! `node-agent`: the per-node agent of Nodewatch.
//!
//! Data flow: each source ([`sources`]) runs on its own task ([`topology`]) and hands a batch of
//! metric families ([`event`]) to the [`store`], which keeps the latest batch per source and
//! enforces the cardinality guard. The HTTP listener ([`api`]) renders the store through the
//! Prometheus exporter sink ([`sinks::prometheus_exporter`]). The agent's own telemetry lives in
//! [`metrics`].

pub mod alerts;
pub mod allocator;
pub mod api;
pub mod buffer;
pub mod civil;
pub mod component;
pub mod config;
pub mod event;
pub mod exposition;
pub mod http_client;
pub mod http_server;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod report;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod topology;
pub mod transforms;

#[cfg(test)]
mod test_support;
