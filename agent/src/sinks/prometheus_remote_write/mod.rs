//! The Prometheus remote_write 1.0 sink: every collection is appended to a durable on-disk WAL
//! ([`crate::buffer::DiskQueue`]), and sharded senders ship it as snappy-compressed protobuf
//! `WriteRequest`s, retrying 5xx/429/network errors with backoff and jitter and acknowledging the
//! WAL only after the receiver accepted a batch.
//!
//! - [`config`]: the `sinks.prometheus_remote_write` table.
//! - [`proto`]: the four protobuf messages of remote_write 1.0.
//! - [`encode`]: families to time series, WAL records, request bodies, shard choice.
//! - [`client`]: one HTTP/1.1 (optionally rustls) connection per shard, auth, status classes.
//! - [`sink`]: the appender and the sender tasks, and the sink's own metrics.

pub mod client;
pub mod config;
pub mod encode;
mod error;
pub mod proto;
mod sink;

pub use config::{BasicAuthConfig, RemoteWriteConfig};
pub use error::RemoteWriteError;
pub use sink::RemoteWrite;

#[cfg(test)]
mod tests;
