//! The remote_write sink's errors.

/// What failed in the remote_write sink.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// The URL is not an http(s) URL with a host.
    #[error("remote_write url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A credentials or CA file cannot be read or used.
    #[error("read {what} {path}: {reason}")]
    File {
        /// Which file ("password_file", "tls_ca_file").
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The WAL failed.
    #[error("remote_write wal: {0}")]
    Wal(#[from] crate::buffer::BufferError),
    /// A WAL record does not decode (it passed its CRC, so this is a format bug or old version).
    #[error("decode wal record: {0}")]
    Record(String),
}
