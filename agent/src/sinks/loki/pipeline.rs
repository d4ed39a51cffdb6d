//! The `loki` sink's wiring: one pipeline per endpoint, each with its own tailer per log source
//! (the [`LogSource`]s the sources built), bounded channel, sink task and positions file
//! (`<data_dir>/loki/<sink>/positions.json`), so a slow endpoint never holds back another.
//!
//! Lines flow: tailer (discovery, read, the per-file transforms in
//! [`crate::sources::tail::LineProcessor`]) -> [pod logs: the disk buffer] -> channel ->
//! [`LokiSink`] -> Loki; acks move the positions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{ClientError, LokiClient, LokiConfig, LokiSink, SpillQueue, SpillReader};
use crate::component::{BuildContext, ComponentError};
use crate::logs::{ChunkBuffer, Positions, PositionsError};
use crate::sources::tail::{LogSource, Tailer, TailerHandle};
use crate::transforms::log_patterns::LogPatterns;

/// How often positions are written to disk (only when an ack moved one): what a kill -9 makes
/// the agent send twice is at most what was acknowledged in this window.
const SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// The most bytes in one chunk from a tailer.
const MAX_CHUNK_BYTES: usize = 256 * 1024;

/// What failed while starting the log pipelines.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A Loki endpoint's settings are not usable.
    #[error("sinks.loki endpoint {name}: {source}")]
    Client {
        /// The sink name.
        name: String,
        /// Why.
        source: ClientError,
    },
    /// A log source's discovery cannot be built.
    #[error("{0}")]
    Discover(String),
    /// The positions file cannot be used.
    #[error(transparent)]
    Positions(#[from] PositionsError),
    /// A tailer thread could not start.
    #[error("start tailer thread: {0}")]
    Thread(std::io::Error),
}

/// The running log pipelines.
#[derive(Debug)]
pub struct LogsRunning {
    tailers: Vec<TailerHandle>,
    readers: Vec<SpillReader>,
    sinks: Vec<JoinHandle<()>>,
    positions: Vec<Arc<Positions>>,
    saver: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
}

fn positions_path(data_dir: &Path, sink: &str) -> PathBuf {
    let safe: String = sink
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir.join("loki").join(safe).join("positions.json")
}

