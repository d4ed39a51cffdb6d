//! The ceph source's configuration.

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, Schedule, in_range};

/// `[sources.ceph]`: Ceph daemons' admin sockets (off by default).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CephConfig {
    /// Whether the source runs.
    #[serde(default)]
    pub enabled: bool,
    /// The admin sockets: a directory and a file-name pattern (`*` and `?`), e.g.
    /// `/var/run/ceph/*.asok`.
    #[serde(default = "default_socket_glob")]
    pub socket_glob: String,
    /// Seconds between collections.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one whole collection may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long one admin-socket request (connect, send, reply) may take.
    #[serde(default = "default_socket_timeout_ms")]
    pub socket_timeout_ms: u64,
    /// The largest reply accepted.
    #[serde(default = "default_max_reply_bytes")]
    pub max_reply_bytes: usize,
    /// The most sockets read (more matches are cut, and the cut is logged).
    #[serde(default = "default_max_sockets")]
    pub max_sockets: usize,
    /// How many sockets are read at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// Counters below this priority are left out (ceph-exporter's `exporter_prio_limit`).
    #[serde(default = "default_prio_limit")]
    pub prio_limit: i64,
    /// The most series this source may hand to the store.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

impl Default for CephConfig {
    fn default() -> Self {
        CephConfig {
            enabled: false,
            socket_glob: default_socket_glob(),
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            socket_timeout_ms: default_socket_timeout_ms(),
            max_reply_bytes: default_max_reply_bytes(),
            max_sockets: default_max_sockets(),
            max_parallel: default_max_parallel(),
            prio_limit: default_prio_limit(),
            max_series: default_max_series(),
        }
    }
}

fn default_socket_glob() -> String {
    "/var/run/ceph/*.asok".to_string()
}
fn default_interval_secs() -> u64 {
    30
}
fn default_timeout_ms() -> u64 {
    20_000
}
fn default_socket_timeout_ms() -> u64 {
    5_000
}
fn default_max_reply_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_max_sockets() -> usize {
    128
}
fn default_max_parallel() -> usize {
    8
}
fn default_prio_limit() -> i64 {
    5
}
fn default_max_series() -> usize {
    50_000
}

impl crate::component::Component for CephConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        Schedule::validate(self.interval_secs, self.timeout_ms, self.max_series)?;
        Schedule::validate_part_timeout(
            "socket_timeout_ms",
            self.socket_timeout_ms,
            self.timeout_ms,
        )?;
        if let Err(e) = super::split_glob(&self.socket_glob) {
            return Err(ComponentError::new("socket_glob", e.to_string()));
        }
        if self.max_reply_bytes < 1024 || self.max_reply_bytes > 1024 * 1024 * 1024 {
            return Err(ComponentError::new(
                "max_reply_bytes",
                "must be between 1024 and 1 GiB",
            ));
        }
        in_range("max_sockets", self.max_sockets, 1..=4096)?;
        in_range("max_parallel", self.max_parallel, 1..=64)?;
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if !self.enabled {
            return Ok(());
        }
        let source = super::CephSource::new(self, std::sync::Arc::clone(ctx.metrics()));
        ctx.add_collected(source, self.interval_secs, self.timeout_ms, self.max_series)
    }
}
