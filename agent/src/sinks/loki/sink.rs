//! The sink task: batch, encode, push with retries, acknowledge.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::encode::{Batch, Plan, encode_json, write_protobuf};
use super::snappy::SnappyWriter;
use super::retry::{Backoff, Class, classify, parse_retry_after};
use super::{Encoding, LokiClient, LokiEndpointConfig};
use crate::logs::{Chunk, LogMetrics, Positions};
use crate::metrics::ComponentTelemetry;

/// How long the sink waits without a chunk before it gives its encoder's buffers back.
const SCRATCH_IDLE: Duration = Duration::from_secs(1);

/// One endpoint's sink.
#[derive(Debug)]
pub struct LokiSink {
    name: String,
    cfg: LokiEndpointConfig,
    client: LokiClient,
    metrics: Arc<LogMetrics>,
    positions: Arc<Positions>,
    buffered: Arc<AtomicU64>,
    streams: HashSet<String>,
    window_started: Instant,
    warned_streams: Option<Instant>,
    spill: Option<Arc<super::SpillQueue>>,
    telemetry: ComponentTelemetry,
    scratch: Scratch,
}

/// The encoder's buffers, kept from one batch to the next: a fresh megabyte per batch costs page
/// faults (the kernel zeroes and maps every page again), which cost more than the encoding.
#[derive(Debug, Default)]
struct Scratch {
    /// Snappy's hash tables, its 64 KiB block and the compressed body (given back after the
    /// push when nothing else holds it).
    snappy: SnappyWriter,
}

impl Scratch {
    /// The protobuf body of `streams`, snappy-compressed as it is written.
    fn protobuf(&mut self, streams: &[(&str, Vec<&crate::logs::LogEntry>)]) -> Option<Vec<u8>> {
        let plan = Plan::of(streams);
        if let Err(e) = self.snappy.begin(plan.total) {
            tracing::error!(error = %e, "encode Loki push");
            return None;
        }
        write_protobuf(streams, &plan, &mut self.snappy);
        match self.snappy.finish() {
            Ok(body) => Some(body),
            Err(e) => {
                tracing::error!(error = %e, "encode Loki push");
                None
            }
        }
    }

    /// Takes back a pushed body's buffer when the push let go of it, unless an unusually
    /// large batch grew it past `keep` bytes.
    fn give_back(&mut self, body: Bytes, keep: usize) {
        if let Ok(m) = body.try_into_mut() {
            let v = Vec::from(m);
            if v.capacity() <= keep {
                self.snappy.give_back(v);
            }
        }
    }

    /// Whether it holds buffers.
    fn held(&self) -> bool {
        self.snappy.held() > 0
    }
}

impl LokiSink {
    /// A sink; `buffered` is shared with the tailers that feed it.
    pub fn new(
        name: &str,
        cfg: LokiEndpointConfig,
        client: LokiClient,
        metrics: Arc<LogMetrics>,
        positions: Arc<Positions>,
        buffered: Arc<AtomicU64>,
    ) -> Self {
        metrics.register_sink(name, cfg.buffer_max_bytes as u64);
        LokiSink {
            name: name.to_string(),
            cfg,
            client,
            metrics,
            positions,
            buffered,
            streams: HashSet::new(),
            window_started: Instant::now(),
            warned_streams: None,
            spill: None,
            telemetry: ComponentTelemetry::default(),
            scratch: Scratch::default(),
        }
    }

    /// Commits delivered records of this spill buffer.
    /// Counts into the sink's `component_*` counters: lines received, sent (stored by Loki),
    /// dropped (refused by Loki or the stream limit); failed pushes as errors.
    pub fn with_telemetry(mut self, t: ComponentTelemetry) -> Self {
        self.telemetry = t;
        self
    }

    pub fn with_spill(mut self, q: Arc<super::SpillQueue>) -> Self {
        self.spill = Some(q);
        self
    }

