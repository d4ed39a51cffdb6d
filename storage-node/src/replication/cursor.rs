//! Per-peer cursor files, `<data_dir>/replication/peers/<peer>.json`: how far the peer acknowledged
//! the log, whether it needs recovery, and the incarnation of its data directory last seen. Written
//! atomically (temporary file, fsync, rename, fsync directory), so a crash leaves the old or the new.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ReplicationError;

/// What is remembered about one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Every log record up to this sequence number is acknowledged by the peer.
    pub acked_seq: u64,
    /// `cum_bytes` of that record.
    pub acked_cum_bytes: u64,
    /// The peer must be repaired by recovery (its backlog was dropped, it is new, or it was wiped).
    pub needs_recovery: bool,
    /// The peer's data-directory incarnation when last seen; a change means it was wiped.
    pub peer_incarnation: Option<String>,
}

fn io_ctx(context: &'static str) -> impl FnOnce(std::io::Error) -> ReplicationError {
    move |source| ReplicationError::Io { context, source }
}

/// The cursor file of `peer` in `dir`.
pub fn path(dir: &Path, peer: &str) -> PathBuf {
    dir.join(format!("{peer}.json"))
}

/// Reads a cursor; `Ok(None)` when the peer has none yet. A damaged file counts as none (the peer is
/// then repaired by recovery), and is logged.
pub fn load(dir: &Path, peer: &str) -> Result<Option<Cursor>, ReplicationError> {
    let p = path(dir, peer);
    match std::fs::read(&p) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                tracing::error!(peer, file = %p.display(), error = %e, "replication cursor file does not parse; the peer will be repaired by recovery");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReplicationError::Io {
            context: "read cursor file",
            source: e,
        }),
    }
}

/// Writes a cursor atomically and durably.
pub fn store(dir: &Path, peer: &str, cursor: &Cursor) -> Result<(), ReplicationError> {
    std::fs::create_dir_all(dir).map_err(io_ctx("create cursor directory"))?;
    let json = serde_json::to_vec(cursor).map_err(|e| ReplicationError::Encode(e.to_string()))?;
    let tmp = dir.join(format!(".{peer}.json.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io_ctx("create cursor file"))?;
    f.write_all(&json).map_err(io_ctx("write cursor file"))?;
    f.sync_all().map_err(io_ctx("fsync cursor file"))?;
    std::fs::rename(&tmp, path(dir, peer)).map_err(io_ctx("rename cursor file"))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_ctx("fsync cursor directory"))?;
    Ok(())
}

/// This data directory's incarnation: a random id made the first time the directory is used. A
/// wiped directory gets a new one, which tells peers to run recovery.
pub fn incarnation(dir: &Path) -> Result<String, ReplicationError> {
    let p = dir.join("incarnation");
    match std::fs::read_to_string(&p) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ReplicationError::Io {
                context: "read incarnation",
                source: e,
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(io_ctx("create replication directory"))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let tmp = dir.join(".incarnation.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_ctx("create incarnation"))?;
    f.write_all(id.as_bytes())
        .map_err(io_ctx("write incarnation"))?;
    f.sync_all().map_err(io_ctx("fsync incarnation"))?;
    std::fs::rename(&tmp, &p).map_err(io_ctx("rename incarnation"))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_ctx("fsync replication directory"))?;
    Ok(id)
}
