//! [`Replicator`]: the replication log, the state of every peer, and the write quorum. It is the
//! store's [`WriteLog`]: every local write is logged (durably, before it becomes visible), and a
//! write waits for its quorum here. Shippers (`shipper`) and recovery (`recovery`) use its client.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::config::{Peer, ReplicationConfig};
use super::cursor::{self, Cursor};
use super::error::ReplicationError;
use super::log::{LogOpenReport, LogRecord, NewRecord, ReplLog};
use super::metrics::{PeerMetrics, ReplicationMetrics};
use super::wire;
use crate::store::disk::DiskStore;
use crate::store::disk::small_log::Fold;
use crate::store::{ObjectMeta, ReplicaOp, StoreError, WriteLog, now_ms};

/// A request body to a peer.
pub type PeerBody = BoxBody<Bytes, std::io::Error>;
/// The HTTP/1.1 client to peers, pooled: `http://` peers in the clear, `https://` peers over TLS
/// verified against `peer_ca_file`.
pub type PeerClient = Client<HttpsConnector<HttpConnector>, PeerBody>;
/// The most bytes read from a peer's answer.
const MAX_ANSWER: usize = 1 << 20;
/// The shortest time between two saves of one peer's cursor file.
pub const CURSOR_SAVE_INTERVAL: Duration = Duration::from_millis(50);

/// One peer as the replicator tracks it.
#[derive(Debug)]
pub struct PeerState {
    pub peer: Peer,
    pub metrics: PeerMetrics,
    cursor: Mutex<Cursor>,
    acked_seq: AtomicU64,
    acked_cum: AtomicU64,
    /// False from the moment the backlog bound is hit until recovery starts.
    attached: AtomicBool,
    /// `ts_ms` of the oldest record not acknowledged, as far as the shipper has read (0: none).
    pub(super) oldest_unacked_ms: AtomicU64,
    pub(super) up: AtomicBool,
    pub(super) recovering: AtomicBool,
    pub(super) last_ack_ms: AtomicU64,
    /// A cursor file write is under way.
    persisting: AtomicBool,
}

