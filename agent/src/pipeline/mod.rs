//! The pipeline receivers' shared parts: the push listener (port 4318) that routes to the push
//! sources' receivers (`sources/otlp`, `sources/pushgateway`: each adds a [`PushRoute`]), the
//! store of pushed series with its expiry and bounds, freshness per job, and the receivers' own
//! telemetry. The store is attached to the agent's [`crate::store::Store`], so `/metrics` and
//! every other reader see pushed series next to the collected ones.

mod config;
mod listener;
mod route;
mod setup;
mod store;

pub use crate::metrics::pipeline::{DropReason, Origin, PipelineMetrics, code_label, method_label};
pub use config::PipelineConfig;
pub use listener::{BodyError, PipelineState, Reply, decode_body, read_body, serve};
pub use route::{PushReceiver, PushRoute, PushRoutes, RoutePath};
pub use setup::Pipeline;
pub use store::{GroupKey, Mode, PipelineStore, PushOutcome, StoreLimits, unix_now};

#[cfg(test)]
mod tests;
