//! The tailer both log sources share: one thread per source and pipeline that discovers files,
//! reads new bytes, splits lines, runs the transforms and hands chunks of entries to the sink.
//!
//! It follows rotation by rename+create (the open descriptor is read to its end) and by
//! copytruncate (a shrunk file is read again from 0; the copy is recognised by its fingerprint
//! and resumed where the original was read up to), finishes deleted files from the open
//! descriptor, tells a reused inode apart by the CRC32C of the file's first bytes, emits a last
//! line without a newline once the file was idle for `eof_flush_ms`, and bounds every line.

mod config;
mod file;
mod fingerprint;
mod log_source;
mod process;
mod tailer;

pub use config::TailConfig;
pub use fingerprint::{FP_MAX, MIN_COPY_FP_LEN, fingerprint};
pub use log_source::{DiscoverFactory, LogSource, LogSources};
pub use process::{LineProcessor, LogTelemetry, ProcessorConfig};
pub use tailer::{Discover, FileSpec, Tailer, TailerHandle};

#[cfg(test)]
mod tests;
