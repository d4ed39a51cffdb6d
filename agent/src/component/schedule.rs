//! When and for how long a collected source runs, and the checks every scheduled source shares.

use std::time::Duration;

use super::ComponentError;

/// When and for how long a source runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between the starts of two collections.
    pub interval: Duration,
    /// How long one collection may run.
    pub timeout: Duration,
    /// How long a batch is served without being refreshed.
    pub ttl: Duration,
}

impl Schedule {
    /// A schedule whose batches live for two intervals plus one timeout.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Schedule {
            interval,
            timeout,
            ttl: interval * 2 + timeout,
        }
    }

    /// From the `interval_secs` and `timeout_ms` keys every collected source has.
    pub fn from_config(interval_secs: u64, timeout_ms: u64) -> Self {
        Schedule::new(
            Duration::from_secs(interval_secs),
            Duration::from_millis(timeout_ms),
        )
    }

    /// Checks the `interval_secs`, `timeout_ms` and `max_series` keys of a collected source.
    pub fn validate(
        interval_secs: u64,
        timeout_ms: u64,
        max_series: usize,
    ) -> Result<(), ComponentError> {
        if interval_secs == 0 || interval_secs > 86_400 {
            return Err(ComponentError::new(
                "interval_secs",
                "must be between 1 and 86400",
            ));
        }
        if timeout_ms == 0 || timeout_ms > interval_secs * 1000 {
            return Err(ComponentError::new(
                "timeout_ms",
                "must be at least 1 and at most the interval",
            ));
        }
        if max_series == 0 {
            return Err(ComponentError::new("max_series", "must be at least 1"));
        }
        Ok(())
    }
}
