//! The ceph source (optional, off by default): reads Ceph daemons' admin sockets
//! (`/var/run/ceph/*.asok`) with `counter dump` (Reef and later) or `perf dump`, and exposes
//! ceph-exporter's names (`ceph_osd_op_r_latency_sum/_count`, `ceph_osd_op_w`,
//! `ceph_bluestore_commit_lat_sum/_count`, ...) with the `ceph_daemon` label, so Rook users can
//! run the agent against real Ceph. Each socket is read under its own timeout and size bound;
//! a dead or hung daemon never holds up the others. OSDs also give their slow ops
//! (`ceph_daemon_health_metrics{type="SLOW_OPS"}`, as the mgr names them), the age of the oldest
//! op in flight, and the interval mean op latency the anomaly detector watches.

mod asok;
mod config;
mod error;
mod latency;
mod ops;
mod parse;
mod source;

pub use asok::{daemon_name, find_sockets, request, split_glob, wildcard_match};
pub use config::CephConfig;
pub use error::CephError;
pub use ops::{OpsInFlight, complaint_time, ops_in_flight};
pub use parse::{Builder, is_counter_schema, promethize};
pub use source::CephSource;

#[cfg(test)]
mod tests;
