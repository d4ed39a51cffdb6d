//! The counters every component reports, the same for all of them:
//! `nodewatch_agent_component_{received,sent,dropped,errors}_total{component_kind,component_id}`.
//!
//! What a unit is depends on the component and is said in its docs: series for collected
//! sources, points for pushed ones, lines for log sources and the Loki sink, samples for
//! remote_write, alerts for Alertmanager. `received` is what came in, `sent` what was handed on
//! (stored, delivered), `dropped` what was let go on purpose (a bound, a refusal), `errors` the
//! failed operations (a collection, a request).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::{Family, Labels};

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
}

/// One component's counters: cheap to clone, lock-free to update.
#[derive(Debug, Clone, Default)]
pub struct ComponentTelemetry {
    counters: Arc<Counters>,
}

impl ComponentTelemetry {
    /// Counts `n` units that came in.
    pub fn received(&self, n: u64) {
        self.counters.received.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` units handed on.
    pub fn sent(&self, n: u64) {
        self.counters.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` units let go on purpose.
    pub fn dropped(&self, n: u64) {
        self.counters.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one failed operation.
    pub fn error(&self) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `(received, sent, dropped, errors)` as they are now.
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        let c = &self.counters;
        (
            c.received.load(Ordering::Relaxed),
            c.sent.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
        )
    }
}

/// Every component's counters, keyed by `(component_kind, component_id)`. Only the topology adds
/// keys (one per configured component), so the label set is bounded by the config.
#[derive(Debug, Default)]
pub struct ComponentRegistry {
    handles: Mutex<BTreeMap<(&'static str, String), ComponentTelemetry>>,
}

impl ComponentRegistry {
    /// The handle of one component, created on first use.
    pub fn handle(&self, kind: &'static str, id: &str) -> ComponentTelemetry {
        let mut g = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        g.entry((kind, id.to_string())).or_default().clone()
    }

    /// The four families.
    pub fn families(&self) -> Vec<Family> {
        let mut received = Family::counter(
            "nodewatch_agent_component_received_total",
            "Units (series, points, lines, samples, alerts) that came into the component.",
        );
        let mut sent = Family::counter(
            "nodewatch_agent_component_sent_total",
            "Units the component handed on (stored or delivered).",
        );
        let mut dropped = Family::counter(
            "nodewatch_agent_component_dropped_total",
            "Units the component let go on purpose (a bound, a refusal).",
        );
        let mut errors = Family::counter(
            "nodewatch_agent_component_errors_total",
            "Operations of the component that failed (a collection, a request).",
        );
        let g = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        for ((kind, id), h) in g.iter() {
            let l = Labels::new()
                .with("component_kind", *kind)
                .with("component_id", id.as_str());
            let (r, s, d, e) = h.totals();
            received.push(l.clone(), r as f64);
            sent.push(l.clone(), s as f64);
            dropped.push(l.clone(), d as f64);
            errors.push(l, e as f64);
        }
        vec![received, sent, dropped, errors]
    }
}
