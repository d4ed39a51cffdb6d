//! One shipping task per peer: reads the log in order, ships batches to the peer's `apply` route,
//! and moves the peer's cursor only on the peer's acknowledgement. Failures are retried with
//! exponential backoff and full jitter; a peer that was wiped, or whose backlog was dropped, is
//! repaired by recovery first. Each shipped batch logs one line.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use hmac::Mac;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use rand::{Rng, SeedableRng};

use super::error::ReplicationError;
use super::hlc::Version;
use super::log::{LogReader, LogRecord};
use super::replicator::{PeerState, Replicator};
use super::wire::{self, ApplyResponse, FrameHeader, Hello, HmacSha256};
use crate::store::disk::format::ObjectReader;
use crate::store::{ObjectMeta, ReplicaOp, now_ms};

/// Records per batch, and object bytes per batch (a larger object goes alone).
const BATCH_RECORDS: usize = 256;
const BATCH_BYTES: u64 = 4 << 20;
/// Objects up to this size are read (and verified) before the request starts.
const INLINE_MAX: u64 = 1 << 20;
const STREAM_CHUNK: u64 = 1 << 20;
const BACKOFF_BASE_MS: u64 = 100;
const BACKOFF_MAX_MS: u64 = 3_000;
/// An idle shipper says hello this often, to notice a peer that restarted with a wiped directory.
const IDLE_HELLO: Duration = Duration::from_secs(2);
/// Gauges (lag, pending) are refreshed this often.
const GAUGE_INTERVAL: Duration = Duration::from_millis(250);

/// Exponential backoff with full jitter.
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
    rng: rand::rngs::StdRng,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempt: 0,
            rng: rand::rngs::StdRng::from_os_rng(),
        }
    }
}

impl Backoff {
    /// The next pause: uniform in `[cap/4, cap]`, where `cap` doubles per failure up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let cap = BACKOFF_BASE_MS
            .saturating_mul(1 << self.attempt.min(16))
            .min(BACKOFF_MAX_MS);
        self.attempt += 1;
        Duration::from_millis(self.rng.random_range(cap / 4..=cap))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Starts one shipper per peer and the gauge refresher.
pub fn spawn(rep: Arc<Replicator>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for peer in rep.peers.clone() {
        let rep = rep.clone();
        let span = tracing::info_span!("shipper", peer = %peer.peer.id);
        tasks.push(tokio::spawn(tracing::Instrument::instrument(
            run(rep, peer),
            span,
        )));
    }
    let r = rep.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            r.refresh_gauges();
            tokio::time::sleep(GAUGE_INTERVAL).await;
        }
    }));
    tasks
}

/// Says hello: checks the peer's id and notices a changed incarnation (a wiped data directory).
async fn hello(rep: &Arc<Replicator>, peer: &Arc<PeerState>) -> Result<(), ReplicationError> {
    let h: Hello = rep
        .call_json(&peer.peer, http::Method::GET, "hello", Vec::new())
        .await?;
    if h.node_id != peer.peer.id {
        return Err(ReplicationError::Protocol {
            peer: peer.peer.id.clone(),
            detail: format!("the peer answers as node {:?}", h.node_id),
        });
    }
    note_incarnation(rep, peer, &h.incarnation)
}

fn note_incarnation(
    rep: &Replicator,
    peer: &PeerState,
    incarnation: &str,
) -> Result<(), ReplicationError> {
    let c = peer.cursor();
    match c.peer_incarnation.as_deref() {
        Some(i) if i == incarnation => Ok(()),
        Some(_) => {
            tracing::warn!(
                peer = peer.peer.id,
                "the peer's data directory changed (wiped or replaced): starting recovery"
            );
            rep.update_cursor(peer, |c| {
                c.needs_recovery = true;
                c.peer_incarnation = Some(incarnation.to_owned());
            })
        }
        None => rep.update_cursor(peer, |c| c.peer_incarnation = Some(incarnation.to_owned())),
    }
}

