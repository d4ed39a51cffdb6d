//! The buffer's errors.

use std::path::PathBuf;

/// What failed in the on-disk queue.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open segment", "fsync cursor").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record is larger than the format or the byte bound allows.
    #[error("record of {len} bytes is over the limit of {limit} bytes")]
    RecordTooLarge {
        /// The record's size.
        len: usize,
        /// The limit.
        limit: u64,
    },
    /// The configuration cannot work.
    /// A blocked append was told to stop.
    #[error("the queue is closed")]
    Closed,
    #[error("invalid buffer config: {0}")]
    Config(&'static str),
}

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> BufferError {
    let path = path.into();
    move |source| BufferError::Io { op, path, source }
}
