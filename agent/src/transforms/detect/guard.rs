//! The magnitude guard of a series of values at or above 0 ([`MagnitudeGuard`]): a sample above
//! every baseline value seen and more than `GUARD_FACTOR` times the baseline's recent median, for
//! `GUARD_RUN` samples in a row, is an anomaly whatever the calibrated likelihood says.
//!
//! The likelihood cannot always say so on a short or noisy history: its raw surprise is capped (a
//! 1000-fold jump is no more surprising than a 50-fold one), a young stream's surprises are large
//! already, and the anomaly's own first samples widen the spread they are measured against, so
//! the score can peak far below a page. The guard needs no spread: it compares values, and only
//! on series whose values are all at or above 0 with a median above 0 (latencies, sizes, counts),
//! where a ratio means orders of magnitude. The median (of the last `RING` baseline samples)
//! makes one slow baseline sample no excuse; being above every baseline value keeps the usual
//! spikes of a heavy-tailed series out.
//!
//! It watches rises only (watches with direction `up` or `both`): a fall to a tenth is ordinary
//! for a series that can go idle (a stopped instance's CPU, a quiet link), and on the NAB set a
//! lower guard paged for a day on such a fall outside the labelled windows.
//!
//! The baseline is every sample outside a run above, and a run shorter than `GUARD_RUN` (a spike)
//! once it ends; a run that held is an anomaly and is not learned, so the same fault pages again.
//! A run that lasts `accept_secs` (the scorer passes three time constants of its level, by which
//! the level has followed) is the series' new level: the baseline starts again from it. 176 bytes.

use super::config::Direction;

/// How many times the baseline's recent median a value must be.
pub const GUARD_FACTOR: f64 = 10.0;
/// Consecutive samples above before the guard holds.
pub const GUARD_RUN: u32 = 3;
/// Baseline samples before the guard counts.
pub const GUARD_AFTER: u64 = 10;
/// The baseline samples the median is taken over (the last ones).
const RING: usize = 16;

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MagnitudeGuard {
    /// Baseline samples learned.
    n: u64,
    /// The baseline's smallest and largest value.
    lo: f64,
    hi: f64,
    /// The last `RING` baseline samples (slot `n % RING` is the oldest once full).
    ring: [f64; RING],
    /// The current run of samples above: its length, start and largest value.
    run: u32,
    run_start: f64,
    run_hi: f64,
}

impl MagnitudeGuard {
    /// Feeds the sample `x` at `ts` (seconds, finite); true when it is at least the `GUARD_RUN`-th
    /// sample in a row above the baseline (never for a `down` watch).
    pub fn observe(&mut self, ts: f64, x: f64, direction: Direction, accept_secs: f64) -> bool {
        if matches!(direction, Direction::Down) || self.n < GUARD_AFTER || !self.above(x) {
            self.end_run();
            self.learn(x);
            return false;
        }
        if self.run == 0 {
            self.run_start = ts;
            self.run_hi = x;
        }
        self.run = self.run.saturating_add(1);
        self.run_hi = self.run_hi.max(x);
        if ts - self.run_start >= accept_secs {
            // The run is the new level.
            *self = MagnitudeGuard::default();
            self.learn(x);
            return false;
        }
        self.run >= GUARD_RUN
    }

    /// Above every baseline value (of values >= 0) and `GUARD_FACTOR` times their median (above
    /// 0). The median is only taken for a new largest value, rare on a steady series.
    fn above(&self, x: f64) -> bool {
        self.lo >= 0.0 && x > self.hi && {
            let m = self.median();
            m > 0.0 && x > GUARD_FACTOR * m
        }
    }

    /// The median of the last `RING` baseline samples (`GUARD_AFTER` or more).
    fn median(&self) -> f64 {
        let mut v = self.ring;
        let k = (self.n as usize).min(RING);
        if k == 0 {
            return 0.0;
        }
        let v = &mut v[..k];
        let (_, m, _) = v.select_nth_unstable_by(k / 2, f64::total_cmp);
        *m
    }

    /// A run that ends short of `GUARD_RUN` was a spike of the baseline; one that held was an
    /// anomaly and is forgotten.
    fn end_run(&mut self) {
        if self.run > 0 && self.run < GUARD_RUN {
            self.hi = self.hi.max(self.run_hi);
        }
        self.run = 0;
    }

    fn learn(&mut self, x: f64) {
        if self.n == 0 {
            self.lo = x;
            self.hi = x;
        } else {
            self.lo = self.lo.min(x);
            self.hi = self.hi.max(x);
        }
        self.ring[(self.n % RING as u64) as usize] = x;
        self.n += 1;
    }
}
