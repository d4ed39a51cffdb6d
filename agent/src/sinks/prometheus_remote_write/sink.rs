//! The running sink: an appender task (collections -> WAL, fsynced) and a sender task (WAL ->
//! shards -> receiver -> ack).
//!
//! **Sending.** The sender reads a window of records from the WAL cursor, splits their series
//! over `max_shards` shards by a stable label hash, and sends each shard's part in requests of at
//! most `max_samples_per_send` samples, the shards in parallel. A request is retried (backoff
//! doubling from `min_backoff_ms` to `max_backoff_ms`, full jitter on the upper half, or the
//! receiver's `Retry-After`) on 5xx, 429 and network errors for as long as it takes; another 4xx
//! is counted as failed and not retried. The WAL cursor moves past the window only when every
//! request of it is done, so a crash or an outage re-sends, never loses.
//!
//! **After a restart.** Records that were in the WAL when the sink started may have been sent
//! (partly) before the crash. They are sent one record per window: then each request holds
//! samples of one collection and one shard, so it is either all already stored (the receiver
//! answers 400 "out of order", counted as failed, nothing lost) or all new, never a mix that a
//! receiver would reject as a whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::client::{Client, Conn, SendOutcome};
use super::config::RemoteWriteConfig;
use super::encode;
use super::proto::TimeSeries;
use crate::buffer::{Cursor, DiskQueue};
use crate::component::{BuildContext, ComponentError};
use crate::event::Family;
use crate::metrics::{FamilySource, RemoteWriteMetrics};
use crate::store::PutListener;

/// The WAL's directory under the data directory.
const WAL_DIR: &str = "remote_write";
/// Records read at once outside replay.
const WINDOW_RECORDS: usize = 256;
/// Bytes read at once.
const WINDOW_BYTES: u64 = 16 * 1024 * 1024;
/// How often an idle sender looks at the WAL even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

struct Job {
    families: Arc<Vec<Family>>,
    ts_ms: i64,
}

/// The remote_write sink. Feed it with [`PutListener::on_put`]; read its metrics with
/// [`FamilySource::families`].
pub struct RemoteWrite {
    url: String,
    tx: mpsc::Sender<Job>,
    stats: Arc<RemoteWriteMetrics>,
}

impl std::fmt::Debug for RemoteWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWrite")
            .field("url", &self.url)
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Shared {
    cfg: RemoteWriteConfig,
    external: Vec<(String, String)>,
    queue: DiskQueue,
    /// Set on shutdown: a blocked append (`wal_when_full = "block"`) gives up.
    stop: AtomicBool,
    notify: Notify,
    stats: Arc<RemoteWriteMetrics>,
    client: Client,
}

impl Shared {
    fn refresh_gauges(&self) {
        let q = &self.queue;
        self.stats
            .wal_bytes
            .store(q.total_bytes(), Ordering::Relaxed);
        self.stats
            .wal_segments
            .store(q.segment_count() as u64, Ordering::Relaxed);
        self.stats
            .pending
            .store(q.pending_weight(), Ordering::Relaxed);
    }
}

