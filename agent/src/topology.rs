//! Starts and stops the agent: walks the component registry ([`Config::components`]) and calls
//! each component's `build` with one [`BuildContext`], binds the listeners, runs each collected
//! source on its own task with its own interval and timeout.
//!
//! The runner never starts a second collection of a source while one is still running (a tick
//! that finds one is counted as an overrun), and abandons a collection at its timeout, so a hung
//! source never piles up tasks and never delays another source or a scrape. Each collection
//! counts into the source's `component_*` counters: series received, stored (`sent`) and dropped
//! by the cardinality guard; failed, timed-out and skipped collections as errors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::api::{self, ApiState};
pub use crate::component::Schedule;
use crate::component::{BuildContext, ComponentError, ComponentKind, StopFn};
use crate::config::Config;
use crate::metrics::AgentMetrics;
use crate::pipeline::{Pipeline, PushRoutes};
use crate::sources::Source;
use crate::store::Store;

/// The series limit of a source the config does not name.
const DEFAULT_MAX_SERIES: usize = 10_000;

/// What failed while starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A component could not be built: the message names the key the way `check-config` does
    /// (`build sinks.alertmanager.ca_file: /etc/am-ca.pem: no usable CA certificate in it`).
    #[error("build {}.{id}{}: {}", kind.table(),
        if source.key.is_empty() { String::new() } else { format!(".{}", source.key) },
        source.reason)]
    Component {
        /// Its kind.
        kind: ComponentKind,
        /// Its id.
        id: &'static str,
        /// Why.
        source: ComponentError,
    },
    /// A listener could not bind.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
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
            let telemetry = metrics.components.handle("source", &name);
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
                    telemetry.error();
                    continue;
                }
                let src = Arc::clone(&source);
                let st = Arc::clone(&store);
                let m = Arc::clone(&metrics);
                let n = name.clone();
                let t = telemetry.clone();
                let timeout = schedule.timeout;
                let ttl = schedule.ttl;
                inflight = Some(tokio::spawn(
                    async move {
                        let start = Instant::now();
                        match tokio::time::timeout(timeout, src.collect()).await {
                            Ok(Ok(families)) => {
                                m.observe_collect(&n, true, start.elapsed());
                                let report = st.put(&n, families, ttl);
                                t.received((report.kept + report.dropped) as u64);
                                t.sent(report.kept as u64);
                                t.dropped(report.dropped as u64);
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "collection failed");
                                m.observe_collect(&n, false, start.elapsed());
                                t.error();
                            }
                            Err(_) => {
                                tracing::warn!(
                                    timeout_ms = timeout.as_millis() as u64,
                                    "collection timed out; abandon it"
                                );
                                m.observe_timeout(&n, start.elapsed());
                                t.error();
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
    stops: Stops,
}

/// The components' stop steps (not `Debug` themselves).
struct Stops(Vec<StopFn>);

impl std::fmt::Debug for Stops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stop steps", self.0.len())
    }
}

impl Running {
    /// Stops every task and waits (bounded) for them to end: first the components' own stop
    /// steps (the log pipelines drain), then the shutdown signal.
    pub async fn stop(self) {
        for stop in self.stops.0 {
            stop().await;
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

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), TopologyError> {
    let bind_err = |source| TopologyError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Binds the listeners, builds every component and starts the sources.
pub async fn start(config: &Config) -> Result<Running, TopologyError> {
    let (listener, addr) = bind(config.api.listen).await?;
    let p = &config.pipeline;
    let push_listener = match p.enabled {
        true => Some(bind(p.listen).await?),
        false => None,
    };
    let metrics = Arc::new(AgentMetrics::new());
    let store = Arc::new(Store::new(
        HashMap::new(),
        DEFAULT_MAX_SERIES,
        Arc::clone(&metrics),
    ));
    let (tx, rx) = watch::channel(false);
    let mut ctx = BuildContext::new(
        &config.data_dir,
        Arc::clone(&metrics),
        Arc::clone(&store),
        rx.clone(),
    );
    let pipeline_store = push_listener.as_ref().map(|_| {
        let s = Pipeline::store(p);
        ctx.provide(Arc::clone(&s));
        ctx.provide(Arc::new(p.clone()));
        s
    });
    for (kind, id, component) in config.components() {
        ctx.enter(kind, id);
        component
            .build(&mut ctx)
            .map_err(|source| TopologyError::Component { kind, id, source })?;
    }
    let state = Arc::new(ApiState::from_context(&mut ctx, &config.api));
    let routes = ctx.shared::<PushRoutes>().list();
    let built = ctx.finish();
    let mut tasks = built.tasks;
    for (src, schedule) in built.sources {
        tracing::info!(
            source = src.name(),
            interval_secs = schedule.interval.as_secs(),
            "start source"
        );
        tasks.push(spawn_source(
            src,
            schedule,
            Arc::clone(&store),
            Arc::clone(&metrics),
            rx.clone(),
        ));
    }
    tasks.push(tokio::spawn(api::serve(listener, state, rx.clone())));
    tracing::info!(%addr, "node-agent listening");
    let pipeline_addr = match (push_listener, pipeline_store) {
        (Some((listener, paddr)), Some(pstore)) => {
            let pipeline = Pipeline {
                store: pstore,
                routes,
            };
            store.attach(Arc::clone(&pipeline.store) as Arc<dyn crate::store::Provider>);
            let state = Arc::new(pipeline.state(p));
            tasks.push(tokio::spawn(crate::pipeline::serve(
                listener,
                state,
                rx.clone(),
            )));
            tasks.push(pipeline.spawn_reaper(Duration::from_millis(p.reap_interval_ms), rx));
            tracing::info!(addr = %paddr, "pipeline receivers listening");
            Some(paddr)
        }
        _ => None,
    };
    Ok(Running {
        addr,
        pipeline_addr,
        store,
        metrics,
        shutdown: tx,
        tasks,
        stops: Stops(built.stops),
    })
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