    /// Runs until every sender is gone (then delivers what it holds) or `shutdown` turns true
    /// (then stops at once; undelivered entries are read again after a restart).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Chunk>, mut shutdown: watch::Receiver<bool>) {
        let wait = Duration::from_millis(self.cfg.batch_wait_ms);
        loop {
            let first = tokio::select! {
                c = rx.recv() => c,
                () = tokio::time::sleep(SCRATCH_IDLE), if self.scratch.held() => {
                    // Idle: the encoder's buffers go back (a burst brings them again).
                    self.scratch = Scratch::default();
                    continue;
                }
                _ = shutdown.changed() => return,
            };
            let Some(first) = first else { return };
            let mut batch = Batch::default();
            batch.add(first);
            let deadline = tokio::time::Instant::now() + wait;
            let mut closed = false;
            while batch.bytes < self.cfg.batch_max_bytes {
                tokio::select! {
                    c = rx.recv() => match c {
                        Some(c) => batch.add(c),
                        None => { closed = true; break; }
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shutdown.changed() => return,
                }
            }
            let held = batch.bytes as u64;
            tokio::select! {
                _ = self.deliver(&batch) => {}
                _ = shutdown.changed() => return,
            }
            for a in &batch.acks {
                self.positions.ack(a.record, a.offset);
            }
            if let (Some(q), Some((segment, offset))) = (&self.spill, batch.spill) {
                let q = Arc::clone(q);
                let c = super::SpillCursor { segment, offset };
                match tokio::task::spawn_blocking(move || q.commit(c)).await {
                    Ok(Err(e)) => tracing::warn!(error = %e, "commit spill buffer cursor"),
                    Err(e) => tracing::warn!(error = %e, "commit spill buffer cursor"),
                    Ok(Ok(())) => {}
                }
            }
            let left = self
                .buffered
                .fetch_sub(held, Ordering::Relaxed)
                .saturating_sub(held);
            self.metrics.buffer(&self.name, left);
            if closed {
                return;
            }
        }
    }

    /// Drops entries of streams beyond the per-tenant limit (counted and logged).
    fn apply_stream_limit(&mut self, batch: &Batch) -> Vec<bool> {
        if self.window_started.elapsed()
            >= Duration::from_secs(self.cfg.stream_limit_window_secs.max(1))
        {
            self.streams.clear();
            self.window_started = Instant::now();
        }
        let mut keep = Vec::with_capacity(batch.len());
        let mut dropped = 0u64;
        let mut last: Option<(*const crate::logs::StreamLabels, bool)> = None;
        for e in batch.entries() {
            let ptr = Arc::as_ptr(&e.stream);
            let ok = match last {
                Some((p, ok)) if p == ptr => ok,
                _ => {
                    let ok = self.streams.contains(&e.stream.rendered)
                        || (self.streams.len() < self.cfg.max_streams
                            && self.streams.insert(e.stream.rendered.clone()));
                    last = Some((ptr, ok));
                    ok
                }
            };
            if !ok {
                dropped += 1;
            }
            keep.push(ok);
        }
        if dropped > 0 {
            self.metrics.dropped("loki", "stream_limit", dropped);
            self.telemetry.dropped(dropped);
            if self
                .warned_streams
                .is_none_or(|t| t.elapsed() > Duration::from_secs(60))
            {
                tracing::warn!(sink = %self.name, max_streams = self.cfg.max_streams, dropped,
                    "per-tenant stream limit reached; entries of new streams are dropped");
                self.warned_streams = Some(Instant::now());
            }
        }
        keep
    }