impl RemoteWrite {
    /// Opens the WAL, `<data_dir>/remote_write` (recovering it), and the receiver's client, both
    /// from `ctx`, and starts the appender and the sender. They stop when `ctx`'s shutdown
    /// signal turns true; the tasks are returned for the caller to wait on.
    pub fn start(
        cfg: &RemoteWriteConfig,
        ctx: &mut BuildContext,
    ) -> Result<(Arc<RemoteWrite>, Vec<JoinHandle<()>>), ComponentError> {
        let url = cfg.url.clone().unwrap_or_default();
        let client = Client::new(ctx.http_client(&cfg.client_config())?);
        let (queue, report) = ctx.disk_queue(
            WAL_DIR,
            cfg.wal_when_full,
            cfg.wal_limits(),
            encode::record_samples,
        )?;
        tracing::info!(
            url = %url,
            wal = %ctx.data_dir().join(WAL_DIR).display(),
            pending_samples = report.pending_weight,
            segments = report.segments,
            cut_bytes = report.truncated_bytes,
            "remote_write WAL open"
        );
        let (shutdown, telemetry) = (ctx.shutdown(), ctx.telemetry());
        let stats = Arc::new(RemoteWriteMetrics::new(telemetry));
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            external: cfg
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            queue,
            stop: AtomicBool::new(false),
            notify: Notify::new(),
            stats: Arc::clone(&stats),
            client,
        });
        shared.refresh_gauges();
        let (tx, rx) = mpsc::channel(cfg.queue_capacity);
        let span = tracing::info_span!("remote_write", url = %url);
        let stopper = {
            let (sh, mut sd) = (Arc::clone(&shared), shutdown.clone());
            async move {
                let _ = sd.wait_for(|stop| *stop).await;
                sh.stop.store(true, Ordering::Relaxed);
            }
        };
        let tasks = vec![
            tokio::spawn(stopper),
            tokio::spawn(
                appender(Arc::clone(&shared), rx, shutdown.clone()).instrument(span.clone()),
            ),
            tokio::spawn(sender(shared, shutdown).instrument(span)),
        ];
        Ok((Arc::new(RemoteWrite { url, tx, stats }), tasks))
    }

    /// Queues one collection (non-blocking); when the queue is full it is dropped and counted.
    pub fn enqueue(&self, families: Arc<Vec<Family>>, ts_ms: i64) {
        let samples: usize = families.iter().map(Family::series_count).sum();
        if samples == 0 {
            return;
        }
        self.stats.telemetry.received(samples as u64);
        if let Err(e) = self.tx.try_send(Job { families, ts_ms }) {
            self.stats
                .dropped
                .fetch_add(samples as u64, Ordering::Relaxed);
            self.stats.telemetry.dropped(samples as u64);
            tracing::warn!(samples, error = %e, "remote_write append queue full or closed; drop a collection");
        }
    }

    /// Samples sent, retried, failed, dropped (for tests).
    pub fn counts(&self) -> [u64; 4] {
        let s = &self.stats;
        [
            s.sent.load(Ordering::Relaxed),
            s.retried.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
        ]
    }

    /// Samples in the WAL not yet delivered.
    pub fn pending(&self) -> u64 {
        self.stats.pending.load(Ordering::Relaxed)
    }
}

impl PutListener for RemoteWrite {
    fn on_put(&self, _source: &str, families: &Arc<Vec<Family>>) {
        self.enqueue(Arc::clone(families), now_ms());
    }
}

impl FamilySource for RemoteWrite {
    fn families(&self) -> Vec<Family> {
        self.stats.families(&self.url)
    }
}

/// Writes queued collections to the WAL, one fsynced append per collection.
async fn appender(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let job = tokio::select! {
            j = rx.recv() => match j { Some(j) => j, None => break },
            _ = shutdown.changed() => {
                // Write what is already queued, then stop.
                while let Ok(j) = rx.try_recv() {
                    append_one(&shared, j).await;
                }
                break;
            }
        };
        append_one(&shared, job).await;
    }
}

