//! When and for how long a collected source runs, the checks every scheduled source shares, and
//! the [`Ticker`] of every periodic task.

use std::time::Duration;

use tokio::sync::watch;

use super::ComponentError;

/// The clock of a periodic task that stops with the agent: `while ticker.tick().await { ... }`
/// runs the body every `period` (a missed tick is skipped, not caught up) until the shutdown
/// signal turns true or its sender is gone.
#[derive(Debug)]
pub struct Ticker {
    interval: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
}

impl Ticker {
    /// A ticker whose first tick is at once (inside a Tokio runtime).
    pub fn new(period: Duration, shutdown: watch::Receiver<bool>) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ticker { interval, shutdown }
    }

    /// Waits for the next tick; `false` once the agent stops.
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = self.interval.tick() => {}
            _ = self.shutdown.changed() => return false,
        }
        !*self.shutdown.borrow()
    }
}

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

    /// Checks `key`, the timeout of one part of a collection (a device, a socket): at least 1 ms
    /// and at most the whole collection's `timeout_ms`.
    pub fn validate_part_timeout(
        key: &'static str,
        part_ms: u64,
        timeout_ms: u64,
    ) -> Result<(), ComponentError> {
        if part_ms == 0 || part_ms > timeout_ms {
            return Err(ComponentError::new(
                key,
                "must be at least 1 and at most timeout_ms",
            ));
        }
        Ok(())
    }
}
