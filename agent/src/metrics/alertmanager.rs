//! The Alertmanager sink's own telemetry (`nodewatch_agent_alerts_{sent,send_failures,dropped}_total{alertmanager}`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::ComponentTelemetry;
use crate::event::{Family, Labels};

/// Per-Alertmanager delivery counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Alerts delivered (each alert in each successful POST).
    pub sent: u64,
    /// Failed POSTs.
    pub failures: u64,
    /// Resolved alerts dropped because the queue was full.
    pub dropped: u64,
}

/// The counters of every Alertmanager, shared with the detect engine that renders them, and the
/// sink's `component_*` counters (alerts: each alert of each successful POST is received and
/// sent, a resolved alert let go at `max_pending` is received and dropped, a failed POST is an
/// error).
#[derive(Debug, Default)]
pub struct AlertDeliveryMetrics {
    inner: Mutex<BTreeMap<String, DeliveryStats>>,
    telemetry: ComponentTelemetry,
}

impl AlertDeliveryMetrics {
    /// Counters that also count into `telemetry`.
    pub fn new(telemetry: ComponentTelemetry) -> Self {
        AlertDeliveryMetrics {
            inner: Mutex::default(),
            telemetry,
        }
    }

    fn update(&self, url: &str, f: impl FnOnce(&mut DeliveryStats)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(g.entry(url.to_string()).or_default());
    }

    /// Shows `url` with zeroed counters before its first POST.
    pub fn register(&self, url: &str) {
        self.update(url, |_| {});
    }

    /// `n` alerts delivered to `url` in one POST.
    pub fn sent(&self, url: &str, n: u64) {
        self.update(url, |s| s.sent += n);
        self.telemetry.received(n);
        self.telemetry.sent(n);
    }

    /// A POST to `url` failed.
    pub fn failed(&self, url: &str) {
        self.update(url, |s| s.failures += 1);
        self.telemetry.error();
    }

    /// A resolved alert for `url` dropped at `max_pending`.
    pub fn dropped(&self, url: &str) {
        self.update(url, |s| s.dropped += 1);
        self.telemetry.received(1);
        self.telemetry.dropped(1);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<String, DeliveryStats> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The agent's alert-delivery families.
    pub fn families(&self) -> Vec<Family> {
        let mut sent = Family::counter(
            "nodewatch_agent_alerts_sent_total",
            "Alerts delivered to an Alertmanager.",
        );
        let mut failed = Family::counter(
            "nodewatch_agent_alerts_send_failures_total",
            "Failed POSTs to an Alertmanager.",
        );
        let mut dropped = Family::counter(
            "nodewatch_agent_alerts_dropped_total",
            "Resolved alerts dropped because an Alertmanager's queue was full.",
        );
        for (url, s) in self.snapshot() {
            let l = Labels::new().with("alertmanager", url);
            sent.push(l.clone(), s.sent as f64);
            failed.push(l.clone(), s.failures as f64);
            dropped.push(l, s.dropped as f64);
        }
        vec![sent, failed, dropped]
    }
}
