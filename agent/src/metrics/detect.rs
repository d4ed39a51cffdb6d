//! The `detect` transform's own counters: `nodewatch_agent_anomaly_series`,
//! `nodewatch_agent_anomaly_series_dropped_total`, `nodewatch_agent_anomaly_alerts_suppressed_total
//! {reason}`, and the alert book's `nodewatch_agent_alerts_active` and
//! `nodewatch_agent_alerts_resolved_dropped_total`. The engine owns one and renders it into its
//! batch next to the `nodewatch_anomaly_*` series.

use crate::alerts::AlertBook;
use crate::event::{Family, Labels};

/// Why an alert was not raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// The per-hour cap was reached.
    RateCap,
    /// The start-up grace had not passed.
    Startup,
}

impl Suppressed {
    const ALL: [Suppressed; 2] = [Suppressed::RateCap, Suppressed::Startup];

    fn label(self) -> &'static str {
        match self {
            Suppressed::RateCap => "rate_cap",
            Suppressed::Startup => "startup",
        }
    }
}

/// The engine's counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DetectMetrics {
    series_dropped: u64,
    suppressed: [u64; 2],
}

impl DetectMetrics {
    /// A new series was not watched: `max_series` was reached.
    pub fn series_dropped(&mut self) {
        self.series_dropped += 1;
    }

    /// An alert was not raised, for `reason`.
    pub fn suppressed(&mut self, reason: Suppressed) {
        self.suppressed[reason as usize] += 1;
    }

    /// The families, with `watched` series now and the alert book's figures.
    pub fn families(&self, watched: usize, book: &AlertBook) -> Vec<Family> {
        let one = |f: Family, v: f64| f.with(Labels::new(), v);
        let mut suppressed = Family::counter(
            "nodewatch_agent_anomaly_alerts_suppressed_total",
            "Alerts not raised, by reason (startup grace, per-hour cap).",
        );
        for r in Suppressed::ALL {
            suppressed.push(
                Labels::new().with("reason", r.label()),
                self.suppressed[r as usize] as f64,
            );
        }
        vec![
            one(
                Family::gauge(
                    "nodewatch_agent_anomaly_series",
                    "Series the detectors watch.",
                ),
                watched as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_anomaly_series_dropped_total",
                    "Series not watched because max_series was reached.",
                ),
                self.series_dropped as f64,
            ),
            suppressed,
            one(
                Family::gauge(
                    "nodewatch_agent_alerts_active",
                    "Anomaly alerts firing now.",
                ),
                book.active_count() as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_alerts_resolved_dropped_total",
                    "Resolved alerts dropped before the sink took them.",
                ),
                book.resolved_dropped() as f64,
            ),
        ]
    }
}