impl PeerState {
    pub fn acked_seq(&self) -> u64 {
        self.acked_seq.load(Ordering::Acquire)
    }

    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::Acquire)
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Per-peer replication state for `/admin/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub peer: String,
    pub url: String,
    pub up: bool,
    pub lag_seconds: f64,
    pub pending_entries: u64,
    pub pending_bytes: u64,
    pub acked_seq: u64,
    pub log_last_seq: u64,
    pub last_ack_timestamp_seconds: f64,
    pub backlog_full: bool,
    pub needs_recovery: bool,
    pub recovery_active: bool,
    pub recovery_objects_remaining: i64,
}

/// The replication side of a node.
#[derive(Debug)]
pub struct Replicator {
    pub node_id: String,
    pub(super) secret: Vec<u8>,
    pub incarnation: String,
    pub log: Arc<ReplLog>,
    pub store: DiskStore,
    pub peers: Vec<Arc<PeerState>>,
    pub config: ReplicationConfig,
    pub metrics: ReplicationMetrics,
    pub(super) client: PeerClient,
    cursor_dir: PathBuf,
    /// Writes waiting for their quorum, by sequence number.
    quorum: Mutex<QuorumWaiters>,
}

/// Writes waiting for their write quorum, keyed by (sequence number, waiter id): an acknowledgement
/// releases exactly those at or below the sequence number the quorum now holds, so a write's task
/// is woken once, when its quorum holds it, not on every acknowledgement of every peer.
#[derive(Debug, Default)]
struct QuorumWaiters {
    next_id: u64,
    waiting: std::collections::BTreeMap<(u64, u64), tokio::sync::oneshot::Sender<()>>,
}

fn store_err(e: ReplicationError) -> StoreError {
    match e {
        ReplicationError::Io { context, source } => StoreError::io(context, source),
        ReplicationError::Store(e) => e,
        other => StoreError::io("replication log", std::io::Error::other(other.to_string())),
    }
}

impl Replicator {
    /// Opens the log under `<data_dir>/replication/` and loads every peer's cursor. Blocking.
    pub fn open(
        node_id: String,
        secret: String,
        config: ReplicationConfig,
        store: DiskStore,
        metrics: ReplicationMetrics,
    ) -> Result<(Self, LogOpenReport), ReplicationError> {
        let dir = store.data_dir().join("replication");
        let incarnation = cursor::incarnation(&dir)?;
        let (log, mut report) = ReplLog::open(dir.join("log"), super::log::DEFAULT_SEGMENT_BYTES)?;
        // Folded records whose copy here was lost in a crash: the store's log holds them.
        let folded = store
            .take_folded()
            .into_iter()
            .map(|w| LogRecord {
                seq: w.fold.seq,
                ts_ms: w.fold.ts_ms,
                bucket: w.bucket,
                key: w.key,
                version: w.version,
                size: w.size,
                deleted: w.deleted,
                cum_bytes: w.fold.cum_bytes,
                op: None,
            })
            .collect();
        report.restored_folded = log.restore_folded(folded)?;
        if report.restored_folded > 0 {
            tracing::warn!(
                records = report.restored_folded,
                "appended folded records back to the replication log from the small-object log"
            );
        }
        log.set_appends_per_fsync(metrics.log_appends_per_fsync.clone());
        let log = Arc::new(log);
        let cursor_dir = dir.join("peers");
        let has_data = store.version_count() > 0;
        let mut peers = Vec::new();
        for p in &config.peers {
            let mut c = match cursor::load(&cursor_dir, &p.id)? {
                Some(c) => c,
                // A new peer: whatever this node holds already reaches it by recovery.
                None => Cursor {
                    acked_seq: log.last_seq(),
                    acked_cum_bytes: log.last_cum_bytes(),
                    needs_recovery: has_data,
                    peer_incarnation: None,
                },
            };
            if report.damaged || c.acked_seq > log.last_seq() {
                c.needs_recovery = true;
                c.acked_seq = c.acked_seq.min(log.last_seq());
                c.acked_cum_bytes = c.acked_cum_bytes.min(log.last_cum_bytes());
            }
            cursor::store(&cursor_dir, &p.id, &c)?;
            let m = metrics.peer(&p.id);
            peers.push(Arc::new(PeerState {
                peer: p.clone(),
                metrics: m,
                acked_seq: AtomicU64::new(c.acked_seq),
                acked_cum: AtomicU64::new(c.acked_cum_bytes),
                attached: AtomicBool::new(true),
                cursor: Mutex::new(c),
                oldest_unacked_ms: AtomicU64::new(0),
                up: AtomicBool::new(false),
                recovering: AtomicBool::new(false),
                last_ack_ms: AtomicU64::new(0),
                persisting: AtomicBool::new(false),
            }));
        }
        // Frames go out in several small writes: without TCP_NODELAY, Nagle and delayed ACKs add
        // tens of milliseconds to every batch.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let tls = match &config.peer_ca_file {
            Some(ca) => crate::http::tls::load_client_config(ca),
            None => crate::http::tls::client_config(rustls::RootCertStore::empty()).map(Arc::new),
        }
        .map_err(|e| ReplicationError::Io {
            context: "peer TLS config",
            source: std::io::Error::other(e.to_string()),
        })?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(8)
            .build(connector);
        let r = Replicator {
            node_id,
            secret: secret.into_bytes(),
            incarnation,
            log,
            store,
            peers,
            config,
            metrics,
            client,
            cursor_dir,
            quorum: Mutex::new(QuorumWaiters::default()),
        };
        Ok((r, report))
    }

    /// Saves a peer's cursor after changing it with `f`.
    pub(super) fn update_cursor(
        &self,
        peer: &PeerState,
        f: impl FnOnce(&mut Cursor),
    ) -> Result<(), ReplicationError> {
        let mut c = peer.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = c.clone();
        f(&mut next);
        cursor::store(&self.cursor_dir, &peer.peer.id, &next)?;
        peer.acked_seq.fetch_max(next.acked_seq, Ordering::AcqRel);
        peer.acked_cum
            .fetch_max(next.acked_cum_bytes, Ordering::AcqRel);
        *c = next;
        Ok(())
    }

    /// Records an acknowledgement up to `seq`. Writes waiting for their quorum are released at once:
    /// the peer holds the data durably already. The cursor file is written in the background (one
    /// write at a time, always the newest position, at most one every [`CURSOR_SAVE_INTERVAL`], so
    /// the acknowledgements of many batches share one file write and its fsyncs); the next batch
    /// does not wait for it. A crash before it is written only means shipping some records again,
    /// which is harmless. The log is truncated after the cursor file is written.
    pub(super) fn acked(self: &Arc<Self>, peer: &Arc<PeerState>, seq: u64, cum: u64) {
        peer.acked_seq.fetch_max(seq, Ordering::AcqRel);
        peer.acked_cum.fetch_max(cum, Ordering::AcqRel);
        let now = now_ms();
        peer.last_ack_ms.store(now, Ordering::Release);
        peer.metrics.last_ack_timestamp.set(now as f64 / 1000.0);
        self.release_quorum();
        if peer.persisting.swap(true, Ordering::AcqRel) {
            return;
        }
        let (this, p) = (self.clone(), peer.clone());
        tokio::spawn(async move {
            loop {
                let started = tokio::time::Instant::now();
                let (seq, cum) = (p.acked_seq(), p.acked_cum.load(Ordering::Acquire));
                let (t, q) = (this.clone(), p.clone());
                let saved = tokio::task::spawn_blocking(move || {
                    t.update_cursor(&q, |c| {
                        c.acked_seq = c.acked_seq.max(seq);
                        c.acked_cum_bytes = c.acked_cum_bytes.max(cum);
                    })
                })
                .await;
                if !matches!(saved, Ok(Ok(()))) {
                    p.metrics.error("local_io");
                    tracing::error!(peer = p.peer.id, "save the replication cursor");
                }
                this.truncate().await;
                // Acknowledgements that come meanwhile wait for the next save, which covers them all.
                tokio::time::sleep_until(started + CURSOR_SAVE_INTERVAL).await;
                p.persisting.store(false, Ordering::Release);
                // An acknowledgement that came meanwhile is saved by another round.
                if p.acked_seq() == seq || p.persisting.swap(true, Ordering::AcqRel) {
                    break;
                }
            }
        });
    }

    /// Counts a logged record against every peer's backlog bound.
    fn note_logged(&self, rec: &LogRecord) {
        for p in &self.peers {
            if p.attached() {
                if rec
                    .cum_bytes
                    .saturating_sub(p.acked_cum.load(Ordering::Acquire))
                    > self.config.backlog_max_bytes
                {
                    self.detach(p, rec.seq);
                }
            } else {
                p.metrics.backlog_dropped_entries.inc();
            }
        }
    }

    /// Wakes writes waiting for their quorum (a peer finished recovery).
    pub(super) fn quorum_changed(&self) {
        self.release_quorum();
    }

    /// The highest sequence number the write quorum holds: the `write_quorum - 1`-th highest
    /// acknowledged sequence number among the peers that count (a peer being repaired does not:
    /// its cursor says more than it holds). `u64::MAX` when no peer is needed, 0 when too few count.
    fn quorum_seq(&self) -> u64 {
        let need = self.config.write_quorum.saturating_sub(1);
        if need == 0 {
            return u64::MAX;
        }
        let mut acked: Vec<u64> = self
            .peers
            .iter()
            .filter(|p| {
                !p.recovering.load(Ordering::Acquire)
                    && !p
                        .cursor
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .needs_recovery
            })
            .map(|p| p.acked_seq())
            .collect();
        if acked.len() < need {
            return 0;
        }
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked[need - 1]
    }

    /// Wakes the writes the quorum now holds. Acknowledged sequence numbers are stored before this
    /// takes the lock, and a waiter checks under it before it waits, so none is missed.
    fn release_quorum(&self) {
        let ready = {
            let mut q = self.quorum.lock().unwrap_or_else(|e| e.into_inner());
            let Some(&(first, _)) = q.waiting.keys().next() else {
                return;
            };
            let held = self.quorum_seq();
            if first > held {
                return;
            }
            let rest = q.waiting.split_off(&(held.saturating_add(1), 0));
            std::mem::replace(&mut q.waiting, rest)
        };
        for tx in ready.into_values() {
            let _ = tx.send(());
        }
    }

    /// Removes log segments every attached peer is past; tombstones whose delete every peer has
    /// acknowledged are then garbage-collected (not while some peer awaits recovery: it may still
    /// hold the deleted object).
    async fn truncate(&self) {
        if self.log.segment_count() < 2 {
            return;
        }
        let first_needed = self
            .peers
            .iter()
            .filter(|p| p.attached())
            .map(|p| p.acked_seq() + 1)
            .min()
            .unwrap_or(self.log.last_seq() + 1);
        let all_clean = self
            .peers
            .iter()
            .all(|p| p.attached() && !p.cursor().needs_recovery);
        let log = self.log.clone();
        let deletes =
            match tokio::task::spawn_blocking(move || log.truncate_before(first_needed)).await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "truncate the replication log");
                    return;
                }
                Err(_) => return,
            };
        if !all_clean {
            return;
        }
        let mut collected = 0u64;
        for d in deletes {
            if let Ok(true) = self.store.gc_tombstone(&d.bucket, &d.key, d.version).await {
                collected += 1;
            }
        }
        if collected > 0 {
            tracing::info!(
                tombstones = collected,
                "garbage-collected tombstones every peer acknowledged"
            );
        }
    }

    /// Stops keeping the log for a peer whose backlog hit the bound; recovery will repair it.
    fn detach(&self, peer: &PeerState, last_seq: u64) {
        if !peer.attached.swap(false, Ordering::AcqRel) {
            return;
        }
        let dropped = last_seq.saturating_sub(peer.acked_seq());
        peer.metrics.backlog_full.set(1);
        peer.metrics.backlog_dropped_entries.inc_by(dropped);
        if let Err(e) = self.update_cursor(peer, |c| c.needs_recovery = true) {
            tracing::error!(peer = peer.peer.id, error = %e, "save cursor");
        }
        tracing::warn!(
            peer = peer.peer.id,
            backlog_max_bytes = self.config.backlog_max_bytes,
            dropped_entries = dropped,
            "replication backlog for the peer is full: no longer logging writes for it; recovery will repair it"
        );
    }

    /// Re-attaches a peer at the start of recovery: from `seq` on, the log is kept for it again.
    pub(super) fn reattach(
        &self,
        peer: &PeerState,
        seq: u64,
        cum: u64,
    ) -> Result<(), ReplicationError> {
        self.update_cursor(peer, |c| {
            c.acked_seq = seq;
            c.acked_cum_bytes = cum;
            c.needs_recovery = true;
        })?;
        peer.attached.store(true, Ordering::Release);
        peer.metrics.backlog_full.set(0);
        Ok(())
    }

    /// Refreshes the lag and pending gauges of every peer.
    pub fn refresh_gauges(&self) {
        let (last, cum) = (self.log.last_seq(), self.log.last_cum_bytes());
        let now = now_ms();
        for p in &self.peers {
            let acked = p.acked_seq();
            let pending = last.saturating_sub(acked);
            p.metrics.pending_entries.set(pending as i64);
            p.metrics
                .pending_bytes
                .set(cum.saturating_sub(p.acked_cum.load(Ordering::Acquire)) as i64);
            let oldest = p.oldest_unacked_ms.load(Ordering::Acquire);
            let lag = if pending == 0 && p.attached() || oldest == 0 {
                0.0
            } else {
                now.saturating_sub(oldest) as f64 / 1000.0
            };
            p.metrics.lag_seconds.set(lag);
            p.metrics
                .peer_up
                .set(i64::from(p.up.load(Ordering::Acquire)));
        }
    }

    /// The state of every peer, for `/admin/status`.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.refresh_gauges();
        let last = self.log.last_seq();
        self.peers
            .iter()
            .map(|p| PeerStatus {
                peer: p.peer.id.clone(),
                url: p.peer.url.clone(),
                up: p.up.load(Ordering::Acquire),
                lag_seconds: p.metrics.lag_seconds.get(),
                pending_entries: p.metrics.pending_entries.get().max(0) as u64,
                pending_bytes: p.metrics.pending_bytes.get().max(0) as u64,
                acked_seq: p.acked_seq(),
                log_last_seq: last,
                last_ack_timestamp_seconds: p.last_ack_ms.load(Ordering::Acquire) as f64 / 1000.0,
                backlog_full: !p.attached(),
                needs_recovery: p.cursor().needs_recovery,
                recovery_active: p.recovering.load(Ordering::Acquire),
                recovery_objects_remaining: p.metrics.recovery_objects_remaining.get(),
            })
            .collect()
    }

    /// A signed request to a peer; returns the (bounded) answer of a success.
    #[allow(clippy::too_many_arguments)] // each is a part of what is signed
    pub(super) async fn call(
        &self,
        peer: &Peer,
        method: http::Method,
        route: &str,
        body: PeerBody,
        body_hash: &str,
        time_ms: u64,
        timeout: Duration,
    ) -> Result<Bytes, ReplicationError> {
        let path = format!("{}{route}", wire::PREFIX);
        let sig = wire::sign(
            &self.secret,
            method.as_str(),
            &path,
            &self.node_id,
            time_ms,
            body_hash,
        );
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}://{}{path}", peer.scheme, peer.authority))
            .header(http::header::HOST, &peer.authority)
            .header(wire::HDR_NODE, &self.node_id)
            .header(wire::HDR_TIME, time_ms.to_string())
            .header(wire::HDR_SIG, sig)
            .body(body)
            .map_err(|e| ReplicationError::Protocol {
                peer: peer.id.clone(),
                detail: e.to_string(),
            })?;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| ReplicationError::Connect {
                    peer: peer.id.clone(),
                    detail: format!("{e:?}").chars().take(200).collect(),
                })?;
            let status = resp.status();
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER);
            let bytes = limited
                .collect()
                .await
                .map_err(|e| ReplicationError::Protocol {
                    peer: peer.id.clone(),
                    detail: format!("read answer: {e}"),
                })?
                .to_bytes();
            if !status.is_success() {
                let detail = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                return Err(ReplicationError::Status {
                    peer: peer.id.clone(),
                    status: status.as_u16(),
                    detail,
                });
            }
            Ok(bytes)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ReplicationError::Timeout {
                peer: peer.id.clone(),
            }),
        }
    }

    /// A signed JSON request.
    pub(super) async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        peer: &Peer,
        method: http::Method,
        route: &str,
        body: Vec<u8>,
    ) -> Result<T, ReplicationError> {
        let hash = wire::body_hash(&body);
        let body = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed();
        let bytes = self
            .call(
                peer,
                method,
                route,
                body,
                &hash,
                now_ms(),
                Duration::from_secs(10),
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ReplicationError::Protocol {
            peer: peer.id.clone(),
            detail: e.to_string(),
        })
    }
}

/// The replication record of an object write or delete.
fn object_record<'a>(bucket: &'a str, meta: &'a ObjectMeta) -> NewRecord<'a> {
    NewRecord {
        bucket,
        key: &meta.key,
        version: meta.version,
        size: meta.size,
        deleted: meta.deleted,
        op: None,
    }
}

#[async_trait]
impl WriteLog for Replicator {
    fn log(&self, bucket: &str, meta: &ObjectMeta) -> Result<u64, StoreError> {
        let rec = self
            .log
            .append_unsettled(object_record(bucket, meta))
            .map_err(store_err)?;
        self.note_logged(&rec);
        Ok(rec.seq)
    }

    fn log_op(&self, bucket: &str, key: &str, op: ReplicaOp) -> Result<u64, StoreError> {
        let rec = self
            .log
            .append_unsettled(NewRecord {
                bucket,
                key,
                version: match op {
                    ReplicaOp::PurgeVersion { version }
                    | ReplicaOp::SetVersioning { version, .. }
                    | ReplicaOp::DeleteBucket { version } => version,
                    ReplicaOp::CreateBucket { .. } => Default::default(),
                },
                size: 0,
                deleted: false,
                op: Some(op),
            })
            .map_err(store_err)?;
        self.note_logged(&rec);
        Ok(rec.seq)
    }

    fn log_folded(&self, bucket: &str, meta: &ObjectMeta) -> Result<Fold, StoreError> {
        let rec = self
            .log
            .append_folded(object_record(bucket, meta))
            .map_err(store_err)?;
        self.note_logged(&rec);
        Ok(Fold {
            seq: rec.seq,
            ts_ms: rec.ts_ms,
            cum_bytes: rec.cum_bytes,
        })
    }

    fn settled(&self, seq: u64) {
        self.log.settle(seq);
    }

    async fn wait_quorum(&self, seq: u64) -> Result<(), StoreError> {
        if self.config.write_quorum <= 1 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (id, rx) = {
            let mut q = self.quorum.lock().unwrap_or_else(|e| e.into_inner());
            if self.quorum_seq() >= seq {
                drop(q);
                self.metrics
                    .write_quorum_wait
                    .observe(started.elapsed().as_secs_f64());
                return Ok(());
            }
            let id = q.next_id;
            q.next_id += 1;
            let (tx, rx) = tokio::sync::oneshot::channel();
            q.waiting.insert((seq, id), tx);
            (id, rx)
        };
        let timeout = Duration::from_millis(self.config.quorum_timeout_ms);
        if let Ok(Ok(())) = tokio::time::timeout(timeout, rx).await {
            self.metrics
                .write_quorum_wait
                .observe(started.elapsed().as_secs_f64());
            return Ok(());
        }
        let still_waiting = self
            .quorum
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .remove(&(seq, id))
            .is_some();
        if !still_waiting {
            // Released just as the time ran out.
            return Ok(());
        }
        self.metrics.write_quorum_failures.inc();
        Err(StoreError::Unavailable(format!(
            "write quorum of {} copies not reached within {} ms; the write is durable on this node and will replicate when peers return",
            self.config.write_quorum, self.config.quorum_timeout_ms
        )))
    }
}

#[cfg(test)]
mod tests;