async fn append_one(shared: &Arc<Shared>, job: Job) {
    let sh = Arc::clone(shared);
    let res = tokio::task::spawn_blocking(move || {
        let series = encode::families_to_series(&job.families, job.ts_ms, &sh.external);
        let n = series.len() as u64;
        let record = match encode::encode_record(series, job.ts_ms) {
            Ok(r) => r,
            Err(e) => return (n, Err(e.to_string())),
        };
        let r = sh.queue.append(&[record], &sh.stop, || {
            tracing::warn!(
                "remote_write WAL full (receiver slow or down); collections wait in the append queue"
            );
        });
        sh.refresh_gauges();
        match r {
            Ok(report) => {
                if report.dropped_weight > 0 {
                    sh.stats
                        .dropped
                        .fetch_add(report.dropped_weight, Ordering::Relaxed);
                    sh.stats.telemetry.dropped(report.dropped_weight);
                }
                (n, Ok(()))
            }
            Err(e) => (n, Err(e.to_string())),
        }
    })
    .await;
    match res {
        Ok((_, Ok(()))) => shared.notify.notify_one(),
        Ok((n, Err(e))) => {
            shared.stats.dropped.fetch_add(n, Ordering::Relaxed);
            shared.stats.telemetry.dropped(n);
            tracing::error!(error = %e, samples = n, "append a collection to the remote_write WAL; dropped");
        }
        Err(e) => tracing::error!(error = %e, "remote_write append task"),
    }
}

/// Why a window stopped early.
struct Stopped;

/// Reads windows from the WAL and delivers them.
async fn sender(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let (mut cursor, replay_end) = (shared.queue.ack_cursor(), shared.queue.end_cursor());
    let shards = shared.cfg.max_shards;
    let mut conns: Vec<Option<Conn>> = (0..shards).map(|_| None).collect();
    let deadline_ms = shared.cfg.batch_send_deadline_ms as i64;
    let full = shared.cfg.max_samples_per_send * shards;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let replay = cursor < replay_end;
        let max_records = if replay { 1 } else { WINDOW_RECORDS };
        let sh = Arc::clone(&shared);
        let read =
            tokio::task::spawn_blocking(move || sh.queue.read(cursor, max_records, WINDOW_BYTES))
                .await;
        let batch = match read {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "read the remote_write WAL");
                if wait(&shared, &mut shutdown, IDLE_POLL).await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "remote_write read task");
                return;
            }
        };
        if batch.records.is_empty() {
            if batch.next != cursor {
                // Only damaged bytes were skipped; acknowledge them away.
                ack(&shared, batch.next, 0).await;
                cursor = batch.next;
                continue;
            }
            if wait(&shared, &mut shutdown, IDLE_POLL).await.is_err() {
                return;
            }
            continue;
        }
        let samples: u64 = batch
            .records
            .iter()
            .map(|r| encode::record_samples(r))
            .sum();
        let oldest = batch
            .records
            .first()
            .and_then(|r| encode::record_timestamp_ms(r))
            .unwrap_or(0);
        let age = now_ms() - oldest;
        if !replay && (samples as usize) < full && age < deadline_ms {
            // Wait for a fuller window, at most until the oldest sample's deadline.
            let left = Duration::from_millis((deadline_ms - age).max(1) as u64);
            if wait(&shared, &mut shutdown, left).await.is_err() {
                return;
            }
            continue;
        }
        let mut per_shard: Vec<Vec<TimeSeries>> = (0..shards).map(|_| Vec::new()).collect();
        let mut highest = 0i64;
        for r in &batch.records {
            match encode::decode_record(r) {
                Ok(series) => {
                    highest = highest.max(encode::record_timestamp_ms(r).unwrap_or(0));
                    for ts in series {
                        per_shard[encode::shard_of(&ts, shards)].push(ts);
                    }
                }
                Err(e) => {
                    let n = encode::record_samples(r);
                    shared.stats.dropped.fetch_add(n, Ordering::Relaxed);
                    shared.stats.telemetry.dropped(n);
                    tracing::error!(error = %e, samples = n, "undecodable remote_write WAL record; dropped");
                }
            }
        }
        let active = per_shard.iter().filter(|s| !s.is_empty()).count();
        shared.stats.shards.store(active, Ordering::Relaxed);
        let results = futures::future::join_all(
            per_shard
                .iter()
                .zip(conns.iter_mut())
                .filter(|(s, _)| !s.is_empty())
                .map(|(series, conn)| send_shard(&shared, conn, series, shutdown.clone())),
        )
        .await;
        if results.iter().any(Result::is_err) {
            return;
        }
        if highest > 0 {
            let secs = highest as f64 / 1000.0;
            let prev = f64::from_bits(shared.stats.highest_sent.load(Ordering::Relaxed));
            if secs > prev {
                shared
                    .stats
                    .highest_sent
                    .store(secs.to_bits(), Ordering::Relaxed);
            }
        }
        ack(&shared, batch.next, samples).await;
        cursor = batch.next;
    }
}

