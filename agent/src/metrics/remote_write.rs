//! The remote_write sink's own telemetry (`nodewatch_agent_remote_write_*{url}`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::ComponentTelemetry;
use crate::event::{Family, Labels};

/// The remote_write sink's counters and gauges (`nodewatch_agent_remote_write_*`), and its
/// `component_*` handle; the sink updates the fields directly.
#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    /// Samples the receiver accepted.
    pub sent: AtomicU64,
    /// Samples sent again after a 5xx, 429 or network error.
    pub retried: AtomicU64,
    /// Samples refused with a non-retryable 4xx.
    pub failed: AtomicU64,
    /// Samples dropped before delivery.
    pub dropped: AtomicU64,
    /// Bytes of the WAL on disk.
    pub wal_bytes: AtomicU64,
    /// Segment files of the WAL.
    pub wal_segments: AtomicU64,
    /// Samples in the WAL not yet delivered.
    pub pending: AtomicU64,
    /// Shards that sent in the last window.
    pub shards: AtomicUsize,
    /// When a request last succeeded (f64 bits).
    pub last_send: AtomicU64,
    /// The newest sample timestamp accepted (f64 bits).
    pub highest_sent: AtomicU64,
    /// The `component_*` counters (samples; a failed request is an error).
    pub telemetry: ComponentTelemetry,
}

impl RemoteWriteMetrics {
    /// Zeroed counters that also count into `telemetry`.
    pub fn new(telemetry: ComponentTelemetry) -> Self {
        RemoteWriteMetrics {
            telemetry,
            ..RemoteWriteMetrics::default()
        }
    }

    /// The families, labelled with the receiver's `url`.
    pub fn families(&self, url: &str) -> Vec<Family> {
        let l = || Labels::new().with("url", url);
        // Full names, so that a search for a name finds where it is made.
        let f = |name: &'static str, help: &str, counter: bool, v: f64| {
            let fam = if counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            fam.with(l(), v)
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        vec![
            f(
                "nodewatch_agent_remote_write_samples_sent_total",
                "Samples the receiver accepted.",
                true,
                get(&self.sent),
            ),
            f(
                "nodewatch_agent_remote_write_samples_retried_total",
                "Samples sent again after a 5xx, 429 or network error.",
                true,
                get(&self.retried),
            ),
            f(
                "nodewatch_agent_remote_write_samples_failed_total",
                "Samples the receiver refused with a non-retryable 4xx.",
                true,
                get(&self.failed),
            ),
            f(
                "nodewatch_agent_remote_write_samples_dropped_total",
                "Samples dropped before delivery: WAL bound hit, append queue full, or WAL write failed.",
                true,
                get(&self.dropped),
            ),
            f(
                "nodewatch_agent_remote_write_wal_bytes",
                "Bytes of the remote_write WAL on disk.",
                false,
                get(&self.wal_bytes),
            ),
            f(
                "nodewatch_agent_remote_write_wal_segments",
                "Segment files of the remote_write WAL.",
                false,
                get(&self.wal_segments),
            ),
            f(
                "nodewatch_agent_remote_write_pending_samples",
                "Samples in the WAL not yet delivered.",
                false,
                get(&self.pending),
            ),
            f(
                "nodewatch_agent_remote_write_shards",
                "Shards that sent in the last window.",
                false,
                self.shards.load(Ordering::Relaxed) as f64,
            ),
            f(
                "nodewatch_agent_remote_write_last_send_timestamp_seconds",
                "When a request last succeeded.",
                false,
                f64::from_bits(self.last_send.load(Ordering::Relaxed)),
            ),
            f(
                "nodewatch_agent_remote_write_highest_sent_timestamp_seconds",
                "The newest sample timestamp the receiver accepted.",
                false,
                f64::from_bits(self.highest_sent.load(Ordering::Relaxed)),
            ),
        ]
    }
}
