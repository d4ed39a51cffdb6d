//! Bucket versioning as the store sees it: a bucket's versioning status, version ids, the
//! ListObjectVersions query and page, and the operations replication carries besides object writes.
//!
//! A version id is derived from the write's [`Version`] (HLC, node tag): 24 lower-case hex digits of
//! the bit-inverted HLC and node, so ids are URL-safe, opaque to clients, and sort newest first. An
//! object written while versioning was not `Enabled` has the `null` version id, as in S3.

use serde::{Deserialize, Serialize};

use super::ObjectMeta;
use crate::replication::hlc::Version;

/// The version id of objects written while versioning was off or suspended.
pub const NULL_VERSION_ID: &str = "null";

/// A bucket's versioning status once it has been set (a bucket never set has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }
}

/// The version id of a versioned write.
pub fn version_id(v: Version) -> String {
    format!("{:016x}{:08x}", !v.hlc, !v.node)
}

/// The version a (non-null) version id stands for; `None` when it is not one of ours.
pub fn parse_version_id(id: &str) -> Option<Version> {
    if id.len() != 24
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let hlc = u64::from_str_radix(&id[..16], 16).ok()?;
    let node = u32::from_str_radix(&id[16..], 16).ok()?;
    Some(Version {
        hlc: !hlc,
        node: !node,
    })
}

impl ObjectMeta {
    /// The S3 version id of this object or delete marker: its own, or `null`.
    pub fn version_id(&self) -> String {
        if self.versioned {
            version_id(self.version)
        } else {
            NULL_VERSION_ID.to_owned()
        }
    }
}

/// A ListObjectVersions query.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub version_id_marker: Option<String>,
    /// Versions, delete markers and common prefixes per page (capped at 1000).
    pub max_keys: usize,
}

/// One version or delete marker in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionItem {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub size: u64,
    pub etag: String,
    pub last_modified_ms: u64,
}

/// One page of ListObjectVersions, versions of a key newest first.
#[derive(Debug, Clone, Default)]
pub struct VersionsPage {
    pub items: Vec<VersionItem>,
    pub common_prefixes: Vec<String>,
    /// Set when the listing is truncated.
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// What a DeleteObject did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker created; `None` in an unversioned bucket.
    pub version_id: Option<String>,
    /// A delete marker was created, or the version removed was one.
    pub delete_marker: bool,
}

/// A replicated operation that is not the write of an object file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum ReplicaOp {
    /// Permanently remove one version of a key (DeleteObject with a version id).
    PurgeVersion {
        version: Version,
    },
    CreateBucket {
        created_ms: u64,
    },
    /// Delete the bucket there, if it holds nothing written at or after `version`.
    DeleteBucket {
        version: Version,
    },
    /// The bucket's versioning status, set at `version` (the newest setting wins).
    SetVersioning {
        status: VersioningStatus,
        version: Version,
    },
}

#[cfg(test)]
mod tests;
