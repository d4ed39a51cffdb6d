//! Every metric the storage node exports, behind typed methods. Names use the `storage_node_` prefix
//! and base units; latency semantics follow Ceph's `ceph_osd_op_r_latency`/`op_w_latency` (whole op),
//! `commit_latency` (making it durable) and `apply_latency` (making it visible).
//!
//! Label values come from bounded sets only: [`Op`], [`Outcome`] and S3 error codes known to `s3s`.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The kind of an S3 request, as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Put,
    Delete,
    List,
    Head,
    Multipart,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Get,
        Op::Put,
        Op::Delete,
        Op::List,
        Op::Head,
        Op::Multipart,
    ];

    /// Position in [`Op::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::List => "list",
            Op::Head => "head",
            Op::Multipart => "multipart",
        }
    }

    /// The name of the op's trace span.
    pub fn span_name(self) -> &'static str {
        match self {
            Op::Get => "s3.get",
            Op::Put => "s3.put",
            Op::Delete => "s3.delete",
            Op::List => "s3.list",
            Op::Head => "s3.head",
            Op::Multipart => "s3.multipart",
        }
    }
}

/// How an op ended, from its HTTP status (or the client going away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    ClientError,
    ServerError,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::ClientError, Outcome::ServerError];

    pub fn from_status(status: u16) -> Self {
        match status {
            500.. => Outcome::ServerError,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Success,
        }
    }

    /// Position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}

/// The storage node's metrics. With instrumentation off every method returns at once (for the
/// overhead benchmark); the registry then holds only build info.
#[derive(Debug)]
pub struct Metrics {
    enabled: bool,
    registry: Registry,
    /// One child per (op, outcome), resolved once: no label hashing on the request path.
    op_latency: Vec<Histogram>,
    commit_latency: Histogram,
    apply_latency: Histogram,
    ops_in_flight: IntGauge,
    slow_ops: IntGauge,
    slow_ops_total: IntCounter,
    read_bytes: IntCounter,
    written_bytes: IntCounter,
    buckets: IntGauge,
    objects: IntGauge,
    stored_bytes: IntGauge,
    capacity_bytes: IntGauge,
    free_bytes: IntGauge,
    checksum_errors: IntCounter,
    scrub_objects: IntCounter,
    scrub_bytes: IntCounter,
    scrub_errors: IntCounter,
    scrub_progress: Gauge,
    scrub_last_completed: Gauge,
    request_errors: IntCounterVec,
    connection_refusals: IntCounterVec,
    group_commit_batch: Histogram,
    log_reclaimable: IntGauge,
    log_compactions: IntCounter,
    log_compaction_duration: Histogram,
}

