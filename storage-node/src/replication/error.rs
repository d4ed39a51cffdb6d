//! The one error type of the replication module.

use std::io;

/// What replication can fail with. Shippers turn these into a bounded `reason` label.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: io::Error,
    },
    #[error("encode: {0}")]
    Encode(String),
    #[error("replication log is damaged: {0}")]
    Corrupt(String),
    #[error("peer {peer}: connect: {detail}")]
    Connect { peer: String, detail: String },
    #[error("peer {peer}: timed out")]
    Timeout { peer: String },
    #[error("peer {peer} answered {status}: {detail}")]
    Status {
        peer: String,
        status: u16,
        detail: String,
    },
    #[error("peer {peer}: bad answer: {detail}")]
    Protocol { peer: String, detail: String },
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ReplicationError {
    /// A bounded label value for `storage_node_replication_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            ReplicationError::Io { .. }
            | ReplicationError::Encode(_)
            | ReplicationError::Store(_) => "local_io",
            ReplicationError::Corrupt(_) => "log_corrupt",
            ReplicationError::Connect { .. } => "connect",
            ReplicationError::Timeout { .. } => "timeout",
            ReplicationError::Status {
                status: 401 | 403, ..
            } => "auth",
            ReplicationError::Status { status: 500.., .. } => "peer_5xx",
            ReplicationError::Status { .. } => "peer_4xx",
            ReplicationError::Protocol { .. } => "protocol",
        }
    }
}
