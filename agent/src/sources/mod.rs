//! Metrics sources. Each one lives in its own folder and implements [`Source`]; the topology runs
//! each on its own task with its own interval and timeout.

pub mod ceph;
pub mod files;
pub mod host;
pub mod kubernetes_pods;
pub mod nvml;
pub mod otlp;
pub mod pushgateway;
pub mod smartctl;
mod source;
pub mod storage_node;
pub mod tail;

pub use source::{CollectError, Source};
