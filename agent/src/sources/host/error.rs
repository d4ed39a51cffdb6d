//! The host source's errors.

use std::path::PathBuf;

/// What failed in a host sub-collector.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file under `/proc` or `/sys` could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file had content the parser did not understand.
    #[error("parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An exclude pattern in the config is not a valid regular expression.
    #[error("compile {option} pattern: {source}")]
    Pattern {
        /// The config option.
        option: &'static str,
        /// The regex error.
        source: regex::Error,
    },
    /// The previous collection is still running on its thread.
    #[error("previous host collection is still running")]
    Busy,
    /// The blocking collection thread panicked or was cancelled.
    #[error("host collection thread: {0}")]
    Join(String),
    /// A system call failed.
    #[error("{call}: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Reads a whole file, at most `limit` bytes (files under /proc and /sys are small; the bound
/// keeps a misbehaving pseudo-file from eating memory).
pub(crate) fn read_bounded(path: &std::path::Path, limit: u64) -> Result<String, HostError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| HostError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut buf = String::new();
    file.take(limit)
        .read_to_string(&mut buf)
        .map_err(|source| HostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buf)
}

/// The most bytes read from one /proc or /sys file.
pub(crate) const MAX_PROC_FILE_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn parse_err(path: &std::path::Path, reason: impl Into<String>) -> HostError {
    HostError::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
