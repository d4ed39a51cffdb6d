//! The log pipeline's own telemetry (`nodewatch_agent_log_*`, `nodewatch_agent_loki_*`).
//!
//! Label values come from bounded sets: source and sink names from the config, reasons from
//! fixed lists in the code. File paths are never label values: per-file figures are summed per
//! source.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::event::{Family, Histogram, Labels, Metric, MetricKind, Value};

const PUSH_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const BATCH_BUCKETS: [f64; 8] = [
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];

#[derive(Debug, Clone, Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn value(&self, bounds: &[f64]) -> Value {
        let mut buckets: Vec<(f64, f64)> = bounds
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, self.counts.get(i).copied().unwrap_or(0) as f64))
            .collect();
        buckets.push((f64::INFINITY, self.count as f64));
        Value::Histogram(Histogram {
            buckets,
            sum: self.sum,
            count: self.count as f64,
        })
    }
}

#[derive(Debug, Default)]
struct Inner {
    lines_read: BTreeMap<String, u64>,
    bytes_read: BTreeMap<String, u64>,
    lines_sent: BTreeMap<String, u64>,
    bytes_sent: BTreeMap<String, u64>,
    lines_retried: BTreeMap<String, u64>,
    lines_rejected: BTreeMap<(String, String), u64>,
    lines_dropped: BTreeMap<(String, String), u64>,
    malformed: BTreeMap<(String, String), u64>,
    push_duration: BTreeMap<String, Hist>,
    batch_bytes: BTreeMap<String, Hist>,
    buffer_bytes: BTreeMap<String, u64>,
    buffer_limit: BTreeMap<String, u64>,
    behind: BTreeMap<(String, String), u64>,
    pod_api_errors: BTreeMap<String, u64>,
}

/// Counters and gauges of the log sources and the Loki sinks.
#[derive(Debug, Default)]
pub struct LogMetrics {
    inner: Mutex<Inner>,
}

fn bump<K: Ord>(m: &mut BTreeMap<K, u64>, k: K, n: u64) {
    *m.entry(k).or_insert(0) += n;
}