/// Starts one pipeline per Loki endpoint over `sources`; `None` when there is no endpoint or
/// no source. `config` was validated. Each endpoint's HTTP client and pod-log spill buffer come
/// from `ctx` (the agent's one client builder and disk queue); the `log_patterns` transform, when
/// built, runs on the first endpoint's pipeline.
pub fn start(
    config: &LokiConfig,
    sources: &[Arc<LogSource>],
    ctx: &mut BuildContext,
) -> Result<Option<LogsRunning>, ComponentError> {
    if config.endpoints.is_empty() || sources.is_empty() {
        if !sources.is_empty() {
            tracing::warn!("log sources are configured but no Loki endpoint; logs are off");
        }
        return Ok(None);
    }
    let data_dir = ctx.data_dir().to_path_buf();
    let metrics = Arc::clone(&ctx.metrics().logs);
    let telemetry = ctx.telemetry();
    let patterns = ctx.get::<LogPatterns>();
    let whole = |e: LogsError| ComponentError::whole(e);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut running = LogsRunning {
        tailers: Vec::new(),
        readers: Vec::new(),
        sinks: Vec::new(),
        positions: Vec::new(),
        saver: tokio::spawn(async {}),
        shutdown,
    };
    let any_buffered = sources.iter().any(|s| s.buffered);
    // What can fail is made first, for every endpoint, so a bad setting starts nothing.
    let mut parts = Vec::new();
    for (i, (e, name)) in config.endpoints.iter().zip(config.sink_names()).enumerate() {
        let positions = Arc::new(
            Positions::open(&positions_path(&data_dir, &name)).map_err(|e| whole(e.into()))?,
        );
        let http = ctx.http_client(&e.client_config(&format!("endpoints[{i}].")))?;
        let client = LokiClient::with_http(http, e).map_err(|source| {
            whole(LogsError::Client {
                name: name.clone(),
                source,
            })
        })?;
        let spill = if any_buffered && e.pod_logs_spill_max_bytes > 0 {
            let dir = positions_path(Path::new(""), &name).with_file_name("spill");
            let limits = SpillQueue::limits(e.pod_logs_spill_max_bytes);
            let (q, report) = ctx.disk_queue(
                dir,
                e.pod_logs_spill_when_full,
                limits,
                SpillQueue::weigh,
            )?;
            let name = format!("{name}_spill");
            Some(Arc::new(SpillQueue::new(q, &report, Arc::clone(&metrics), &name)))
        } else {
            None
        };
        parts.push((name, positions, client, spill));
    }
    for (i, (e, (name, positions, client, spill))) in config.endpoints.iter().zip(parts).enumerate()
    {
        let patterns = patterns.clone().filter(|_| i == 0);
        let chunk_max = MAX_CHUNK_BYTES
            .min(e.batch_max_bytes.max(1024) / 2)
            .max(1024);
        // A chunk may overshoot chunk_max by one read (128 KiB), hence the factor 2.
        let capacity = (e.buffer_max_bytes / (2 * chunk_max)).max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let buffered = Arc::new(AtomicU64::new(0));
        for source in sources {
            let discover = (source.discover)().map_err(|e| whole(LogsError::Discover(e)))?;
            let t = Tailer::new(
                source.tail.clone(),
                Arc::clone(&source.processor),
                discover,
                Arc::clone(&positions),
                Arc::clone(&metrics),
                tx.clone(),
                Arc::clone(&buffered),
                &name,
                chunk_max,
            );
            let t = match (&spill, source.buffered) {
                (Some(q), true) => t.with_spill(Arc::clone(q) as Arc<dyn ChunkBuffer>),
                _ => t,
            }
            .with_patterns(patterns.clone());
            running
                .tailers
                .push(t.spawn().map_err(|e| whole(LogsError::Thread(e)))?);
        }
        if let Some(q) = &spill {
            running.readers.push(
                SpillReader::spawn(Arc::clone(q), tx.clone(), Arc::clone(&buffered))
                    .map_err(|e| whole(LogsError::Thread(e)))?,
            );
        }
        drop(tx);
        let mut sink = LokiSink::new(
            &name,
            e.clone(),
            client,
            Arc::clone(&metrics),
            Arc::clone(&positions),
            buffered,
        )
        .with_telemetry(telemetry.clone());
        if let Some(q) = spill {
            sink = sink.with_spill(q);
        }
        running
            .sinks
            .push(tokio::spawn(sink.run(rx, shutdown_rx.clone())));
        tracing::info!(sink = %name, url = %e.url, "log pipeline started");
        running.positions.push(positions);
    }
    let all = running.positions.clone();
    let mut rx = shutdown_rx;
    running.saver = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SAVE_INTERVAL) => {}
                _ = rx.changed() => return,
            }
            let p = all.clone();
            let _ = tokio::task::spawn_blocking(move || save_all(&p)).await;
        }
    });
    Ok(Some(running))
}

fn save_all(all: &[Arc<Positions>]) {
    for p in all {
        if let Err(e) = p.save() {
            tracing::warn!(error = %e, "save log positions");
        }
    }
}

impl LogsRunning {
    /// Stops the tailers, lets the sinks deliver what they hold for up to `drain`, saves the
    /// positions. Whatever is not delivered by then is read again after a restart.
    pub async fn stop(self, drain: Duration) {
        for t in &self.tailers {
            t.stop();
        }
        for r in &self.readers {
            r.stop();
        }
        let deadline = tokio::time::Instant::now() + drain;
        for s in &self.sinks {
            while !s.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = self.shutdown.send(true);
        for s in self.sinks {
            let _ = tokio::time::timeout(Duration::from_secs(2), s).await;
        }
        let tailers = self.tailers;
        let readers = self.readers;
        let _ = tokio::task::spawn_blocking(move || {
            for t in tailers {
                t.join();
            }
            for r in readers {
                r.join();
            }
        })
        .await;
        let _ = self.saver.await;
        let p = self.positions;
        let _ = tokio::task::spawn_blocking(move || save_all(&p)).await;
    }
}
