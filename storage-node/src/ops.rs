//! Ops in flight, like Ceph's `dump_ops_in_flight`: each S3 request registers here while it runs,
//! so `/admin/status` can list them and the slow-op gauge can count those past the threshold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metrics::{Metrics, Op};

#[derive(Debug)]
struct Inflight {
    op: Op,
    started: Instant,
    request_id: String,
}

/// An op as `/admin/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OpView {
    pub op: &'static str,
    pub age_seconds: f64,
    pub request_id: String,
}

/// The registry of ops in flight.
#[derive(Debug)]
pub struct OpTracker {
    next: AtomicU64,
    inflight: Mutex<HashMap<u64, Inflight>>,
    threshold: Duration,
    metrics: Arc<Metrics>,
}

/// Removes its op from the tracker when dropped, recording whether it ended slow.
#[derive(Debug)]
pub struct OpGuard {
    tracker: Arc<OpTracker>,
    id: u64,
    started: Instant,
}

impl OpTracker {
    pub fn new(threshold: Duration, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(OpTracker {
            next: AtomicU64::new(1),
            inflight: Mutex::new(HashMap::new()),
            threshold,
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Inflight>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(self: &Arc<Self>, op: Op, request_id: String) -> OpGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        self.lock().insert(
            id,
            Inflight {
                op,
                started,
                request_id,
            },
        );
        self.metrics.op_started();
        OpGuard {
            tracker: self.clone(),
            id,
            started,
        }
    }

    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Counts the slow ops now, sets the gauge, and returns how many there are.
    pub fn refresh_slow(&self) -> usize {
        let n = self
            .lock()
            .values()
            .filter(|o| o.started.elapsed() >= self.threshold)
            .count();
        self.metrics.set_slow_ops(n);
        n
    }

    /// The ops in flight, oldest first, at most `limit`.
    pub fn snapshot(&self, limit: usize) -> Vec<OpView> {
        let mut ops: Vec<OpView> = self
            .lock()
            .values()
            .map(|o| OpView {
                op: o.op.as_str(),
                age_seconds: o.started.elapsed().as_secs_f64(),
                request_id: o.request_id.clone(),
            })
            .collect();
        ops.sort_by(|a, b| b.age_seconds.total_cmp(&a.age_seconds));
        ops.truncate(limit);
        ops
    }

    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

impl OpGuard {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        self.tracker.lock().remove(&self.id);
        self.tracker
            .metrics
            .op_ended(self.started.elapsed() >= self.tracker.threshold);
    }
}

/// Updates the slow-op gauge every second and warns, as Ceph does, while slow ops exist.
pub async fn watch_slow_ops(tracker: Arc<OpTracker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        tick.tick().await;
        let n = tracker.refresh_slow();
        if n > 0 && n != last {
            tracing::warn!(
                slow_ops = n,
                threshold_ms = tracker.threshold.as_millis() as u64,
                "slow ops in flight"
            );
        }
        last = n;
    }
}

#[cfg(test)]
mod tests;
