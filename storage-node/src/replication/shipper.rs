//! One shipping task per peer: reads the log in order, ships batches to the peer's `apply` route
//! (up to `PIPELINE_DEPTH` requests in flight; a batch with an operation goes alone), and moves the
//! peer's cursor only on the peer's acknowledgement, in log order. Failures are retried with
//! exponential backoff and full jitter; a peer that was wiped, or whose backlog was dropped, is
//! repaired by recovery first. Each shipped batch logs one line.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::FuturesOrdered;
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
/// Batches one peer may have in flight at once: the next batch is sent while the peer applies the
/// one before; answers are taken in log order (see `Pipeline`).
const PIPELINE_DEPTH: usize = 2;
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

/// What one batch's request came back with.
type Sent = (
    Vec<LogRecord>,
    Instant,
    Result<(ApplyResponse, u64, usize), ReplicationError>,
);

/// A batch's request to the peer.
type Sending = Pin<Box<dyn Future<Output = Sent> + Send>>;

/// Sends one batch to the peer.
fn send_batch(rep: Arc<Replicator>, peer: Arc<PeerState>, batch: Vec<LogRecord>) -> Sending {
    Box::pin(async move {
        let started = Instant::now();
        let items = ship_items(&rep, &batch);
        let res = ship_keys(&rep, &peer, items).await;
        (batch, started, res)
    })
}

/// The batches of one peer that are read and not yet acknowledged, in log order: `queued` (read,
/// not sent) and `in_flight` (sent, answers taken in order). A batch holding an operation goes
/// alone: it waits until nothing is in flight, and nothing is sent after it until it is answered.
struct Pipeline {
    queued: VecDeque<Vec<LogRecord>>,
    in_flight: FuturesOrdered<Sending>,
    /// `ts_ms` of the first record of each batch in flight.
    firsts: VecDeque<u64>,
    /// A batch holding an operation is in flight.
    barrier: bool,
}

fn has_op(batch: &[LogRecord]) -> bool {
    batch.iter().any(|r| r.op.is_some())
}

impl Pipeline {
    fn new() -> Self {
        Pipeline {
            queued: VecDeque::new(),
            in_flight: FuturesOrdered::new(),
            firsts: VecDeque::new(),
            barrier: false,
        }
    }

    /// Drops every batch (requests in flight are cancelled; what the peer applied of them is
    /// shipped again and answered as stale).
    fn reset(&mut self) {
        *self = Pipeline::new();
    }

    /// Whether another batch may be read.
    fn wants_more(&self) -> bool {
        self.queued.len() + self.in_flight.len() < PIPELINE_DEPTH
            && !self.barrier
            && !self.queued.iter().any(|b| has_op(b))
    }

    /// Sends queued batches (by `send`) while the rules allow.
    fn launch(&mut self, mut send: impl FnMut(Vec<LogRecord>) -> Sending) {
        while !self.barrier && self.in_flight.len() < PIPELINE_DEPTH {
            let Some(batch) = self.queued.front() else {
                break;
            };
            let alone = has_op(batch);
            if alone && !self.in_flight.is_empty() {
                break;
            }
            let Some(batch) = self.queued.pop_front() else {
                break;
            };
            self.firsts.push_back(batch.first().map_or(0, |r| r.ts_ms));
            self.barrier = alone;
            self.in_flight.push_back(send(batch));
        }
    }

    /// Takes the oldest answer's batch off the pipeline (after `in_flight` yielded it).
    fn answered(&mut self) {
        self.firsts.pop_front();
        if self.in_flight.is_empty() {
            self.barrier = false;
        }
    }

    /// `ts_ms` of the oldest record read and not acknowledged (0: none).
    fn oldest_ms(&self) -> u64 {
        self.firsts
            .front()
            .copied()
            .or_else(|| self.queued.front().and_then(|b| b.first()).map(|r| r.ts_ms))
            .unwrap_or(0)
    }
}