async fn ack(shared: &Arc<Shared>, upto: Cursor, samples: u64) {
    let sh = Arc::clone(shared);
    let r = tokio::task::spawn_blocking(move || {
        let r = sh.queue.ack(upto, samples);
        sh.refresh_gauges();
        r
    })
    .await;
    match r {
        Ok(Ok(())) => {}
        // The samples are delivered; a cursor that was not saved only means re-sending them.
        Ok(Err(e)) => tracing::error!(error = %e, "save the remote_write WAL cursor"),
        Err(e) => tracing::error!(error = %e, "remote_write ack task"),
    }
}

/// Waits for a wake-up from the appender, `timeout`, or shutdown (`Err`).
async fn wait(
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    timeout: Duration,
) -> Result<(), Stopped> {
    tokio::select! {
        _ = shared.notify.notified() => Ok(()),
        _ = tokio::time::sleep(timeout) => Ok(()),
        _ = shutdown.changed() => Err(Stopped),
    }
}

/// Sends one shard's series of a window, request by request, each until it is delivered or
/// refused.
async fn send_shard(
    shared: &Shared,
    conn: &mut Option<Conn>,
    series: &[TimeSeries],
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let cfg = &shared.cfg;
    let stats = &shared.stats;
    for chunk in series.chunks(cfg.max_samples_per_send) {
        let n: u64 = chunk.iter().map(|s| s.samples.len() as u64).sum();
        let body = Bytes::from(encode::encode_request(chunk));
        let mut backoff = Duration::from_millis(cfg.min_backoff_ms);
        let max_backoff = Duration::from_millis(cfg.max_backoff_ms);
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            match shared.client.send(conn, body.clone()).await {
                SendOutcome::Sent => {
                    stats.sent.fetch_add(n, Ordering::Relaxed);
                    stats.telemetry.sent(n);
                    let now = now_ms() as f64 / 1000.0;
                    stats.last_send.store(now.to_bits(), Ordering::Relaxed);
                    if attempt > 1 {
                        tracing::info!(
                            attempts = attempt,
                            samples = n,
                            "remote_write delivered after retries"
                        );
                    }
                    break;
                }
                SendOutcome::Refused { status, body } => {
                    stats.failed.fetch_add(n, Ordering::Relaxed);
                    stats.telemetry.dropped(n);
                    tracing::warn!(status, samples = n, answer = %body, "remote_write receiver refused a batch; not retried");
                    break;
                }
                SendOutcome::Retry {
                    status,
                    retry_after,
                    reason,
                } => {
                    stats.retried.fetch_add(n, Ordering::Relaxed);
                    stats.telemetry.error();
                    let delay = retry_after.unwrap_or_else(|| jitter(backoff));
                    if attempt == 1 || attempt.is_multiple_of(20) {
                        tracing::warn!(
                            attempt,
                            status = status.unwrap_or(0),
                            reason = %reason,
                            retry_in_ms = delay.as_millis() as u64,
                            samples = n,
                            "remote_write send failed; will retry"
                        );
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return Err(Stopped),
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }
    Ok(())
}

/// A delay between half of `d` and `d`.
fn jitter(d: Duration) -> Duration {
    let ms = d.as_millis().max(1) as u64;
    let lo = ms / 2;
    Duration::from_millis(lo + rand::rngs::StdRng::from_os_rng().random_range(0..=ms - lo))
}