async fn run(rep: Arc<Replicator>, peer: Arc<PeerState>) {
    let mut backoff = Backoff::default();
    let mut reader: Option<LogReader> = None;
    let mut batch: Vec<LogRecord> = Vec::new();
    let mut contact: Option<Instant> = None;
    let mut durable = rep.log.subscribe();
    let mut last_error: Option<&'static str> = None;
    loop {
        if !peer.attached() || peer.cursor().needs_recovery {
            batch.clear();
            reader = None;
        } else if batch.is_empty() {
            let r =
                reader.get_or_insert_with(|| LogReader::new(rep.log.clone(), peer.acked_seq() + 1));
            match r.read(BATCH_RECORDS, BATCH_BYTES) {
                Ok(b) => batch = b,
                Err(e) => {
                    peer.metrics.error(e.reason());
                    tracing::error!(error = %e, "read the replication log");
                    reader = None;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            }
            peer.oldest_unacked_ms
                .store(batch.first().map_or(0, |r| r.ts_ms), Ordering::Release);
        }
        let result = async {
            if contact.is_none_or(|t| t.elapsed() > IDLE_HELLO && batch.is_empty()) {
                hello(&rep, &peer).await?;
                contact = Some(Instant::now());
                peer.up.store(true, Ordering::Release);
            }
            if peer.cursor().needs_recovery || !peer.attached() {
                super::recovery::run(&rep, &peer).await?;
                return Ok(true);
            }
            if batch.is_empty() {
                return Ok(false);
            }
            ship_batch(&rep, &peer, &batch).await?;
            contact = Some(Instant::now());
            batch.clear();
            Ok::<bool, ReplicationError>(true)
        }
        .await;
        match result {
            Ok(worked) => {
                if last_error.take().is_some() {
                    tracing::info!("peer reachable again");
                }
                backoff.reset();
                if !worked {
                    tokio::select! {
                        _ = durable.changed() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
            Err(e) => {
                let reason = e.reason();
                peer.metrics.error(reason);
                if matches!(reason, "connect" | "timeout" | "peer_5xx") {
                    peer.up.store(false, Ordering::Release);
                }
                contact = None;
                if last_error != Some(reason) {
                    tracing::warn!(error = %e, reason, pending_entries = peer.metrics.pending_entries.get(), "replication to the peer failed; retrying with backoff");
                }
                last_error = Some(reason);
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Ships one batch of log records and, on the peer's acknowledgement, moves the cursor past it.
async fn ship_batch(
    rep: &Arc<Replicator>,
    peer: &Arc<PeerState>,
    batch: &[LogRecord],
) -> Result<(), ReplicationError> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(());
    };
    let started = Instant::now();
    // A key written several times in the batch is shipped once, in its current version; a version
    // that is noncurrent by now (versioned bucket) is shipped as itself; operations go in order.
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::with_capacity(batch.len());
    for r in batch {
        let item = match r.op {
            Some(op) => ShipItem::Op {
                bucket: r.bucket.clone(),
                key: r.key.clone(),
                op,
            },
            None if rep
                .store
                .noncurrent_versions(&r.bucket, &r.key)
                .contains(&r.version) =>
            {
                ShipItem::Version {
                    bucket: r.bucket.clone(),
                    key: r.key.clone(),
                    version: r.version,
                }
            }
            None => ShipItem::Current {
                bucket: r.bucket.clone(),
                key: r.key.clone(),
            },
        };
        if seen.insert(item.clone()) {
            items.push(item);
        }
    }
    let (answer, bytes, frames) = ship_keys(rep, peer, items).await?;
    rep.acked(peer, last.seq, last.cum_bytes);
    peer.metrics.shipped_entries.inc_by(batch.len() as u64);
    peer.metrics.shipped_bytes.inc_by(bytes);
    tracing::info!(
        peer = peer.peer.id,
        first_seq = first.seq,
        last_seq = last.seq,
        entries = batch.len(),
        frames,
        bytes,
        applied = answer.applied,
        stale = answer.stale,
        lag_ms = now_ms().saturating_sub(first.ts_ms),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "replication batch shipped"
    );
    Ok(())
}

/// What one frame carries: the current file of a key, one noncurrent version, or an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ShipItem {
    Current {
        bucket: String,
        key: String,
    },
    Version {
        bucket: String,
        key: String,
        version: Version,
    },
    Op {
        bucket: String,
        key: String,
        op: ReplicaOp,
    },
}

/// An object or tombstone ready to go out.
struct Prepared {
    header: Vec<u8>,
    /// `None` for an op frame (no data).
    reader: Option<Arc<ObjectReader>>,
    inline: Option<Bytes>,
    size: u64,
}

/// Opens the current file of each key (skipping keys with none) and verifies small ones whole.
fn prepare(
    rep: &Replicator,
    peer: &PeerState,
    items: Vec<ShipItem>,
) -> Result<Vec<Prepared>, ReplicationError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (bucket, opened) = match item {
            ShipItem::Op { bucket, key, op } => {
                let header = serde_json::to_vec(&FrameHeader {
                    bucket,
                    meta: op_meta(key),
                    op: Some(op),
                })
                .map_err(|e| ReplicationError::Encode(e.to_string()))?;
                out.push(Prepared {
                    header,
                    reader: None,
                    inline: Some(Bytes::new()),
                    size: 0,
                });
                continue;
            }
            ShipItem::Current { bucket, key } => {
                let r = rep.store.open_current(&bucket, &key);
                (bucket, r)
            }
            ShipItem::Version {
                bucket,
                key,
                version,
            } => {
                let r = rep.store.open_noncurrent(&bucket, &key, version);
                (bucket, r)
            }
        };
        let reader = match opened {
            Ok(Some(r)) => r,
            // Never made visible (a crash between log and rename), or a collected tombstone.
            Ok(None) => continue,
            Err(e) => {
                // Damaged here: counted and logged by the store; nothing trustworthy to send.
                peer.metrics.error("local_io");
                tracing::error!(bucket, error = %e, "not shipping a damaged object");
                continue;
            }
        };
        let size = reader.footer.meta.size;
        let inline = if size <= INLINE_MAX {
            match reader.read_range(0, size) {
                Ok(b) => Some(Bytes::from(b)),
                Err(e) => {
                    peer.metrics.error("local_io");
                    tracing::error!(bucket, error = %e, "not shipping a damaged object");
                    continue;
                }
            }
        } else {
            if let Err(e) = reader.verify_all(STREAM_CHUNK, |_| {}) {
                peer.metrics.error("local_io");
                tracing::error!(bucket, error = %e, "not shipping a damaged object");
                continue;
            }
            None
        };
        let header = serde_json::to_vec(&FrameHeader {
            bucket,
            meta: reader.footer.meta.clone(),
            op: None,
        })
        .map_err(|e| ReplicationError::Encode(e.to_string()))?;
        out.push(Prepared {
            header,
            reader: Some(Arc::new(reader)),
            inline,
            size,
        });
    }
    Ok(out)
}

struct BodyState {
    items: VecDeque<Prepared>,
    cur: Option<(Prepared, u64, HmacSha256)>,
    ended: bool,
    secret: Arc<[u8]>,
    time_ms: u64,
}

async fn next_chunk(mut st: BodyState) -> Option<(Result<Bytes, std::io::Error>, BodyState)> {
    if let Some((p, pos, mac)) = st.cur.as_mut() {
        if *pos < p.size {
            let chunk = match (&p.inline, &p.reader) {
                (Some(b), _) => b.clone(),
                (None, None) => Bytes::new(),
                (None, Some(reader)) => {
                    let (reader, start) = (reader.clone(), *pos);
                    let end = (start + STREAM_CHUNK).min(p.size);
                    match tokio::task::spawn_blocking(move || reader.read_range(start, end)).await {
                        Ok(Ok(b)) => Bytes::from(b),
                        Ok(Err(e)) => return Some((Err(std::io::Error::other(e.to_string())), st)),
                        Err(e) => return Some((Err(std::io::Error::other(e)), st)),
                    }
                }
            };
            mac.update(&chunk);
            *pos += chunk.len() as u64;
            return Some((Ok(chunk), st));
        }
        let (_, _, mac) = st.cur.take()?;
        return Some((Ok(Bytes::copy_from_slice(&mac.finalize().into_bytes())), st));
    }
    match st.items.pop_front() {
        Some(p) => {
            let mut head = Vec::with_capacity(4 + p.header.len());
            head.extend_from_slice(&(p.header.len() as u32).to_le_bytes());
            head.extend_from_slice(&p.header);
            let mac = wire::frame_mac(&st.secret, st.time_ms, &p.header);
            st.cur = Some((p, 0, mac));
            Some((Ok(Bytes::from(head)), st))
        }
        None if !st.ended => {
            st.ended = true;
            Some((Ok(Bytes::from_static(&[0, 0, 0, 0])), st))
        }
        None => None,
    }
}

/// The metadata an op frame carries: only its key matters.
fn op_meta(key: String) -> ObjectMeta {
    ObjectMeta {
        key,
        size: 0,
        etag: String::new(),
        last_modified_ms: 0,
        attrs: Default::default(),
        checksums: Default::default(),
        parts: 0,
        version: Version::default(),
        deleted: false,
        versioned: false,
        delete_marker: false,
    }
}

/// Sends `items` (current files, noncurrent versions, operations) to the peer: (answer, data
/// bytes sent, frames sent). Used by the shipper and by recovery.
pub(super) async fn ship_keys(
    rep: &Arc<Replicator>,
    peer: &Arc<PeerState>,
    items: Vec<ShipItem>,
) -> Result<(ApplyResponse, u64, usize), ReplicationError> {
    let (r, p) = (rep.clone(), peer.clone());
    let prepared = tokio::task::spawn_blocking(move || prepare(&r, &p, items))
        .await
        .map_err(|e| ReplicationError::Io {
            context: "prepare batch",
            source: std::io::Error::other(e),
        })??;
    let bytes: u64 = prepared.iter().map(|p| p.size).sum();
    let frames = prepared.len();
    if frames == 0 {
        return Ok((ApplyResponse::default(), 0, 0));
    }
    let time_ms = now_ms();
    let state = BodyState {
        items: prepared.into(),
        cur: None,
        ended: false,
        secret: rep.secret.clone().into(),
        time_ms,
    };
    let stream = futures::stream::unfold(state, next_chunk).map_ok(Frame::data);
    let body = StreamBody::new(stream).boxed();
    let timeout = Duration::from_secs(30 + bytes / (4 << 20));
    let answer = rep
        .call(
            &peer.peer,
            http::Method::POST,
            "apply",
            body,
            wire::FRAMES,
            time_ms,
            timeout,
        )
        .await?;
    let answer: ApplyResponse =
        serde_json::from_slice(&answer).map_err(|e| ReplicationError::Protocol {
            peer: peer.peer.id.clone(),
            detail: e.to_string(),
        })?;
    if let Some(inc) = answer.incarnation.as_deref() {
        note_incarnation(rep, peer, inc)?;
    }
    Ok((answer, bytes, frames))
}
