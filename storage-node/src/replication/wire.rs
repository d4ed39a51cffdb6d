//! The replication protocol on the peer's S3 listener, under [`PREFIX`]:
//!
//! - `GET  hello`    -> [`Hello`]: the peer's node id and data-directory incarnation.
//! - `POST versions` [`VersionsRequest`] -> [`VersionsResponse`]: what the peer holds for some keys
//!   (recovery compares listings page by page with it).
//! - `POST apply`    a stream of frames -> [`ApplyResponse`]:
//!   ```text
//!   frame := hdr_len u32 LE | FrameHeader JSON | data (meta.size bytes) | mac (32 bytes)
//!   end   := 0 u32
//!   ```
//!
//! Every request carries `x-nodewatch-node`, `x-nodewatch-time` (Unix ms) and
//! `x-nodewatch-signature`: hex HMAC-SHA256, keyed with the cluster's secret key, over the method,
//! path, node, time and the SHA-256 of the body (`apply` signs the literal `frames` instead, and each
//! frame carries its own MAC over the time, its header and its data, checked before it is applied).
//! A request more than [`MAX_SKEW_MS`] away from the receiver's clock, or with a bad signature, is
//! answered 403.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::hlc::Version;
use crate::store::{ObjectMeta, ReplicaOp};

/// Every replication route starts with this; it cannot be an S3 bucket name (buckets have no `_`).
pub const PREFIX: &str = "/_nodewatch/replication/v1/";
pub const HDR_NODE: &str = "x-nodewatch-node";
pub const HDR_TIME: &str = "x-nodewatch-time";
pub const HDR_SIG: &str = "x-nodewatch-signature";
/// Largest clock difference accepted between sender and receiver.
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1000;
/// Largest frame header and largest JSON request body.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
pub const MAX_JSON_BODY: usize = 1 << 20;
/// At most this many keys per `versions` request, and frames per `apply` request.
pub const MAX_KEYS: usize = 1000;
pub const MAC_LEN: usize = 32;
/// What `apply` signs in place of a body hash.
pub const FRAMES: &str = "frames";

pub type HmacSha256 = Hmac<Sha256>;

/// `GET hello`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: String,
    pub incarnation: String,
}

/// `POST versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionsRequest {
    pub bucket: String,
    pub keys: Vec<String>,
}

/// One key's state on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: Version,
    pub deleted: bool,
}

/// The answer to [`VersionsRequest`], in the order of its keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionsResponse {
    pub versions: Vec<Option<KeyVersion>>,
    /// The noncurrent versions held of each key (versioned buckets), in the order of the keys.
    #[serde(default)]
    pub noncurrent: Vec<Vec<Version>>,
}

/// What precedes the data of one frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameHeader {
    pub bucket: String,
    /// The object or tombstone; for an `op` frame only its key matters (no data follows).
    pub meta: ObjectMeta,
    /// An operation other than an object write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<ReplicaOp>,
}

/// The answer to `apply`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyResponse {
    /// Frames stored.
    pub applied: u64,
    /// Frames not stored because the receiver held the same or a newer version.
    pub stale: u64,
    /// The receiver's data-directory incarnation (a change means it was wiped).
    #[serde(default)]
    pub incarnation: Option<String>,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(secret).expect("hmac takes any key length")
}

/// The request signature.
pub fn sign(
    secret: &[u8],
    method: &str,
    path: &str,
    node: &str,
    time_ms: u64,
    body_hash: &str,
) -> String {
    let mut m = mac(secret);
    m.update(
        format!("nodewatch-replication-v1\n{method}\n{path}\n{node}\n{time_ms}\n{body_hash}")
            .as_bytes(),
    );
    hex::encode(m.finalize().into_bytes())
}

/// Hex SHA-256 of a body.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Checks a signature in constant time.
pub fn verify(
    secret: &[u8],
    method: &str,
    path: &str,
    node: &str,
    time_ms: u64,
    body_hash: &str,
    sig_hex: &str,
) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(
        format!("nodewatch-replication-v1\n{method}\n{path}\n{node}\n{time_ms}\n{body_hash}")
            .as_bytes(),
    );
    m.verify_slice(&sig).is_ok()
}

/// A frame MAC in progress: fed the header, then the data as it streams.
pub fn frame_mac(secret: &[u8], time_ms: u64, header: &[u8]) -> HmacSha256 {
    let mut m = mac(secret);
    m.update(format!("nodewatch-frame-v1\n{time_ms}\n").as_bytes());
    m.update(&(header.len() as u32).to_le_bytes());
    m.update(header);
    m
}

#[cfg(test)]
mod tests;
