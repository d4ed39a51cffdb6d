//! Wires the log sources to the Loki endpoints: one pipeline per endpoint, each with its own
//! tailers, bounded channel, sink task and positions file
//! (`<data_dir>/loki/<sink>/positions.json`), so a slow endpoint never holds back another.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{LogMetrics, Positions, PositionsError};
use crate::config::Config;
use crate::sinks::loki::{ClientError, LokiClient, LokiSink, SpillError, SpillQueue, SpillReader};
use crate::sources::files::{FilesDiscover, FilesError};
use crate::sources::kubernetes_pods::{PodApi, PodsDiscover, node_name};
use crate::sources::tail::{Discover, ProcessorConfig, TailConfig, Tailer, TailerHandle};
use crate::transforms::multiline::{Multiline, MultilineConfig, MultilineError};

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
    /// The Kubernetes API client for pod labels cannot be built.
    #[error("sources.kubernetes_pods.{0}")]
    PodApi(String),
    /// Two endpoints have the same name.
    #[error("sinks.loki: two endpoints are named {0:?}")]
    DuplicateName(String),
    /// The files source's settings are not usable.
    #[error(transparent)]
    Files(#[from] FilesError),
    /// A multiline pattern does not compile.
    #[error(transparent)]
    Multiline(#[from] MultilineError),
    /// The positions file cannot be used.
    #[error(transparent)]
    Positions(#[from] PositionsError),
    /// The spill buffer cannot be opened.
    #[error(transparent)]
    Spill(#[from] SpillError),
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

/// The sink names of the configured endpoints.
pub fn sink_names(config: &Config) -> Vec<String> {
    config
        .sinks
        .loki
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| match &e.name {
            Some(n) => n.clone(),
            None if i == 0 => "loki".to_string(),
            None => format!("loki_{i}"),
        })
        .collect()
}

/// Checks what `start` would refuse, without starting anything (`check-config`).
pub fn validate(config: &Config) -> Result<(), LogsError> {
    let names = sink_names(config);
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(LogsError::DuplicateName(n.clone()));
        }
    }
    for (e, name) in config.sinks.loki.endpoints.iter().zip(&names) {
        crate::sinks::loki::check_url(&e.url).map_err(|source| LogsError::Client {
            name: name.clone(),
            source,
        })?;
    }
    FilesDiscover::new(&config.sources.files)?;
    config
        .sources
        .kubernetes_pods
        .api
        .check()
        .map_err(|(k, r)| LogsError::PodApi(format!("{k}: {r}")))?;
    for m in [
        &config.sources.files.multiline,
        &config.sources.kubernetes_pods.multiline,
    ]
    .into_iter()
    .flatten()
    {
        check_multiline(m)?;
    }
    Ok(())
}

fn check_multiline(m: &MultilineConfig) -> Result<(), MultilineError> {
    Multiline::<()>::new(m).map(|_| ())
}

fn positions_path(data_dir: &std::path::Path, sink: &str) -> PathBuf {
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

/// Starts one pipeline per Loki endpoint; `None` when no endpoint or no source is configured.
/// `patterns` (the `log_patterns` transform) runs on the first endpoint's pipeline.
pub fn start(
    config: &Config,
    metrics: Arc<LogMetrics>,
    patterns: Option<Arc<crate::transforms::log_patterns::LogPatterns>>,
) -> Result<Option<LogsRunning>, LogsError> {
    let files = &config.sources.files;
    let pods = &config.sources.kubernetes_pods;
    let any_source = !files.include.is_empty() || pods.enabled;
    if config.sinks.loki.endpoints.is_empty() || !any_source {
        if any_source {
            tracing::warn!("log sources are configured but no Loki endpoint; logs are off");
        }
        return Ok(None);
    }
    validate(config)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut running = LogsRunning {
        tailers: Vec::new(),
        readers: Vec::new(),
        sinks: Vec::new(),
        positions: Vec::new(),
        saver: tokio::spawn(async {}),
        shutdown,
    };
    let node = node_name(pods.node_name.as_deref());
    for (i, (e, name)) in config
        .sinks
        .loki
        .endpoints
        .iter()
        .zip(sink_names(config))
        .enumerate()
    {
        let patterns = patterns.clone().filter(|_| i == 0);
        let positions = Arc::new(Positions::open(&positions_path(&config.data_dir, &name))?);
        let client = LokiClient::new(e.clone()).map_err(|source| LogsError::Client {
            name: name.clone(),
            source,
        })?;
        let chunk_max = MAX_CHUNK_BYTES
            .min(e.batch_max_bytes.max(1024) / 2)
            .max(1024);
        // A chunk may overshoot chunk_max by one read (128 KiB), hence the factor 2.
        let capacity = (e.buffer_max_bytes / (2 * chunk_max)).max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let buffered = Arc::new(AtomicU64::new(0));
        let spill = if pods.enabled && e.pod_logs_spill_max_bytes > 0 {
            let dir = positions_path(&config.data_dir, &name).with_file_name("spill");
            Some(Arc::new(SpillQueue::open(
                &dir,
                e.pod_logs_spill_max_bytes,
                Arc::clone(&metrics),
                &format!("{name}_spill"),
            )?))
        } else {
            None
        };
        let mut tailer = |tail: &TailConfig,
                          proc_cfg: ProcessorConfig,
                          d: Box<dyn Discover>,
                          spill: Option<Arc<SpillQueue>>| {
            let t = Tailer::new(
                tail.clone(),
                Arc::new(proc_cfg),
                d,
                Arc::clone(&positions),
                Arc::clone(&metrics),
                tx.clone(),
                Arc::clone(&buffered),
                &name,
                chunk_max,
            );
            match spill {
                Some(q) => t.with_spill(q),
                None => t,
            }
            .with_patterns(patterns.clone())
            .spawn()
            .map(|h| running.tailers.push(h))
            .map_err(LogsError::Thread)
        };
        if !files.include.is_empty() {
            tailer(
                &files.tail,
                ProcessorConfig {
                    source: "files",
                    container: None,
                    multiline: files.multiline.clone(),
                    parse: files.parse.clone(),
                },
                Box::new(FilesDiscover::new(files)?),
                None,
            )?;
        }
        if pods.enabled {
            tailer(
                &pods.tail,
                ProcessorConfig {
                    source: "kubernetes_pods",
                    container: Some(pods.parse_cri.clone()),
                    multiline: pods.multiline.clone(),
                    parse: pods.parse.clone(),
                },
                Box::new({
                    let d = PodsDiscover::new(pods.root.clone(), node.clone(), pods.labels.clone());
                    if pods.api.enabled {
                        d.with_api(
                            PodApi::new(pods.api.clone(), Arc::clone(&metrics))
                                .map_err(LogsError::PodApi)?,
                        )
                    } else {
                        d
                    }
                }),
                spill.clone(),
            )?;
        }
        if let Some(q) = &spill {
            running.readers.push(
                SpillReader::spawn(Arc::clone(q), tx.clone(), Arc::clone(&buffered))
                    .map_err(LogsError::Thread)?,
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
        );
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
