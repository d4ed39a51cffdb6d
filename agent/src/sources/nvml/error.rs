//! The nvml source's errors.

/// What failed loading or reading NVML.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The NVML library could not be loaded or initialised (no driver, no GPU).
    #[error("load NVML: {0}")]
    NotPresent(String),
    /// A query every GPU needs failed (the device count, a device handle).
    #[error("query NVML {what}: {message}")]
    Query {
        /// What was asked.
        what: String,
        /// NVML's message.
        message: String,
    },
    /// The previous read is still blocked inside NVML; no second one is started.
    #[error("previous NVML read still running")]
    Busy,
    /// The blocking task failed (it panicked or was cancelled).
    #[error("NVML read task: {0}")]
    Task(String),
}
