//! [`CephSource`]: every admin socket matching the glob, read in parallel (each request under
//! its own timeout), schema cached per socket, errors counted per daemon and reason.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use serde_json::Value as Json;

use super::asok::{daemon_name, find_sockets, request};
use super::config::CephConfig;
use super::error::CephError;
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
        })
    }

    async fn ask(&self, path: &Path, prefix: &str) -> Result<Json, CephError> {
        let bytes = request(path, prefix, self.socket_timeout, self.max_reply_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|e| CephError::Reply {
            path: path.to_path_buf(),
            what: prefix.to_string(),
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

    async fn read_one(&self, path: &Path, daemon: &str) -> Result<Vec<Family>, CephError> {
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
        let results: Vec<(PathBuf, String, Result<Vec<Family>, CephError>)> =
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
        for (path, daemon, r) in results {
            present.push(daemon.clone());
            match r {
                Ok(f) => {
                    merge(&mut out, f);
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
        out.push(up);
        if !errors.metrics.is_empty() {
            out.push(errors);
        }
        Ok(out)
    }
}