/// Buckets of `storage_node_group_commit_batch_size`: writes covered by one fsync.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Listeners and reasons of `storage_node_http_connection_refusals_total` (bounded label sets).
pub const LISTENERS: [&str; 2] = ["s3", "admin"];
pub const REFUSAL_REASONS: [&str; 4] = [
    "request_header_fields_too_large",
    "uri_too_long",
    "header_timeout",
    "idle_timeout",
];

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn float_gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
        .expect("static metric definition");
    registry
        .register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl Metrics {
    /// Builds the registry. Metric definitions are static, so registration cannot fail at run time.
    pub fn new(enabled: bool, node_id: &str) -> Self {
        let registry = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new(
                "storage_node_build_info",
                "Build information; the value is always 1.",
            ),
            &["version", "node_id"],
        )
        .expect("static metric definition");
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), node_id])
            .set(1);
        registry
            .register(Box::new(build))
            .expect("metric registered once");

        // A second registry holds the series when instrumentation is off, so nothing is exported.
        let scratch = Registry::new();
        let reg = if enabled { &registry } else { &scratch };
        if enabled {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            registry
                .register(Box::new(process))
                .expect("metric registered once");
        }
        let op_latency = HistogramVec::new(
            HistogramOpts::new(
                "storage_node_op_latency_seconds",
                "Time from request arrival to the end of the response body, by op and outcome.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op", "outcome"],
        )
        .expect("static metric definition");
        reg.register(Box::new(op_latency.clone()))
            .expect("metric registered once");
        let op_latency_children = Op::ALL
            .iter()
            .flat_map(|op| Outcome::ALL.iter().map(move |o| (op, o)))
            .map(|(op, outcome)| op_latency.with_label_values(&[op.as_str(), outcome.as_str()]))
            .collect();
        let request_errors = IntCounterVec::new(
            Opts::new(
                "storage_node_request_errors_total",
                "S3 error responses, by S3 error code.",
            ),
            &["code"],
        )
        .expect("static metric definition");
        reg.register(Box::new(request_errors.clone()))
            .expect("metric registered once");
        let connection_refusals = IntCounterVec::new(
            Opts::new(
                "storage_node_http_connection_refusals_total",
                "Requests and connections the HTTP server refused or closed before S3: 431, 414, header and idle timeouts."),
            &["listener", "reason"],
        )
        .expect("static metric definition");
        reg.register(Box::new(connection_refusals.clone()))
            .expect("metric registered once");
        for l in LISTENERS {
            for r in REFUSAL_REASONS {
                connection_refusals.with_label_values(&[l, r]);
            }
        }

        Metrics {
            enabled,
            op_latency: op_latency_children,
            commit_latency: histogram(
                reg,
                "storage_node_commit_latency_seconds",
                "Time to make a write durable: fsync of the object file and of its directory, or the wait for the small-object log's group fsync that covers it.",
            ),
            apply_latency: histogram(
                reg,
                "storage_node_apply_latency_seconds",
                "Time to apply a write to the file system: writing the bytes and renaming into place.",
            ),
            ops_in_flight: gauge(
                reg,
                "storage_node_ops_in_flight",
                "S3 requests being served.",
            ),
            slow_ops: gauge(
                reg,
                "storage_node_slow_ops",
                "S3 requests in flight for longer than the slow-op threshold.",
            ),
            slow_ops_total: counter(
                reg,
                "storage_node_slow_ops_total",
                "S3 requests that ended after taking longer than the slow-op threshold.",
            ),
            read_bytes: counter(
                reg,
                "storage_node_read_bytes_total",
                "Object bytes sent to clients.",
            ),
            written_bytes: counter(
                reg,
                "storage_node_written_bytes_total",
                "Object bytes received and stored.",
            ),
            buckets: gauge(reg, "storage_node_buckets", "Buckets stored."),
            objects: gauge(reg, "storage_node_objects", "Objects stored."),
            stored_bytes: gauge(
                reg,
                "storage_node_stored_bytes",
                "Bytes of object data stored.",
            ),
            capacity_bytes: gauge(
                reg,
                "storage_node_capacity_bytes",
                "Size of the file system holding the data directory.",
            ),
            free_bytes: gauge(
                reg,
                "storage_node_free_bytes",
                "Bytes available to the node on that file system.",
            ),
            checksum_errors: counter(
                reg,
                "storage_node_checksum_errors_total",
                "Stored data whose CRC32C did not match, found by a read or by the scrubber.",
            ),
            scrub_objects: counter(
                reg,
                "storage_node_scrub_objects_total",
                "Objects verified by the scrubber.",
            ),
            scrub_bytes: counter(
                reg,
                "storage_node_scrub_bytes_total",
                "Bytes verified by the scrubber.",
            ),
            scrub_errors: counter(
                reg,
                "storage_node_scrub_errors_total",
                "Objects the scrubber found damaged or unreadable.",
            ),
            scrub_progress: float_gauge(
                reg,
                "storage_node_scrub_progress_ratio",
                "Fraction of the current scrub pass done.",
            ),
            scrub_last_completed: float_gauge(
                reg,
                "storage_node_scrub_last_completed_timestamp_seconds",
                "When the last full scrub pass ended, Unix time.",
            ),
            request_errors,
            connection_refusals,
            group_commit_batch: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "storage_node_group_commit_batch_size",
                        "Writes made durable by one fsync of the small-object log (group commit).",
                    )
                    .buckets(BATCH_BUCKETS.to_vec()),
                )
                .expect("static metric definition");
                reg.register(Box::new(h.clone()))
                    .expect("metric registered once");
                h
            },
            log_reclaimable: gauge(
                reg,
                "storage_node_small_log_reclaimable_bytes",
                "Bytes of dead records (overwritten or deleted objects) in the small-object log.",
            ),
            log_compactions: counter(
                reg,
                "storage_node_small_log_compaction_runs_total",
                "Compaction runs of the small-object log.",
            ),
            log_compaction_duration: histogram(
                reg,
                "storage_node_small_log_compaction_duration_seconds",
                "Time one compaction run of the small-object log took.",
            ),
            registry,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The exported registry, for modules that keep their own metrics (replication); `None` with
    /// instrumentation off.
    pub fn registry(&self) -> Option<&Registry> {
        self.enabled.then_some(&self.registry)
    }

    /// Renders the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encode metrics");
        }
        out
    }

    pub fn observe_op(&self, op: Op, outcome: Outcome, seconds: f64) {
        if self.enabled {
            self.op_latency[op.index() * Outcome::ALL.len() + outcome.index()].observe(seconds);
        }
    }

    pub fn observe_commit(&self, seconds: f64) {
        if self.enabled {
            self.commit_latency.observe(seconds);
        }
    }

    pub fn observe_apply(&self, seconds: f64) {
        if self.enabled {
            self.apply_latency.observe(seconds);
        }
    }

    pub fn op_started(&self) {
        if self.enabled {
            self.ops_in_flight.inc();
        }
    }

    /// Records the end of an op; `slow` when it outlived the slow-op threshold.
    pub fn op_ended(&self, slow: bool) {
        if self.enabled {
            self.ops_in_flight.dec();
            if slow {
                self.slow_ops_total.inc();
            }
        }
    }

    pub fn set_slow_ops(&self, n: usize) {
        if self.enabled {
            self.slow_ops.set(n as i64);
        }
    }

    pub fn add_read_bytes(&self, n: u64) {
        if self.enabled {
            self.read_bytes.inc_by(n);
        }
    }

    pub fn add_written_bytes(&self, n: u64) {
        if self.enabled {
            self.written_bytes.inc_by(n);
        }
    }

    pub fn set_stored(&self, stats: crate::store::StoreStats) {
        if self.enabled {
            self.buckets.set(stats.buckets as i64);
            self.objects.set(stats.objects as i64);
            self.stored_bytes.set(stats.stored_bytes as i64);
        }
    }

    pub fn set_capacity(&self, total: u64, free: u64) {
        if self.enabled {
            self.capacity_bytes.set(total as i64);
            self.free_bytes.set(free as i64);
        }
    }

    /// One group fsync of the small-object log covered `writes` appends.
    pub fn observe_group_commit(&self, writes: usize) {
        if self.enabled {
            self.group_commit_batch.observe(writes as f64);
        }
    }

    pub fn set_log_reclaimable(&self, bytes: u64) {
        if self.enabled {
            self.log_reclaimable.set(bytes as i64);
        }
    }

    /// A compaction run of the small-object log ended after `seconds`.
    pub fn observe_compaction(&self, seconds: f64) {
        if self.enabled {
            self.log_compactions.inc();
            self.log_compaction_duration.observe(seconds);
        }
    }

    pub fn checksum_error(&self) {
        if self.enabled {
            self.checksum_errors.inc();
        }
    }

    pub fn scrubbed(&self, bytes: u64) {
        if self.enabled {
            self.scrub_objects.inc();
            self.scrub_bytes.inc_by(bytes);
        }
    }

    pub fn scrub_error(&self) {
        if self.enabled {
            self.scrub_errors.inc();
        }
    }

    pub fn set_scrub_progress(&self, ratio: f64) {
        if self.enabled {
            self.scrub_progress.set(ratio);
        }
    }

    pub fn scrub_completed(&self, unix_seconds: f64) {
        if self.enabled {
            self.scrub_last_completed.set(unix_seconds);
            self.scrub_progress.set(1.0);
        }
    }

    /// Counts a request or connection the HTTP server refused; both come from the consts above.
    pub fn connection_refused(&self, listener: &'static str, reason: &'static str) {
        if self.enabled {
            self.connection_refusals
                .with_label_values(&[listener, reason])
                .inc();
        }
    }

    /// Counts an S3 error response. `code` must come from a bounded set (see `http::metered`).
    pub fn request_error(&self, code: &str) {
        if self.enabled {
            self.request_errors.with_label_values(&[code]).inc();
        }
    }
}

#[cfg(test)]
mod tests;
