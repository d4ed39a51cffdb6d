//! The alerts a transform raises (`transforms::detect`, `transforms::log_patterns`), shared with
//! the sinks and the API: the active set (read by `GET /api/v1/alerts` and re-sent by the
//! alertmanager sink) and the resolved ones waiting to be delivered, bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

/// The most resolved alerts waiting for the sink; older ones are dropped and counted.
pub const MAX_RESOLVED: usize = 1024;

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `alertname`, `severity`, `node` and the series labels.
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`, `grafana_url`.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: SystemTime,
    /// When it resolved; `None` while firing.
    pub ends_at: Option<SystemTime>,
    /// The observed value when it fired.
    pub value: f64,
}

impl Alert {
    /// The identity of an alert: its label set, as Alertmanager sees it.
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.labels {
            s.push_str(k);
            s.push('\u{1}');
            s.push_str(v);
            s.push('\u{2}');
        }
        s
    }
}

#[derive(Debug, Default)]
struct Inner {
    active: BTreeMap<String, Alert>,
    resolved: VecDeque<Alert>,
    generation: u64,
    resolved_dropped: u64,
}

/// The shared alert set.
#[derive(Debug, Default)]
pub struct AlertBook {
    inner: Mutex<Inner>,
}

impl AlertBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a firing alert.
    pub fn fire(&self, alert: Alert) {
        let mut g = self.lock();
        g.active.insert(alert.fingerprint(), alert);
        g.generation += 1;
    }

    /// Moves a firing alert (by labels) to the resolved queue, stamped `at`.
    pub fn resolve(&self, labels: &BTreeMap<String, String>, at: SystemTime) {
        let key = Alert {
            labels: labels.clone(),
            annotations: BTreeMap::new(),
            starts_at: at,
            ends_at: None,
            value: 0.0,
        }
        .fingerprint();
        let mut g = self.lock();
        if let Some(mut a) = g.active.remove(&key) {
            a.ends_at = Some(at);
            if g.resolved.len() >= MAX_RESOLVED {
                g.resolved.pop_front();
                g.resolved_dropped += 1;
                tracing::warn!("resolved-alert queue full; drop the oldest");
            }
            g.resolved.push_back(a);
            g.generation += 1;
        }
    }

    /// The firing alerts.
    pub fn active(&self) -> Vec<Alert> {
        self.lock().active.values().cloned().collect()
    }

    /// How many alerts are firing.
    pub fn active_count(&self) -> usize {
        self.lock().active.len()
    }

    /// Takes the resolved alerts for delivery.
    pub fn take_resolved(&self) -> Vec<Alert> {
        self.lock().resolved.drain(..).collect()
    }

    /// Changes so far (a fire or a resolve bumps it).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Resolved alerts dropped because the queue was full.
    pub fn resolved_dropped(&self) -> u64 {
        self.lock().resolved_dropped
    }
}
