//! The host source: node_exporter's core Linux collectors, with node_exporter's metric names and
//! labels, so that existing dashboards ("Node Exporter Full") work unchanged.
//!
//! Each sub-collector (`cpu`, `meminfo`, `loadavg`, `diskstats`, `filesystem`, `netdev`,
//! `pressure`, `stat`, `time`, `uname`) reads `/proc` and `/sys` through small parsers that take
//! text, so tests feed them captured files. The whole source runs on a blocking thread; the
//! filesystem collector bounds each `statfs` with its own timeout, so a hung NFS mount costs one
//! `node_filesystem_device_error` series, not the scrape.

mod config;
mod cpu;
mod diskstats;
mod error;
mod filesystem;
mod meminfo;
mod netdev;
mod pressure;
mod simple;
mod source;

pub use config::{HostCollector, HostConfig};
pub use error::HostError;
pub use source::HostSource;

#[cfg(test)]
mod tests;
