//! The `loki` sink: Loki's push API (`/loki/api/v1/push`), protobuf + snappy (or gzipped JSON),
//! tenant header, basic or bearer auth from files, TLS with rustls. Batches by bytes and by wait
//! time; several streams per push, entries ordered by time within each stream. Retries 429 and
//! 5xx (and network errors) with exponential backoff and jitter, honouring Retry-After; any other
//! 4xx is counted as rejected with its reason and a sample is logged. Only a push Loki accepted
//! (or refused for good) acknowledges its chunks' file offsets to the positions.

mod answer;
mod chunk_codec;
mod client;
mod config;
mod encode;
pub mod pipeline;
mod retry;
mod sink;
mod snappy;
mod spill;

pub use answer::{Refused, read_partial};
pub use client::{ClientError, LokiClient, PushResponse, check_url};
pub use config::{BasicAuthConfig, Encoding, LokiConfig, LokiEndpointConfig};
pub use encode::{Batch, Plan, Put, encode_json, encode_protobuf, write_protobuf};
pub use retry::{Backoff, Class, classify, parse_retry_after};
pub use sink::LokiSink;
pub use snappy::{SnappyError, SnappyWriter};
pub use spill::{SpillCursor, SpillError, SpillQueue, SpillReader};

#[cfg(test)]
mod proto;
#[cfg(test)]
mod tests;
