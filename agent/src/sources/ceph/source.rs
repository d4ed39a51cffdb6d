//! [`CephSource`]: every admin socket matching the glob, read in parallel (each request under
//! its own timeout), schema cached per socket, errors counted per daemon and reason. OSDs are
//! also asked for their ops in flight (slow ops, oldest op). A daemon whose socket stops
//! answering keeps `nodewatch_agent_ceph_asok_up 0` and its last-success timestamp.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use serde_json::Value as Json;

use super::asok::{daemon_name, find_sockets, request_cmd};
use super::config::CephConfig;
use super::error::CephError;
use super::latency::LatencyTracker;
use super::ops::{DEFAULT_COMPLAINT_SECS, OpsFamilies, OpsInFlight, complaint_time, ops_in_flight};
use super::parse::{Builder, is_counter_schema};
use crate::event::{Family, Labels};
use crate::metrics::AgentMetrics;
use crate::sources::{CollectError, Source};

/// Which command set a daemon speaks, and its schema.
#[derive(Debug, Clone)]
enum Protocol {
    /// `counter dump` / `counter schema` (Reef and later).
    Counter(Arc<Json>),
    /// `perf dump` / `perf schema`.
    Perf(Arc<Json>),
}

/// The Ceph admin-socket source.
#[derive(Debug)]
pub struct CephSource {
    glob: String,
    socket_timeout: Duration,
    max_reply_bytes: usize,
    max_sockets: usize,
    max_parallel: usize,
    prio_limit: i64,
    metrics: Arc<AgentMetrics>,
    protocols: Mutex<HashMap<PathBuf, Protocol>>,
    errors: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Unix time of each daemon's last good read.
    last_ok: Mutex<HashMap<String, f64>>,
    latency: Mutex<LatencyTracker>,
}

