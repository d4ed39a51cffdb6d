//! Tailer settings (`[sources.<name>.tail]`).

use serde::Deserialize;

/// How files are watched and read.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// How often the glob or directory is searched for new files: new files are noticed within
    /// this delay.
    #[serde(default = "default_discover_interval_ms")]
    pub discover_interval_ms: u64,
    /// How long the tailer sleeps when no file had new bytes.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The most bytes in one line; the rest of a longer line is discarded and counted.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// A last line without a newline is sent once the file did not grow for this long.
    #[serde(default = "default_eof_flush_ms")]
    pub eof_flush_ms: u64,
    /// A file that was renamed away or deleted is still read for this long after its end.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// The most files held open; more are picked up as others close.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            discover_interval_ms: default_discover_interval_ms(),
            poll_interval_ms: default_poll_interval_ms(),
            max_line_bytes: default_max_line_bytes(),
            eof_flush_ms: default_eof_flush_ms(),
            rotate_wait_ms: default_rotate_wait_ms(),
            max_open_files: default_max_open_files(),
        }
    }
}

fn default_discover_interval_ms() -> u64 {
    1_000
}
fn default_poll_interval_ms() -> u64 {
    100
}
fn default_max_line_bytes() -> usize {
    256 * 1024
}
fn default_eof_flush_ms() -> u64 {
    1_000
}
fn default_rotate_wait_ms() -> u64 {
    5_000
}
fn default_max_open_files() -> usize {
    1_024
}
