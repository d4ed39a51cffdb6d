//! Recovery (backfill): brings a peer that missed writes (its backlog was dropped, it is new, or its
//! data directory was wiped) back to a full copy. Both listings are compared by version, a page at a
//! time: this node pages through its own keys (objects and tombstones), asks the peer for its
//! versions of the same keys, and ships every key where it holds the newer version. Writes made
//! after the pass started are kept in the log for the peer and shipped normally afterwards, so the
//! pass needs no snapshot. One log line per pass.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::error::ReplicationError;
use super::replicator::{PeerState, Replicator};
use super::shipper::{ShipItem, ship_keys};
use super::wire::{VersionsRequest, VersionsResponse};
use crate::store::{ObjectStore, ReplicaOp};

/// Keys compared per page (the peer answers at most `wire::MAX_KEYS`).
const PAGE: usize = 500;
/// Keys shipped per request during recovery.
const SHIP_CHUNK: usize = 128;

/// Marks recovery inactive however the pass ends.
struct Active<'a>(&'a PeerState);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.recovering.store(false, Ordering::Release);
        self.0.metrics.recovery_active.set(0);
        self.0.metrics.recovery_objects_remaining.set(0);
    }
}

/// Runs one recovery pass to `peer`; on success the peer's cursor no longer needs recovery.
pub(super) async fn run(
    rep: &Arc<Replicator>,
    peer: &Arc<PeerState>,
) -> Result<(), ReplicationError> {
    let started = Instant::now();
    let (start_seq, start_cum) = (rep.log.last_seq(), rep.log.last_cum_bytes());
    // Marked first: re-attaching moves the peer's cursor to the end of the log, and a write quorum
    // must not count it for those records until the pass has sent them.
    peer.recovering.store(true, Ordering::Release);
    let _active = Active(peer);
    {
        let (r, p) = (rep.clone(), peer.clone());
        tokio::task::spawn_blocking(move || r.reattach(&p, start_seq, start_cum))
            .await
            .map_err(|e| ReplicationError::Io {
                context: "cursor task",
                source: std::io::Error::other(e),
            })??;
    }
    peer.metrics.recovery_active.set(1);
    let total = rep.store.version_count();
    peer.metrics.recovery_objects_remaining.set(total as i64);
    tracing::info!(
        peer = peer.peer.id,
        objects = total,
        from_seq = start_seq,
        "recovery pass started"
    );
    let (mut compared, mut sent, mut bytes) = (0u64, 0u64, 0u64);
    for bucket in rep.store.list_buckets().await? {
        // The bucket itself first (an empty one has no keys to carry it), and its versioning.
        let mut ops = vec![ShipItem::Op {
            bucket: bucket.name.clone(),
            key: String::new(),
            op: ReplicaOp::CreateBucket {
                created_ms: bucket.created_ms,
            },
        }];
        if let Some((status, version)) = rep.store.versioning_state(&bucket.name) {
            ops.push(ShipItem::Op {
                bucket: bucket.name.clone(),
                key: String::new(),
                op: ReplicaOp::SetVersioning { status, version },
            });
        }
        ship_keys(rep, peer, ops).await?;
        let mut after: Option<String> = None;
        loop {
            let page = rep
                .store
                .versions_page(&bucket.name, after.as_deref(), PAGE);
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            let req = VersionsRequest {
                bucket: bucket.name.clone(),
                keys: page.iter().map(|e| e.key.clone()).collect(),
            };
            let body =
                serde_json::to_vec(&req).map_err(|e| ReplicationError::Encode(e.to_string()))?;
            let theirs: VersionsResponse = rep
                .call_json(&peer.peer, http::Method::POST, "versions", body)
                .await?;
            if theirs.versions.len() != page.len() {
                return Err(ReplicationError::Protocol {
                    peer: peer.peer.id.clone(),
                    detail: format!("{} versions for {} keys", theirs.versions.len(), page.len()),
                });
            }
            let mut diff: Vec<ShipItem> = Vec::new();
            for (i, (mine, theirs_current)) in page.iter().zip(&theirs.versions).enumerate() {
                let ship_current = match theirs_current {
                    // A tombstone the peer never saw the object of needs no shipping.
                    None => !mine.deleted,
                    Some(t) => t.version < mine.version,
                };
                if ship_current {
                    diff.push(ShipItem::Current {
                        bucket: bucket.name.clone(),
                        key: mine.key.clone(),
                        version: None,
                    });
                }
                // Noncurrent versions (versioned buckets) the peer holds in no form.
                let theirs_nc = theirs.noncurrent.get(i).map_or(&[][..], Vec::as_slice);
                for v in &mine.noncurrent {
                    if !theirs_nc.contains(v) && theirs_current.is_none_or(|t| t.version != *v) {
                        diff.push(ShipItem::Version {
                            bucket: bucket.name.clone(),
                            key: mine.key.clone(),
                            version: *v,
                        });
                    }
                }
            }
            compared += page.len() as u64;
            let mut to_send = diff.len() as u64;
            peer.metrics
                .recovery_objects_remaining
                .set((total.saturating_sub(compared) + to_send) as i64);
            for chunk in diff.chunks(SHIP_CHUNK) {
                let (_, b, frames) = ship_keys(rep, peer, chunk.to_vec()).await?;
                sent += frames as u64;
                bytes += b;
                to_send = to_send.saturating_sub(chunk.len() as u64);
                peer.metrics.recovery_objects.inc_by(frames as u64);
                peer.metrics.recovery_bytes.inc_by(b);
                peer.metrics
                    .recovery_objects_remaining
                    .set((total.saturating_sub(compared) + to_send) as i64);
            }
        }
    }
    {
        let (r, p) = (rep.clone(), peer.clone());
        tokio::task::spawn_blocking(move || r.update_cursor(&p, |c| c.needs_recovery = false))
            .await
            .map_err(|e| ReplicationError::Io {
                context: "cursor task",
                source: std::io::Error::other(e),
            })??;
    }
    drop(_active);
    rep.quorum_changed();
    tracing::info!(
        peer = peer.peer.id,
        compared,
        objects = sent,
        bytes,
        seconds = started.elapsed().as_secs_f64(),
        "recovery pass finished"
    );
    Ok(())
}