/// One daemon's good read.
#[derive(Debug)]
struct Reading {
    families: Vec<Family>,
    /// OSDs only: the ops in flight and the complaint time they were judged by.
    ops: Option<(OpsInFlight, f64)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl CephSource {
    /// Builds the source; fails when the glob's directory part has wildcards.
    pub fn new(config: &CephConfig, metrics: Arc<AgentMetrics>) -> Result<Self, CephError> {
        super::asok::split_glob(&config.socket_glob)?;
        Ok(CephSource {
            glob: config.socket_glob.clone(),
            socket_timeout: Duration::from_millis(config.socket_timeout_ms.max(1)),
            max_reply_bytes: config.max_reply_bytes,
            max_sockets: config.max_sockets.max(1),
            max_parallel: config.max_parallel.max(1),
            prio_limit: config.prio_limit,
            metrics,
            protocols: Mutex::new(HashMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            last_ok: Mutex::new(HashMap::new()),
            latency: Mutex::new(LatencyTracker::default()),
        })
    }

    async fn ask(&self, path: &Path, prefix: &str) -> Result<Json, CephError> {
        self.ask_cmd(path, serde_json::json!({ "prefix": prefix }))
            .await
    }

    async fn ask_cmd(&self, path: &Path, cmd: Json) -> Result<Json, CephError> {
        let bytes = request_cmd(path, &cmd, self.socket_timeout, self.max_reply_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|e| CephError::Reply {
            path: path.to_path_buf(),
            what: cmd
                .get("prefix")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            message: e.to_string(),
        })
    }

    /// The daemon's protocol: cached, else probed (`counter schema`, falling back to
    /// `perf schema`).
    async fn protocol(&self, path: &Path) -> Result<Protocol, CephError> {
        if let Some(p) = self.lock_protocols().get(path) {
            return Ok(p.clone());
        }
        let p = match self.ask(path, "counter schema").await {
            Ok(s) if is_counter_schema(&s) => Protocol::Counter(Arc::new(s)),
            Ok(_) | Err(CephError::Reply { .. }) => {
                let s = self.ask(path, "perf schema").await?;
                if !s.is_object() {
                    return Err(CephError::Reply {
                        path: path.to_path_buf(),
                        what: "perf schema".into(),
                        message: "not a JSON object".into(),
                    });
                }
                Protocol::Perf(Arc::new(s))
            }
            Err(e) => return Err(e),
        };
        self.lock_protocols().insert(path.to_path_buf(), p.clone());
        Ok(p)
    }

    fn lock_protocols(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Protocol>> {
        self.protocols.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An OSD's ops in flight, judged against its own `osd_op_complaint_time`.
    async fn read_ops(&self, path: &Path) -> Result<(OpsInFlight, f64), CephError> {
        let cmd = serde_json::json!({ "prefix": "config get", "var": "osd_op_complaint_time" });
        let complaint = match self.ask_cmd(path, cmd).await {
            Ok(v) => complaint_time(&v).unwrap_or(DEFAULT_COMPLAINT_SECS),
            Err(CephError::Reply { .. }) => DEFAULT_COMPLAINT_SECS,
            Err(e) => return Err(e),
        };
        let reply = self.ask(path, "dump_ops_in_flight").await?;
        let ops = ops_in_flight(&reply, complaint).ok_or_else(|| CephError::Reply {
            path: path.to_path_buf(),
            what: "dump_ops_in_flight".into(),
            message: "no \"ops\" list".into(),
        })?;
        Ok((ops, complaint))
    }

    async fn read_one(&self, path: &Path, daemon: &str) -> Result<Reading, CephError> {
        let families = self.read_counters(path, daemon).await?;
        let ops = if daemon.starts_with("osd.") {
            Some(self.read_ops(path).await?)
        } else {
            None
        };
        Ok(Reading { families, ops })
    }

    async fn read_counters(&self, path: &Path, daemon: &str) -> Result<Vec<Family>, CephError> {
        let proto = self.protocol(path).await?;
        let mut b = Builder::default();
        match &proto {
            Protocol::Counter(schema) => {
                let dump = self.ask(path, "counter dump").await?;
                b.counter_dump(daemon, &dump, schema, self.prio_limit);
            }
            Protocol::Perf(schema) => {
                let dump = self.ask(path, "perf dump").await?;
                if !dump.is_object() {
                    return Err(CephError::Reply {
                        path: path.to_path_buf(),
                        what: "perf dump".into(),
                        message: "not a JSON object".into(),
                    });
                }
                b.perf_dump(daemon, &dump, schema, self.prio_limit);
            }
        }
        Ok(b.finish())
    }

    /// The error count of one daemon and reason (for tests).
    pub fn error_count(&self, daemon: &str, reason: &str) -> u64 {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((d, r), _)| d == daemon && *r == reason)
            .map(|(_, n)| *n)
            .sum()
    }
}

fn merge(into: &mut Vec<Family>, more: Vec<Family>) {
    for f in more {
        match into.iter_mut().find(|g| g.name == f.name) {
            Some(g) => g.metrics.extend(f.metrics),
            None => into.push(f),
        }
    }
}

#[async_trait]
impl Source for CephSource {
    fn name(&self) -> &str {
        "ceph"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let glob = self.glob.clone();
        let max = self.max_sockets;
        let sockets = tokio::task::spawn_blocking(move || find_sockets(&glob, max))
            .await
            .map_err(|e| Box::new(e) as CollectError)?
            .map_err(Box::new)?;
        let results: Vec<(PathBuf, String, Result<Reading, CephError>)> =
            futures::stream::iter(sockets)
                .map(|path| async move {
                    let daemon = daemon_name(&path);
                    let r = self.read_one(&path, &daemon).await;
                    (path, daemon, r)
                })
                .buffer_unordered(self.max_parallel)
                .collect()
                .await;

        let mut out = Vec::new();
        let mut up = Family::gauge(
            "nodewatch_agent_ceph_asok_up",
            "1 when the last read of a Ceph daemon's admin socket succeeded.",
        );
        let mut present: Vec<String> = Vec::new();
        let mut ops = OpsFamilies::default();
        let mut latency = LatencyTracker::family();
        let now = unix_now();
        for (path, daemon, r) in results {
            present.push(daemon.clone());
            match r {
                Ok(reading) => {
                    lock(&self.latency).observe(&daemon, &reading.families, &mut latency);
                    merge(&mut out, reading.families);
                    if let Some((o, complaint)) = reading.ops {
                        ops.push(&daemon, &o, complaint);
                    }
                    lock(&self.last_ok).insert(daemon.clone(), now);
                    up.push(Labels::new().with("ceph_daemon", daemon), 1.0);
                }
                Err(e) => {
                    tracing::warn!(socket = %path.display(), error = %e, "read Ceph admin socket");
                    if matches!(
                        e,
                        CephError::Truncated { .. }
                            | CephError::TooLarge { .. }
                            | CephError::Reply { .. }
                    ) {
                        self.metrics.inc_parse_errors("ceph");
                    }
                    // The daemon may have restarted with another version: probe again next time.
                    self.lock_protocols().remove(&path);
                    *self
                        .errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry((daemon.clone(), e.reason()))
                        .or_default() += 1;
                    up.push(Labels::new().with("ceph_daemon", daemon), 0.0);
                }
            }
        }
        let mut errors = Family::counter(
            "nodewatch_agent_ceph_asok_errors_total",
            "Failed admin-socket reads, by daemon and reason.",
        );
        {
            let mut m = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            // Forget daemons whose sockets are gone, so the map stays bounded.
            m.retain(|(d, _), _| present.contains(d));
            for ((d, r), n) in m.iter() {
                errors.push(
                    Labels::new()
                        .with("ceph_daemon", d.clone())
                        .with("reason", *r),
                    *n as f64,
                );
            }
        }
        self.lock_protocols()
            .retain(|p, _| present.contains(&daemon_name(p)));
        lock(&self.latency).retain(&present);
        let mut last_ok = Family::gauge(
            "nodewatch_agent_ceph_asok_last_success_timestamp_seconds",
            "Unix time of the last good read of a Ceph daemon's admin socket (kept while it does not answer).",
        );
        {
            let mut m = lock(&self.last_ok);
            m.retain(|d, _| present.contains(d));
            for (d, t) in m.iter() {
                last_ok.push(Labels::new().with("ceph_daemon", d.clone()), *t);
            }
        }
        out.extend(ops.finish());
        if !latency.metrics.is_empty() {
            out.push(latency);
        }
        out.push(last_ok);
        out.push(up);
        if !errors.metrics.is_empty() {
            out.push(errors);
        }
        Ok(out)
    }
}
