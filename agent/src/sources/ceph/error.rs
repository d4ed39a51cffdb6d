//! The ceph source's errors.

use std::path::PathBuf;

/// What failed talking to one admin socket or reading its reply.
#[derive(Debug, thiserror::Error)]
pub enum CephError {
    /// The socket could not be connected (a stale `.asok` of a stopped daemon).
    #[error("connect {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Sending or receiving failed.
    #[error("talk to {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No reply within the socket timeout.
    #[error("{path}: no reply within {timeout_ms} ms")]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// The timeout.
        timeout_ms: u64,
    },
    /// The reply announced more bytes than `max_reply_bytes`.
    #[error("{path}: reply of {len} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// The socket.
        path: PathBuf,
        /// The announced length.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The connection closed before the announced length arrived.
    #[error("{path}: reply truncated ({got} of {want} bytes)")]
    Truncated {
        /// The socket.
        path: PathBuf,
        /// Bytes received.
        got: usize,
        /// Bytes announced.
        want: usize,
    },
    /// The reply is not the JSON the command returns.
    #[error("{path}: {what} reply is not valid: {message}")]
    Reply {
        /// The socket.
        path: PathBuf,
        /// The command.
        what: String,
        /// Why.
        message: String,
    },
    /// The socket glob is not a directory plus a file-name pattern.
    #[error("socket_glob {0:?}: the directory part must have no wildcards")]
    Glob(String),
}

impl CephError {
    /// A short, bounded reason for the error counter's `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            CephError::Connect { .. } => "connect",
            CephError::Io { .. } => "io",
            CephError::Timeout { .. } => "timeout",
            CephError::TooLarge { .. } => "too_large",
            CephError::Truncated { .. } => "truncated",
            CephError::Reply { .. } => "invalid_reply",
            CephError::Glob(_) => "config",
        }
    }
}