async fn run(rep: Arc<Replicator>, peer: Arc<PeerState>) {
    let mut backoff = Backoff::default();
    let mut reader: Option<LogReader> = None;
    let mut pipe = Pipeline::new();
    let mut contact: Option<Instant> = None;
    let mut durable = rep.log.subscribe();
    let mut last_error: Option<&'static str> = None;
    loop {
        if !peer.attached() || peer.cursor().needs_recovery {
            pipe.reset();
            reader = None;
        } else {
            let mut failed = None;
            while pipe.wants_more() {
                let r = reader
                    .get_or_insert_with(|| LogReader::new(rep.log.clone(), peer.acked_seq() + 1));
                match r.read(BATCH_RECORDS, BATCH_BYTES) {
                    Ok(b) if b.is_empty() => break,
                    Ok(b) => pipe.queued.push_back(b),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                peer.metrics.error(e.reason());
                tracing::error!(error = %e, "read the replication log");
                pipe.reset();
                reader = None;
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            peer.oldest_unacked_ms
                .store(pipe.oldest_ms(), Ordering::Release);
        }
        let result = async {
            if pipe.in_flight.is_empty() {
                if contact.is_none_or(|t| t.elapsed() > IDLE_HELLO && pipe.queued.is_empty()) {
                    hello(&rep, &peer).await?;
                    contact = Some(Instant::now());
                    peer.up.store(true, Ordering::Release);
                }
                if peer.cursor().needs_recovery || !peer.attached() {
                    super::recovery::run(&rep, &peer).await?;
                    return Ok(true);
                }
            }
            pipe.launch(|b| send_batch(rep.clone(), peer.clone(), b));
            if pipe.in_flight.is_empty() {
                return Ok(false);
            }
            // The oldest answer, or new records while there is room for another batch.
            let room = pipe.wants_more();
            tokio::select! {
                biased;
                done = futures::StreamExt::next(&mut pipe.in_flight) => {
                    let Some((batch, started, res)) = done else {
                        return Ok(true);
                    };
                    pipe.answered();
                    let (answer, bytes, frames) = res?;
                    acknowledged(&rep, &peer, &batch, started, &answer, bytes, frames);
                    contact = Some(Instant::now());
                    peer.oldest_unacked_ms.store(pipe.oldest_ms(), Ordering::Release);
                }
                _ = durable.changed(), if room => {}
            }
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
                pipe.reset();
                reader = None;
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

/// What a batch ships: a key written several times in the batch is shipped once, in its current
/// version (the newest version the batch names for it is remembered, see [`ShipItem::Current`]); a
/// version that is noncurrent by now (versioned bucket) is shipped as itself; operations go in
/// order.
fn ship_items(rep: &Replicator, batch: &[LogRecord]) -> Vec<ShipItem> {
    let mut seen = std::collections::HashSet::new();
    let mut current_at = std::collections::HashMap::new();
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
            None => {
                let k = (r.bucket.clone(), r.key.clone());
                if let Some(&at) = current_at.get(&k) {
                    if let Some(ShipItem::Current {
                        version: Some(v), ..
                    }) = items.get_mut(at)
                    {
                        *v = (*v).max(r.version);
                    }
                    continue;
                }
                current_at.insert(k, items.len());
                ShipItem::Current {
                    bucket: r.bucket.clone(),
                    key: r.key.clone(),
                    version: Some(r.version),
                }
            }
        };
        if seen.insert(item.clone()) {
            items.push(item);
        }
    }
    items
}

/// The peer acknowledged a batch (and every one before it): moves the cursor past it.
fn acknowledged(
    rep: &Arc<Replicator>,
    peer: &Arc<PeerState>,
    batch: &[LogRecord],
    started: Instant,
    answer: &ApplyResponse,
    bytes: u64,
    frames: usize,
) {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return;
    };
    rep.acked(peer, last.seq, last.cum_bytes);
    peer.metrics
        .batch_seconds
        .observe(started.elapsed().as_secs_f64());
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
}

/// What one frame carries: the current file of a key, one noncurrent version, or an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ShipItem {
    /// The key's current file. `version`: the newest version the shipped records name for the key
    /// (`None`: whatever is current, as recovery ships). When the key was written again between
    /// reading the batch and opening the file, and that version is kept as noncurrent (versioned
    /// bucket), that version goes instead: the newer one has a record of its own, and shipping it
    /// here would leave the peer without the version this batch's acknowledgement stands for.
    Current {
        bucket: String,
        key: String,
        version: Option<Version>,
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
            ShipItem::Current {
                bucket,
                key,
                version,
            } => {
                let r = match (rep.store.open_current(&bucket, &key), version) {
                    (Ok(Some(cur)), Some(want))
                        if cur.footer.meta.version != want
                            && rep.store.noncurrent_versions(&bucket, &key).contains(&want) =>
                    {
                        rep.store.open_noncurrent(&bucket, &key, want)
                    }
                    (r, _) => r,
                };
                (bucket, r)
            }
            ShipItem::Version {
                bucket,
                key,
                version,
            } => {
                // Current again by now (the newer versions were deleted for good since the batch
                // was read): the key's current file is that very version.
                let r = match rep.store.open_noncurrent(&bucket, &key, version) {
                    Ok(None) => rep
                        .store
                        .open_current(&bucket, &key)
                        .map(|r| r.filter(|r| r.footer.meta.version == version)),
                    r => r,
                };
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

#[cfg(test)]
mod tests;
