//! The false-positive controls between a series' scores and its alert: minimum duration (N of the
//! last M samples at or above `fire_score`), hysteresis (resolving needs `resolve_samples` in a row
//! below `resolve_score`), suppression during the agent's start-up grace, and a cap on how often
//! one series may start firing per hour.

use super::config::AlertPolicy;

/// What one score did to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    None,
    /// The alert starts firing.
    Fire,
    /// The alert resolves.
    Resolve,
    /// It would have fired, but the per-hour cap was reached.
    Capped,
    /// It would have fired, but the agent is in its start-up grace.
    Grace,
}

/// The alert state of one series.
#[derive(Debug, Clone, Default)]
pub struct AlertState {
    recent: u32,
    seen: u32,
    firing: bool,
    below_run: u32,
    hour_start: i64,
    fires_in_hour: u32,
}

impl AlertState {
    /// Whether the series' alert is firing.
    pub fn firing(&self) -> bool {
        self.firing
    }

    /// Feeds one score at unix time `ts`; `in_grace` is true during the agent's start-up grace.
    pub fn observe(&mut self, p: &AlertPolicy, ts: i64, score: f64, in_grace: bool) -> Transition {
        let m = p.of_samples.clamp(1, 32);
        let mask = if m == 32 { u32::MAX } else { (1u32 << m) - 1 };
        self.recent = ((self.recent << 1) | u32::from(score >= p.fire_score)) & mask;
        self.seen = self.seen.saturating_add(1);
        if self.firing {
            if score < p.resolve_score {
                self.below_run += 1;
            } else {
                self.below_run = 0;
            }
            if self.below_run >= p.resolve_samples.max(1) {
                self.firing = false;
                self.below_run = 0;
                self.recent = 0;
                return Transition::Resolve;
            }
            return Transition::None;
        }
        if self.recent.count_ones() < p.min_samples.clamp(1, m) {
            return Transition::None;
        }
        if in_grace {
            return Transition::Grace;
        }
        if ts - self.hour_start >= 3600 {
            self.hour_start = ts;
            self.fires_in_hour = 0;
        }
        if self.fires_in_hour >= p.max_alerts_per_hour {
            self.recent = 0;
            return Transition::Capped;
        }
        self.fires_in_hour += 1;
        self.firing = true;
        self.below_run = 0;
        Transition::Fire
    }
}