impl LogMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a source's series exist from the start.
    pub fn register_source(&self, source: &str) {
        let mut g = self.lock();
        bump(&mut g.lines_read, source.to_string(), 0);
        bump(&mut g.bytes_read, source.to_string(), 0);
    }

    /// Makes a sink's series exist from the start, with its buffer limit.
    pub fn register_sink(&self, sink: &str, buffer_limit_bytes: u64) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for m in [
            &mut g.lines_sent,
            &mut g.bytes_sent,
            &mut g.lines_retried,
            &mut g.buffer_bytes,
        ] {
            bump(m, sink.to_string(), 0);
        }
        g.buffer_limit.insert(sink.to_string(), buffer_limit_bytes);
        bump(
            &mut g.lines_dropped,
            ("loki".to_string(), "stream_limit".to_string()),
            0,
        );
    }

    /// Lines and bytes a source read.
    pub fn read(&self, source: &str, lines: u64, bytes: u64) {
        let mut g = self.lock();
        bump(&mut g.lines_read, source.to_string(), lines);
        bump(&mut g.bytes_read, source.to_string(), bytes);
    }

    /// Input a source or transform could not parse as expected.
    pub fn malformed(&self, source: &str, reason: &'static str, n: u64) {
        bump(
            &mut self.lock().malformed,
            (source.to_string(), reason.to_string()),
            n,
        );
    }

    /// Failed pod-label lookups against the Kubernetes API, by reason.
    pub fn pod_api_errors(&self, reason: &'static str, n: u64) {
        bump(&mut self.lock().pod_api_errors, reason.to_string(), n);
    }

    /// Lines given up because a bound was hit.
    pub fn dropped(&self, component: &str, reason: &'static str, n: u64) {
        bump(
            &mut self.lock().lines_dropped,
            (component.to_string(), reason.to_string()),
            n,
        );
    }

    /// A push Loki accepted.
    pub fn sent(&self, sink: &str, lines: u64, bytes: u64) {
        let mut g = self.lock();
        bump(&mut g.lines_sent, sink.to_string(), lines);
        bump(&mut g.bytes_sent, sink.to_string(), bytes);
    }

    /// Lines of a push that will be retried.
    pub fn retried(&self, sink: &str, lines: u64) {
        bump(&mut self.lock().lines_retried, sink.to_string(), lines);
    }

    /// Lines Loki refused for good.
    pub fn rejected(&self, sink: &str, reason: &str, lines: u64) {
        bump(
            &mut self.lock().lines_rejected,
            (sink.to_string(), reason.to_string()),
            lines,
        );
    }

    /// One push attempt's duration and compressed size.
    pub fn push(&self, sink: &str, seconds: f64, bytes: usize) {
        let mut g = self.lock();
        g.push_duration
            .entry(sink.to_string())
            .or_default()
            .observe(&PUSH_BUCKETS, seconds);
        g.batch_bytes
            .entry(sink.to_string())
            .or_default()
            .observe(&BATCH_BUCKETS, bytes as f64);
    }

    /// The bound of a buffer that is not a sink's channel (the spill buffer, `<sink>_spill`).
    pub fn buffer_limit(&self, name: &str, bytes: u64) {
        self.lock().buffer_limit.insert(name.to_string(), bytes);
    }

    /// Bytes held between the sources and the sink.
    pub fn buffer(&self, sink: &str, bytes: u64) {
        self.lock().buffer_bytes.insert(sink.to_string(), bytes);
    }

    /// Bytes between a file's read position and its end; `None` forgets the file.
    pub fn behind(&self, source: &str, filename: &str, bytes: Option<u64>) {
        let mut g = self.lock();
        let k = (source.to_string(), filename.to_string());
        match bytes {
            Some(b) => {
                g.behind.insert(k, b);
            }
            None => {
                g.behind.remove(&k);
            }
        }
    }

    /// A counter's value (tests).
    pub fn malformed_count(&self, source: &str, reason: &str) -> u64 {
        let g = self.lock();
        g.malformed
            .get(&(source.to_string(), reason.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Lines sent by `sink` (tests).
    pub fn sent_count(&self, sink: &str) -> u64 {
        self.lock().lines_sent.get(sink).copied().unwrap_or(0)
    }

    /// The families, for `/metrics`.
    pub fn families(&self) -> Vec<Family> {
        let g = self.lock();
        let one =
            |name: &str, help: &str, kind: MetricKind, label: &str, m: &BTreeMap<String, u64>| {
                let mut f = Family::new(name, help, kind);
                for (k, v) in m {
                    f.push(Labels::new().with(label, k.as_str()), *v as f64);
                }
                f
            };
        let two = |name: &str,
                   help: &str,
                   l1: &str,
                   l2: &str,
                   m: &BTreeMap<(String, String), u64>,
                   kind| {
            let mut f = Family::new(name, help, kind);
            for ((a, b), v) in m {
                f.push(
                    Labels::new().with(l1, a.as_str()).with(l2, b.as_str()),
                    *v as f64,
                );
            }
            f
        };
        let hist = |name: &str, help: &str, m: &BTreeMap<String, Hist>, bounds: &[f64]| {
            let mut f = Family::new(name, help, MetricKind::Histogram);
            for (k, h) in m {
                f.metrics.push(Metric {
                    labels: Labels::new().with("sink", k.as_str()),
                    value: h.value(bounds),
                });
            }
            f
        };
        use MetricKind::{Counter, Gauge};
        vec![
            one(
                "nodewatch_agent_log_lines_read_total",
                "Log lines read by a source.",
                Counter,
                "source",
                &g.lines_read,
            ),
            one(
                "nodewatch_agent_log_bytes_read_total",
                "Log bytes read by a source.",
                Counter,
                "source",
                &g.bytes_read,
            ),
            one(
                "nodewatch_agent_log_lines_sent_total",
                "Log lines Loki accepted.",
                Counter,
                "sink",
                &g.lines_sent,
            ),
            one(
                "nodewatch_agent_log_bytes_sent_total",
                "Log line bytes Loki accepted.",
                Counter,
                "sink",
                &g.bytes_sent,
            ),
            one(
                "nodewatch_agent_log_lines_retried_total",
                "Log lines sent again after a 429, 5xx or network error.",
                Counter,
                "sink",
                &g.lines_retried,
            ),
            two(
                "nodewatch_agent_log_lines_rejected_total",
                "Log lines Loki refused with a 4xx other than 429 (not retried).",
                "sink",
                "reason",
                &g.lines_rejected,
                Counter,
            ),
            two(
                "nodewatch_agent_log_lines_dropped_total",
                "Log lines given up because a bound was hit.",
                "component",
                "reason",
                &g.lines_dropped,
                Counter,
            ),
            two(
                "nodewatch_agent_log_malformed_total",
                "Log input that did not parse as its format expects.",
                "source",
                "reason",
                &g.malformed,
                Counter,
            ),
            hist(
                "nodewatch_agent_loki_push_duration_seconds",
                "Duration of one push to Loki.",
                &g.push_duration,
                &PUSH_BUCKETS,
            ),
            hist(
                "nodewatch_agent_loki_batch_bytes",
                "Compressed size of one push to Loki.",
                &g.batch_bytes,
                &BATCH_BUCKETS,
            ),
            one(
                "nodewatch_agent_log_buffer_bytes",
                "Log bytes held between the sources and the sink.",
                Gauge,
                "sink",
                &g.buffer_bytes,
            ),
            one(
                "nodewatch_agent_log_buffer_limit_bytes",
                "The bound of nodewatch_agent_log_buffer_bytes; at the bound the sources stop reading.",
                Gauge,
                "sink",
                &g.buffer_limit,
            ),
            one(
                "nodewatch_agent_log_pod_api_errors_total",
                "Pod-label lookups the Kubernetes API did not answer (the lines ship without them).",
                Counter,
                "reason",
                &g.pod_api_errors,
            ),
            one(
                "nodewatch_agent_log_file_bytes_behind",
                "Bytes between the read positions and the ends of the files a source has open, summed.",
                Gauge,
                "source",
                &behind_by_source(&g.behind),
            ),
        ]
    }
}

/// Sums the per-file figures per source (file paths stay out of the labels).
fn behind_by_source(per_file: &BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for ((source, _file), v) in per_file {
        *out.entry(source.clone()).or_default() += v;
    }
    out
}
