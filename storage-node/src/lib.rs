//! `storage-node`: an S3-compatible object store daemon, durable on local disk and instrumented
//! like a Ceph OSD. See ARCHITECTURE.md for the data flow and the invariants.
//!
//! - `config`: flags, environment and TOML.
//! - `http`: the S3 API (via `s3s`) and the admin routes; never touches files itself.
//! - `store`: the [`store::ObjectStore`] trait, the disk store and the scrubber.
//! - `replication`: the log, shippers, receiver, recovery and HLC of replication between nodes.
//! - `metrics`, `ops`: telemetry and ops in flight.
//! - `telemetry`: the JSON log subscriber. `traces`: request trace ids and optional OTLP spans.

pub mod config;
pub mod fault;
pub mod http;
pub mod metrics;
pub mod ops;
pub mod replication;
pub mod store;
pub mod telemetry;
pub mod traces;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config::Config;
use http::admin::AdminState;
use http::metered::Metered;
use http::s3::S3Frontend;
use metrics::Metrics;
use ops::OpTracker;
use store::disk::DiskStore;

/// The small-object log is compacted this often...
const COMPACTION_INTERVAL: Duration = Duration::from_secs(10);
/// ...reading at most this much per run (about 6 MiB/s at most)...
const COMPACTION_BUDGET_BYTES: u64 = 64 << 20;
/// ...from segments at least this dead.
const COMPACTION_MIN_DEAD_RATIO: f64 = 0.5;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("open store: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Traces(#[from] traces::TracesError),
    #[error("open replication: {0}")]
    Replication(#[from] replication::ReplicationError),
    #[error("bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Opens the store and serves S3 and admin until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), StartError> {
    config.validate()?;
    if config.fault_injection {
        fault::enable();
        tracing::warn!("fault injection on: POST /admin/fault is served");
    }
    let metrics = Arc::new(Metrics::new(config.instrumentation, &config.node_id));
    let started = Instant::now();
    let (store, report) = {
        let (dir, m, id) = (
            config.data_dir.clone(),
            metrics.clone(),
            config.node_id.clone(),
        );
        let options = store::disk::StoreOptions {
            small_object_max_bytes: config.small_object_max_bytes,
            log_segment_bytes: config.log_segment_bytes,
        };
        tokio::task::spawn_blocking(move || DiskStore::open_with(dir, m, &id, options))
            .await
            .map_err(|e| store::StoreError::Io {
                context: "open store".into(),
                source: std::io::Error::other(e),
            })??
    };
    tracing::info!(
        node_id = config.node_id,
        data_dir = %config.data_dir.display(),
        buckets = report.buckets,
        objects = report.objects,
        quarantined = report.quarantined,
        temp_removed = report.temp_removed,
        small_log_objects = report.logged,
        seconds = started.elapsed().as_secs_f64(),
        "store opened"
    );
    let replicator = {
        let (id, secret, rc, st) = (
            config.node_id.clone(),
            config.secret_key.clone(),
            config.replication.clone(),
            store.clone(),
        );
        let rm = replication::metrics::ReplicationMetrics::new(metrics.registry());
        let (r, log_report) = tokio::task::spawn_blocking(move || {
            replication::Replicator::open(id, secret, rc, st, rm)
        })
        .await
        .map_err(|e| store::StoreError::Io {
            context: "open replication".into(),
            source: std::io::Error::other(e),
        })??;
        tracing::info!(
            peers = config.replication.peers.len(),
            write_quorum = config.replication.write_quorum,
            log_records = log_report.records,
            log_torn_bytes = log_report.torn_bytes,
            log_restored_folded = log_report.restored_folded,
            log_damaged = log_report.damaged,
            "replication log opened"
        );
        Arc::new(r)
    };
    let has_peers = !config.replication.peers.is_empty();
    if has_peers {
        store.set_write_log(replicator.clone());
    }
    let receiver = Arc::new(replication::Receiver::new(
        config.node_id.clone(),
        config.secret_key.clone(),
        replicator.incarnation.clone(),
        store.clone(),
    ));
    let tracker = OpTracker::new(
        Duration::from_millis(config.slow_op_threshold_ms),
        metrics.clone(),
    );
    let scrub_state = Arc::new(Mutex::new(store::scrub::ScrubStatus::default()));

    let traces = match &config.otlp_traces_endpoint {
        Some(endpoint) => {
            let t = traces::Traces::otlp(endpoint, &config.node_id)?;
            tracing::info!(endpoint = %endpoint, "exporting request traces over OTLP/HTTP");
            t
        }
        None => traces::Traces::disabled(),
    };
    let s3_service = {
        let mut b = s3s::service::S3ServiceBuilder::new(S3Frontend::new(store.clone()));
        b.set_auth(http::auth::SingleKeyAuth::new(
            config.access_key.clone(),
            config.secret_key.clone(),
        ));
        replication::WithReplication::new(
            http::cors_preflight::WithCors::new(
                Metered::new(b.build(), metrics.clone(), tracker.clone(), traces.clone()),
                store.clone(),
            ),
            receiver,
        )
    };
    let tls = match &config.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(
            http::tls::load_server_config(files)
                .map_err(|e| config::ConfigError::Tls(e.to_string()))?,
        )),
        None => None,
    };
    let s3_listener = tokio::net::TcpListener::bind(config.s3_listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "s3",
            addr: config.s3_listen,
            source,
        })?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "admin",
            addr: config.admin_listen,
            source,
        })?;
    let admin = Arc::new(AdminState {
        node_id: config.node_id.clone(),
        started,
        store: store.clone(),
        metrics: metrics.clone(),
        tracker: tracker.clone(),
        scrub: scrub_state.clone(),
        ready: Default::default(),
        tls: tls.is_some(),
        replication: has_peers.then(|| replicator.clone()),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        s3 = %format!("{scheme}://{}", s3_listener.local_addr().unwrap_or(config.s3_listen)),
        admin = %format!("http://{}", admin_listener.local_addr().unwrap_or(config.admin_listen)),
        "listening"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let admin_service = {
        let admin = admin.clone();
        hyper::service::service_fn(move |req| http::admin::handle(admin.clone(), req))
    };
    let admin_task = tokio::spawn(http::server::serve(
        admin_listener,
        admin_service,
        None,
        stopped(stop_rx.clone()),
        ("admin", metrics.clone()),
    ));
    let s3_task = tokio::spawn(http::server::serve(
        s3_listener,
        s3_service,
        tls,
        stopped(stop_rx.clone()),
        ("s3", metrics.clone()),
    ));
    let mut background = vec![
        tokio::spawn(ops::watch_slow_ops(tracker.clone())),
        tokio::spawn(store::scrub::run(
            store.clone(),
            metrics.clone(),
            Duration::from_secs(config.scrub_interval_secs),
            config.scrub_bytes_per_sec,
            scrub_state,
        )),
        tokio::spawn(store::disk::run_compaction(
            store.clone(),
            COMPACTION_INTERVAL,
            COMPACTION_BUDGET_BYTES,
            COMPACTION_MIN_DEAD_RATIO,
        )),
    ];
    if has_peers {
        background.extend(replication::shipper::spawn(replicator.clone()));
    }
    admin.ready.store(true, Ordering::Release);
    shutdown.await;
    tracing::info!("shutting down");
    admin.ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    let _ = s3_task.await;
    let _ = admin_task.await;
    for t in background {
        t.abort();
    }
    if traces.exporting() {
        let t = traces.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(15),
            tokio::task::spawn_blocking(move || t.shutdown()),
        )
        .await;
    }
    tracing::info!("stopped");
    Ok(())
}
