//! The OTLP source: OTLP/HTTP metrics (`POST /v1/metrics`, protobuf or JSON, optionally gzip)
//! through `opentelemetry-proto`, converted to Prometheus families by the OpenTelemetry to
//! Prometheus compatibility rules ([`names`], [`convert`], [`exphist`]), with delta temporality
//! turned cumulative ([`delta`]), stored in the pipeline store.

pub mod config;
pub mod convert;
pub mod delta;
mod error;
pub mod exphist;
pub mod names;
mod receiver;

pub use config::OtlpConfig;
pub use error::OtlpError;
pub use receiver::{Encoding, OtlpReceiver, RpcStatus, decode};

#[cfg(test)]
mod tests;
