//! Replication between storage nodes: asynchronous by default, with an optional write quorum,
//! last-writer-wins by (hybrid logical clock, node) version, deletes as tombstones, and recovery
//! (backfill) for peers that missed writes.
//!
//! - `hlc`: the hybrid logical clock and [`hlc::Version`].
//! - `log`: the durable, CRC-checked replication log ([`log::ReplLog`]).
//! - `cursor`: per-peer cursor files and the data directory's incarnation.
//! - `replicator`: [`Replicator`], the store's write log, peer state and write quorum.
//! - `shipper`: one task per peer shipping the log in batches, with backoff.
//! - `recovery`: the listing comparison that repairs a peer.
//! - `wire`, `receiver`, `route`: the authenticated protocol on the peer's S3 listener.
//! - `metrics`: the `storage_node_replication_*` and `storage_node_recovery_*` families.
//! - `config`: `--peer`, `--write-quorum`, `--quorum-timeout-ms`, the backlog bound.

pub mod config;
pub mod cursor;
mod error;
pub mod hlc;
pub mod log;
pub mod metrics;
pub mod receiver;
mod recovery;
pub mod replicator;
pub mod route;
pub mod shipper;
pub mod wire;

pub use error::ReplicationError;
pub use receiver::Receiver;
pub use replicator::{PeerStatus, Replicator};
pub use route::WithReplication;
