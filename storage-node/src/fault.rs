//! Fault injection for tests, on only with `--fault-injection` (off by default; when off, the
//! admin route `/admin/fault` does not exist).
//!
//! `POST /admin/fault` with `{"disk_delay_ms": N}` delays every S3 op by N ms before it reaches the
//! store (applied in the metered layer, so the delay shows in `storage_node_op_latency_seconds`);
//! `{"disk_delay_ms": 0}` clears it. The state is process-wide: one node is one process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

/// The largest delay accepted, so that a typo cannot hang every client for hours.
pub const MAX_DISK_DELAY_MS: u64 = 60_000;

static ENABLED: AtomicBool = AtomicBool::new(false);
static DISK_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// What is wrong with a fault request.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The body is not the expected JSON.
    #[error("decode fault request: {0}")]
    Decode(#[from] serde_json::Error),
    /// The delay is above [`MAX_DISK_DELAY_MS`].
    #[error("disk_delay_ms {0} is above {MAX_DISK_DELAY_MS}")]
    TooLarge(u64),
}

/// The body of `POST /admin/fault`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Delay applied to each store operation, in milliseconds; 0 clears it.
    pub disk_delay_ms: u64,
}

/// Turns fault injection on (at start-up, from `--fault-injection`).
pub fn enable() {
    ENABLED.store(true, Ordering::Release);
}

/// Whether `--fault-injection` was given.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Applies a `POST /admin/fault` body; returns the delay now in force.
pub fn apply(body: &[u8]) -> Result<u64, FaultError> {
    let req: FaultRequest = serde_json::from_slice(body)?;
    if req.disk_delay_ms > MAX_DISK_DELAY_MS {
        return Err(FaultError::TooLarge(req.disk_delay_ms));
    }
    DISK_DELAY_MS.store(req.disk_delay_ms, Ordering::Release);
    tracing::warn!(
        disk_delay_ms = req.disk_delay_ms,
        "fault injection: disk delay set"
    );
    Ok(req.disk_delay_ms)
}

/// The injected disk delay, if any.
pub fn disk_delay() -> Option<Duration> {
    if !enabled() {
        return None;
    }
    match DISK_DELAY_MS.load(Ordering::Acquire) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests;
