//! Wires the configured sources to the store and the store to the HTTP listener; runs each source
//! on its own task with its own interval and timeout; starts and stops the whole agent.
//!
//! The runner never starts a second collection of a source while one is still running (a tick
//! that finds one is counted as an overrun), and abandons a collection at its timeout, so a hung
//! source never piles up tasks and never delays another source or a scrape.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::metrics::AgentMetrics;
use crate::pipeline::Pipeline;
use crate::sources::Source;
use crate::sources::ceph::CephSource;
use crate::sources::host::HostSource;
use crate::sources::nvml::{self, NvmlSource};
use crate::sources::smartctl::{self, SmartctlSource};
use crate::sources::storage_node::StorageNodeSource;
use crate::store::Store;

/// The series limit of a source the config does not name.
const DEFAULT_MAX_SERIES: usize = 10_000;

/// What failed while starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The host source's config does not build.
    #[error("build host source: {0}")]
    Host(#[from] crate::sources::host::HostError),
    /// The smartctl source's config does not build.
    #[error("build smartctl source: {0}")]
    Smartctl(#[from] crate::sources::smartctl::SmartctlError),
    /// The storage_node source's config does not build.
    #[error("build storage_node source: {0}")]
    StorageNode(#[from] crate::sources::storage_node::StorageNodeError),
    /// The log pipelines could not start.
    #[error("start log pipelines: {0}")]
    Logs(#[from] crate::logs::pipeline::LogsError),
    /// The ceph source's config does not build.
    #[error("build ceph source: {0}")]
    Ceph(#[from] crate::sources::ceph::CephError),
    /// The remote_write sink could not start.
    #[error("start remote_write sink: {0}")]
    RemoteWrite(#[from] crate::sinks::prometheus_remote_write::RemoteWriteError),
    /// The listener could not bind.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// When and for how long a source runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between the starts of two collections.
    pub interval: Duration,
    /// How long one collection may run.
    pub timeout: Duration,
    /// How long a batch is served without being refreshed.
    pub ttl: Duration,
}

impl Schedule {
    /// A schedule whose batches live for two intervals plus one timeout.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Schedule {
            interval,
            timeout,
            ttl: interval * 2 + timeout,
        }
    }

    fn from_config(interval_secs: u64, timeout_ms: u64) -> Self {
        Schedule::new(
            Duration::from_secs(interval_secs),
            Duration::from_millis(timeout_ms),
        )
    }
}

/// Runs one source until `shutdown` turns true.
pub fn spawn_source(
    source: Arc<dyn Source>,
    schedule: Schedule,
    store: Arc<Store>,
    metrics: Arc<AgentMetrics>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let span = tracing::info_span!("source", source = source.name());
    tokio::spawn(
        async move {
            let name = source.name().to_string();
            let mut ticker = tokio::time::interval(schedule.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut inflight: Option<JoinHandle<()>> = None;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if *shutdown.borrow() {
                    break;
                }
                if inflight.as_ref().is_some_and(|h| !h.is_finished()) {
                    tracing::warn!("previous collection still running; skip this tick");
                    metrics.observe_overrun(&name);
                    continue;
                }
                let src = Arc::clone(&source);
                let st = Arc::clone(&store);
                let m = Arc::clone(&metrics);
                let n = name.clone();
                let timeout = schedule.timeout;
                let ttl = schedule.ttl;
                inflight = Some(tokio::spawn(
                    async move {
                        let start = Instant::now();
                        match tokio::time::timeout(timeout, src.collect()).await {
                            Ok(Ok(families)) => {
                                m.observe_collect(&n, true, start.elapsed());
                                st.put(&n, families, ttl);
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "collection failed");
                                m.observe_collect(&n, false, start.elapsed());
                            }
                            Err(_) => {
                                tracing::warn!(
                                    timeout_ms = timeout.as_millis() as u64,
                                    "collection timed out; abandon it"
                                );
                                m.observe_timeout(&n, start.elapsed());
                            }
                        }
                    }
                    .in_current_span(),
                ));
            }
            if let Some(h) = inflight {
                h.abort();
            }
        }
        .instrument(span),
    )
}

/// The built pieces, before anything runs.
#[derive(Debug)]
pub struct Built {
    /// The shared store.
    pub store: Arc<Store>,
    /// The agent's own telemetry.
    pub metrics: Arc<AgentMetrics>,
    /// Each enabled source with its schedule.
    pub sources: Vec<(Arc<dyn Source>, Schedule)>,
}

/// Builds the sources, the store and the telemetry from a (validated) config.
pub fn build(config: &Config) -> Result<Built, TopologyError> {
    let metrics = Arc::new(AgentMetrics::new());
    let mut sources: Vec<(Arc<dyn Source>, Schedule)> = Vec::new();
    let mut limits = HashMap::new();

    let h = &config.sources.host;
    if h.enabled {
        sources.push((
            Arc::new(HostSource::new(h)?),
            Schedule::from_config(h.interval_secs, h.timeout_ms),
        ));
        limits.insert("host".to_string(), h.max_series);
    }

    let s = &config.sources.smartctl;
    let smart_binary = smartctl::resolve_binary(&s.smartctl_path);
    match (s.enabled, smart_binary) {
        (Some(false), _) => {}
        (None, None) => {
            tracing::info!(path = %s.smartctl_path.display(), "smartctl not found; SMART source off");
        }
        (_, binary) => {
            let binary = binary.unwrap_or_else(|| s.smartctl_path.clone());
            sources.push((
                Arc::new(SmartctlSource::new(s, binary, Arc::clone(&metrics))?),
                Schedule::from_config(s.interval_secs, s.timeout_ms),
            ));
            limits.insert("smartctl".to_string(), s.max_series);
        }
    }

    let n = &config.sources.storage_node;
    if n.enabled && !n.urls.is_empty() {
        sources.push((
            Arc::new(StorageNodeSource::new(n, Arc::clone(&metrics))?),
            Schedule::from_config(n.interval_secs, n.timeout_ms),
        ));
        limits.insert("storage_node".to_string(), n.max_series);
    }

    let g = &config.sources.nvml;
    if g.enabled != nvml::Enabled::Off {
        let src = NvmlSource::new(g);
        // Load now, so "not present" is logged once at start-up; collections retry later.
        let _ = src.try_load();
        sources.push((
            Arc::new(src),
            Schedule::from_config(g.interval_secs, g.timeout_ms),
        ));
        limits.insert("nvml".to_string(), g.max_series);
    }

    let c = &config.sources.ceph;
    if c.enabled {
        sources.push((
            Arc::new(CephSource::new(c, Arc::clone(&metrics))?),
            Schedule::from_config(c.interval_secs, c.timeout_ms),
        ));
        limits.insert("ceph".to_string(), c.max_series);
    }

    for (src, _) in &sources {
        metrics.register(src.name());
    }
    let store = Arc::new(Store::new(limits, DEFAULT_MAX_SERIES, Arc::clone(&metrics)));
    Ok(Built {
        store,
        metrics,
        sources,
    })
}

/// A running agent.
#[derive(Debug)]
pub struct Running {
    /// The address the listener is bound to.
    pub addr: SocketAddr,
    /// The address the pipeline (push) listener is bound to, when it runs.
    pub pipeline_addr: Option<SocketAddr>,
    /// The shared store.
    pub store: Arc<Store>,
    /// The agent's own telemetry.
    pub metrics: Arc<AgentMetrics>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    logs: Option<crate::logs::pipeline::LogsRunning>,
}

impl Running {
    /// Stops every task and waits (bounded) for them to end.
    pub async fn stop(self) {
        if let Some(l) = self.logs {
            l.stop(Duration::from_secs(5)).await;
        }
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                tracing::warn!("a task did not stop within 5s");
            }
        }
    }
}

