//! The remote_write sink's errors.

/// What failed in the remote_write sink.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// A WAL record does not decode (it passed its CRC, so this is a format bug or old version).
    #[error("decode wal record: {0}")]
    Record(String),
}