    fn encode(&mut self, batch: &Batch, keep: &[bool]) -> Option<(Bytes, u64, u64)> {
        let mut streams = batch.streams();
        if keep.iter().any(|k| !k) {
            let allowed: HashSet<&str> = batch
                .entries()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(e, _)| e.stream.rendered.as_str())
                .collect();
            streams.retain(|(s, _)| allowed.contains(s));
        }
        let lines: u64 = streams.iter().map(|(_, v)| v.len() as u64).sum();
        if lines == 0 {
            return None;
        }
        let bytes: u64 = streams
            .iter()
            .flat_map(|(_, v)| v.iter())
            .map(|e| e.line.len() as u64)
            .sum();
        let body = match self.cfg.encoding {
            Encoding::Protobuf => self.scratch.protobuf(&streams)?,
            Encoding::Json => {
                let raw = encode_json(&streams);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&raw).ok()?;
                gz.finish().ok()?
            }
        };
        Some((Bytes::from(body), lines, bytes))
    }

    /// Encodes and pushes a batch.
    async fn deliver(&mut self, batch: &Batch) {
        self.telemetry.received(batch.len() as u64);
        let keep = self.apply_stream_limit(batch);
        let Some((body, lines, bytes)) = self.encode(batch, &keep) else {
            return;
        };
        self.push(batch, &body, lines, bytes).await;
        // A batch overshoots batch_max_bytes by at most one chunk; snappy's worst case is 7/6.
        let keep = 2 * self.cfg.batch_max_bytes.max(64 * 1024) + (1 << 20);
        self.scratch.give_back(body, keep + keep / 4);
    }

    /// Pushes `body` (the encoded `batch`, `lines` lines of `bytes` bytes) until Loki accepts
    /// or refuses it for good.
    async fn push(&mut self, batch: &Batch, body: &Bytes, lines: u64, bytes: u64) {
        let mut backoff = Backoff::new(
            Duration::from_millis(self.cfg.min_backoff_ms),
            Duration::from_millis(self.cfg.max_backoff_ms),
        );
        let mut logged_retry = false;
        loop {
            let start = Instant::now();
            let result = self.client.push(body.clone()).await;
            self.metrics
                .push(&self.name, start.elapsed().as_secs_f64(), body.len());
            let (retry_after, why) = match result {
                Ok(r) => match classify(r.status) {
                    Class::Delivered => {
                        self.metrics.sent(&self.name, lines, bytes);
                        self.telemetry.sent(lines);
                        if logged_retry {
                            tracing::info!(sink = %self.name, "Loki accepts pushes again");
                        }
                        return;
                    }
                    Class::Reject => {
                        // A 400 may be a partial accept: Loki stored the entries its body
                        // does not name as refused.
                        let refused: Vec<(Cow<'static, str>, u64)> = if r.status == 400 {
                            super::read_partial(&r.body, r.complete, lines)
                                .into_iter()
                                .map(|(reason, n)| (Cow::Borrowed(reason), n))
                                .collect()
                        } else {
                            vec![(Cow::Owned(format!("http_{}", r.status)), lines)]
                        };
                        let rejected: u64 = refused.iter().map(|(_, n)| n).sum();
                        let stored = lines - rejected.min(lines);
                        if stored > 0 {
                            self.metrics
                                .sent(&self.name, stored, bytes * stored / lines.max(1));
                            self.telemetry.sent(stored);
                        }
                        for (reason, n) in &refused {
                            self.metrics.rejected(&self.name, reason, *n);
                        }
                        self.telemetry.dropped(rejected);
                        let sample = batch.entries().next().map(|e| {
                            let l: String = e.line.chars().take(512).collect();
                            format!("{} {}", e.stream.rendered, l)
                        });
                        tracing::warn!(sink = %self.name, status = r.status, lines, stored, rejected,
                            response = %r.body.chars().take(1024).collect::<String>(),
                            sample = sample.as_deref().unwrap_or(""),
                            "Loki refused a push (or part of it); not retried, refused lines are counted as rejected");
                        return;
                    }
                    Class::Retry => (
                        r.retry_after.as_deref().and_then(parse_retry_after),
                        format!("http {}", r.status),
                    ),
                },
                Err(e) => (None, e.to_string()),
            };
            self.metrics.retried(&self.name, lines);
            self.telemetry.error();
            let delay = backoff.next(retry_after);
            if !logged_retry {
                tracing::warn!(sink = %self.name, error = %why, delay_ms = delay.as_millis() as u64,
                    "push to Loki failed; retry with backoff (sources stop reading when the buffer fills)");
                logged_retry = true;
            } else {
                tracing::debug!(sink = %self.name, error = %why, delay_ms = delay.as_millis() as u64, "retry push");
            }
            tokio::time::sleep(delay).await;
        }
    }
}
