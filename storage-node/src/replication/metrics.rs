//! Replication and recovery metrics, every one labelled `peer` (a configured peer id: a bounded
//! set), plus `storage_node_write_quorum_failures_total`, the write quorum wait histogram
//! `storage_node_write_quorum_wait_seconds` and the replication log's group commit histogram
//! `storage_node_replication_log_appends_per_fsync`. Registered in the node's registry.

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Buckets of `storage_node_replication_log_appends_per_fsync`: powers of two up to the most
/// writers a node serves at once.
pub const APPENDS_PER_FSYNC_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Buckets of the latency histograms of replication (a batch's round trip, a write's wait for its
/// quorum): fine below 10 ms, where a write quorum on one machine answers.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25,
    1.0, 5.0,
];

/// The bounded values of `reason` in `storage_node_replication_errors_total`.
pub const ERROR_REASONS: [&str; 8] = [
    "connect",
    "timeout",
    "auth",
    "peer_4xx",
    "peer_5xx",
    "protocol",
    "local_io",
    "log_corrupt",
];

/// One peer's series, resolved once.
#[derive(Debug, Clone)]
pub struct PeerMetrics {
    pub lag_seconds: Gauge,
    pub pending_entries: IntGauge,
    pub pending_bytes: IntGauge,
    pub shipped_entries: IntCounter,
    pub shipped_bytes: IntCounter,
    errors: IntCounterVec,
    peer: String,
    pub peer_up: IntGauge,
    pub last_ack_timestamp: Gauge,
    pub backlog_full: IntGauge,
    pub backlog_dropped_entries: IntCounter,
    pub recovery_active: IntGauge,
    pub recovery_objects: IntCounter,
    pub recovery_bytes: IntCounter,
    pub recovery_objects_remaining: IntGauge,
    /// From sending a batch to the peer's acknowledgement.
    pub batch_seconds: Histogram,
}

impl PeerMetrics {
    /// Counts an error; `reason` must be one of [`ERROR_REASONS`].
    pub fn error(&self, reason: &'static str) {
        self.errors
            .with_label_values(&[self.peer.as_str(), reason])
            .inc();
    }
}

/// The families.
#[derive(Debug, Clone)]
pub struct ReplicationMetrics {
    lag_seconds: GaugeVec,
    pending_entries: IntGaugeVec,
    pending_bytes: IntGaugeVec,
    shipped_entries: IntCounterVec,
    shipped_bytes: IntCounterVec,
    errors: IntCounterVec,
    peer_up: IntGaugeVec,
    last_ack_timestamp: GaugeVec,
    backlog_full: IntGaugeVec,
    backlog_dropped_entries: IntCounterVec,
    recovery_active: IntGaugeVec,
    recovery_objects: IntCounterVec,
    recovery_bytes: IntCounterVec,
    recovery_objects_remaining: IntGaugeVec,
    batch_seconds: HistogramVec,
    pub write_quorum_failures: IntCounter,
    /// From a local write being durable here to its write quorum holding it (quorum > 1 only).
    pub write_quorum_wait: Histogram,
    /// Records each replication log fsync made durable (one observation per group commit).
    pub log_appends_per_fsync: Histogram,
}

fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl ReplicationMetrics {
    /// Registers the families in `registry` (a private one when instrumentation is off).
    pub fn new(registry: Option<&Registry>) -> Self {
        let scratch = Registry::new();
        let r = registry.unwrap_or(&scratch);
        let p = &["peer"];
        let gv = |name: &str, help: &str| {
            reg(
                r,
                GaugeVec::new(Opts::new(name, help), p).expect("static metric definition"),
            )
        };
        let igv = |name: &str, help: &str| {
            reg(
                r,
                IntGaugeVec::new(Opts::new(name, help), p).expect("static metric definition"),
            )
        };
        let icv = |name: &str, help: &str| {
            reg(
                r,
                IntCounterVec::new(Opts::new(name, help), p).expect("static metric definition"),
            )
        };
        ReplicationMetrics {
            lag_seconds: gv(
                "storage_node_replication_lag_seconds",
                "Age of the oldest write not yet acknowledged by the peer; 0 when caught up.",
            ),
            pending_entries: igv(
                "storage_node_replication_pending_entries",
                "Logged writes the peer has not acknowledged.",
            ),
            pending_bytes: igv(
                "storage_node_replication_pending_bytes",
                "Object bytes of the writes the peer has not acknowledged.",
            ),
            shipped_entries: icv(
                "storage_node_replication_shipped_entries_total",
                "Writes shipped to the peer and acknowledged.",
            ),
            shipped_bytes: icv(
                "storage_node_replication_shipped_bytes_total",
                "Object bytes shipped to the peer and acknowledged.",
            ),
            errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "storage_node_replication_errors_total",
                        "Failed shipping or recovery requests, by reason.",
                    ),
                    &["peer", "reason"],
                )
                .expect("static metric definition"),
            ),
            peer_up: igv(
                "storage_node_replication_peer_up",
                "1 when the peer's last answer was a success, as the shipper sees it.",
            ),
            last_ack_timestamp: gv(
                "storage_node_replication_last_ack_timestamp_seconds",
                "When the peer last acknowledged a batch, Unix time.",
            ),
            backlog_full: igv(
                "storage_node_replication_backlog_full",
                "1 when the peer's backlog hit its bound: writes are no longer kept for it and recovery will repair it.",
            ),
            backlog_dropped_entries: icv(
                "storage_node_replication_backlog_dropped_entries_total",
                "Logged writes not kept for the peer because its backlog was full (recovery repairs them).",
            ),
            recovery_active: igv(
                "storage_node_recovery_active",
                "1 while a recovery (backfill) pass to the peer runs.",
            ),
            recovery_objects: icv(
                "storage_node_recovery_objects_total",
                "Objects and tombstones sent to the peer by recovery.",
            ),
            recovery_bytes: icv(
                "storage_node_recovery_bytes_total",
                "Object bytes sent to the peer by recovery.",
            ),
            recovery_objects_remaining: igv(
                "storage_node_recovery_objects_remaining",
                "Objects the running recovery pass has still to compare or send.",
            ),
            batch_seconds: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "storage_node_replication_batch_seconds",
                        "From sending a batch of writes to the peer to its acknowledgement (the peer applied it durably).",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    p,
                )
                .expect("static metric definition"),
            ),
            write_quorum_wait: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "storage_node_write_quorum_wait_seconds",
                        "How long a local write, durable here, waited for its write quorum (only with --write-quorum above 1).",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .expect("static metric definition"),
            ),
            write_quorum_failures: reg(
                r,
                IntCounter::new(
                    "storage_node_write_quorum_failures_total",
                    "Writes answered 503 because their write quorum was not reached in time.",
                )
                .expect("static metric definition"),
            ),
            log_appends_per_fsync: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "storage_node_replication_log_appends_per_fsync",
                        "Replication log records made durable by one fsync (group commit): one observation per fsync.",
                    )
                    .buckets(APPENDS_PER_FSYNC_BUCKETS.to_vec()),
                )
                .expect("static metric definition"),
            ),
        }
    }

    /// The series of one peer, created at zero so they are exported from the start.
    pub fn peer(&self, peer: &str) -> PeerMetrics {
        let l = &[peer];
        for reason in ERROR_REASONS {
            self.errors.with_label_values(&[peer, reason]);
        }
        PeerMetrics {
            lag_seconds: self.lag_seconds.with_label_values(l),
            pending_entries: self.pending_entries.with_label_values(l),
            pending_bytes: self.pending_bytes.with_label_values(l),
            shipped_entries: self.shipped_entries.with_label_values(l),
            shipped_bytes: self.shipped_bytes.with_label_values(l),
            errors: self.errors.clone(),
            peer: peer.to_owned(),
            peer_up: self.peer_up.with_label_values(l),
            last_ack_timestamp: self.last_ack_timestamp.with_label_values(l),
            backlog_full: self.backlog_full.with_label_values(l),
            backlog_dropped_entries: self.backlog_dropped_entries.with_label_values(l),
            recovery_active: self.recovery_active.with_label_values(l),
            recovery_objects: self.recovery_objects.with_label_values(l),
            recovery_bytes: self.recovery_bytes.with_label_values(l),
            recovery_objects_remaining: self.recovery_objects_remaining.with_label_values(l),
            batch_seconds: self.batch_seconds.with_label_values(l),
        }
    }
}