/// Builds everything, binds the listener and starts the sources.
pub async fn start(config: &Config) -> Result<Running, TopologyError> {
    let built = build(config)?;
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| TopologyError::Bind {
            addr: config.api.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| TopologyError::Bind {
            addr: config.api.listen,
            source,
        })?;
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let built_names: Vec<String> = built
        .sources
        .iter()
        .map(|(s, _)| s.name().to_string())
        .collect();
    for (src, schedule) in built.sources {
        tracing::info!(
            source = src.name(),
            interval_secs = schedule.interval.as_secs(),
            "start source"
        );
        tasks.push(spawn_source(
            src,
            schedule,
            Arc::clone(&built.store),
            Arc::clone(&built.metrics),
            rx.clone(),
        ));
    }
    if config.sinks.prometheus_remote_write.url.is_some() {
        let (rw, rw_tasks) = crate::sinks::prometheus_remote_write::RemoteWrite::start(
            &config.sinks.prometheus_remote_write,
            &config.data_dir,
            rx.clone(),
        )?;
        built.store.add_listener(Arc::clone(&rw) as _);
        built.metrics.add_family_source(rw as _);
        tasks.extend(rw_tasks);
    }
    let alerts = Arc::new(crate::transforms::detect::AlertBook::new());
    let d = &config.transforms.detect;
    let am = &config.sinks.alertmanager;
    let patterns = log_patterns(config, &alerts, &built.metrics, &rx, &mut tasks);
    if d.enabled || patterns.is_some() {
        let sink_stats = Arc::new(crate::sinks::alertmanager::SinkStats::default());
        let engine = crate::transforms::detect::Engine::new(
            d.clone(),
            crate::sinks::alertmanager::Links::new(am),
            Arc::clone(&alerts),
            Arc::clone(&sink_stats),
        );
        let names: Vec<String> = built_names.clone();
        if d.enabled {
            tasks.push(tokio::spawn(crate::transforms::detect::run(
                engine,
                Arc::clone(&built.store),
                names,
                rx.clone(),
            )));
        }
        if !am.urls.is_empty() {
            let sink = crate::sinks::alertmanager::AlertmanagerSink::new(
                am.clone(),
                Arc::clone(&alerts),
                sink_stats,
            );
            tasks.push(tokio::spawn(sink.run(rx.clone())));
        }
    }
    let state = Arc::new(ApiState {
        alerts: Arc::clone(&alerts),
        store: Arc::clone(&built.store),
        metrics: Arc::clone(&built.metrics),
        exporter: config.sinks.prometheus_exporter.clone(),
        max_connections: config.api.max_connections,
        header_read_timeout: Duration::from_millis(config.api.header_read_timeout_ms),
    });
    tasks.push(tokio::spawn(api::serve(listener, state, rx.clone())));
    let logs = crate::logs::pipeline::start(config, Arc::clone(&built.metrics.logs), patterns)?;
    tracing::info!(%addr, "node-agent listening");
    let pipeline_addr = if config.pipeline.enabled {
        let p = &config.pipeline;
        let pipeline = Pipeline::build(p, &config.sources.otlp, &config.sources.pushgateway);
        built
            .store
            .attach(Arc::clone(&pipeline.store) as Arc<dyn crate::store::Provider>);
        let bind_err = |source| TopologyError::Bind {
            addr: p.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(p.listen)
            .await
            .map_err(bind_err)?;
        let paddr = listener.local_addr().map_err(bind_err)?;
        let state = Arc::new(pipeline.state(p));
        tasks.push(tokio::spawn(crate::pipeline::serve(
            listener,
            state,
            rx.clone(),
        )));
        tasks.push(pipeline.spawn_reaper(Duration::from_millis(p.reap_interval_ms), rx));
        tracing::info!(addr = %paddr, "pipeline receivers listening");
        Some(paddr)
    } else {
        None
    };
    Ok(Running {
        addr,
        pipeline_addr,
        store: built.store,
        metrics: built.metrics,
        shutdown: tx,
        tasks,
        logs,
    })
}

/// Starts the `log_patterns` transform when it is on and logs go to Loki: loads its templates,
/// adds its families to `/metrics` and spawns its rate-interval task.
fn log_patterns(
    config: &Config,
    alerts: &Arc<crate::transforms::detect::AlertBook>,
    metrics: &Arc<AgentMetrics>,
    rx: &watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Option<Arc<crate::transforms::log_patterns::LogPatterns>> {
    let c = &config.transforms.log_patterns;
    if !c.enabled || config.sinks.loki.endpoints.is_empty() {
        return None;
    }
    let node = if config.transforms.detect.node.is_empty() {
        crate::sources::kubernetes_pods::node_name(
            config.sources.kubernetes_pods.node_name.as_deref(),
        )
    } else {
        config.transforms.detect.node.clone()
    };
    let p = crate::transforms::log_patterns::LogPatterns::open(
        c.clone(),
        Some(&config.data_dir),
        crate::sinks::alertmanager::Links::new(&config.sinks.alertmanager),
        node,
        Arc::clone(alerts),
    );
    metrics.add_family_source(Arc::clone(&p) as _);
    tasks.push(tokio::spawn(Arc::clone(&p).run(rx.clone())));
    Some(p)
}

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), TopologyError> {
    let running = start(&config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests;
