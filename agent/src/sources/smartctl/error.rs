//! The smartctl source's errors.

/// What failed running or reading smartctl.
#[derive(Debug, thiserror::Error)]
pub enum SmartctlError {
    /// smartctl could not be started.
    #[error("run {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// smartctl ran past its timeout and was killed.
    #[error("smartctl {what} ran past {timeout_ms} ms; killed")]
    Timeout {
        /// The scan or the device.
        what: String,
        /// The timeout.
        timeout_ms: u64,
    },
    /// Reading smartctl's output failed.
    #[error("read smartctl output for {what}: {source}")]
    Output {
        /// The scan or the device.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The output was larger than `max_output_bytes`.
    #[error("smartctl output for {what} is over {limit} bytes")]
    TooLarge {
        /// The scan or the device.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// The output is not JSON (truncated, or not smartctl's).
    #[error("parse smartctl JSON for {what}: {source}")]
    Json {
        /// The scan or the device.
        what: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// smartctl said the query failed (exit status bit 0 or 1, and not a standby skip).
    #[error("smartctl query for {what} failed with exit status {status}: {message}")]
    Query {
        /// The scan or the device.
        what: String,
        /// smartctl's exit status.
        status: i32,
        /// smartctl's first error message.
        message: String,
    },
}
