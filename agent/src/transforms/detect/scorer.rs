//! The calibrated anomaly score of one series ([`Scorer`]): streaming, O(1) time and fixed memory
//! (about 1.7 KiB), windows in seconds, no look-ahead.
//!
//! 1. Three robust predictors each give a raw surprise `ln(1 + |residual| / scale)`:
//!    - `level`: an exponentially weighted mean and mean absolute deviation (time constant
//!      `level_secs`), learning a winsorized value so one spike does not drag it;
//!    - `step`: the change from the previous sample against the typical change (`diff_secs`);
//!    - `daily`: a 96-bin time-of-day profile, against the bin's own deviation, so a daily cycle
//!      (a nightly batch, office hours) is expected.
//! 2. Each surprise stream goes through an anomaly likelihood ([`Likelihood`]): its short average
//!    (`short_secs`) against the long-run distribution of that average (`long_secs`) gives a tail
//!    p-value. The smallest p-value of the streams, Bonferroni-corrected by their number, is the
//!    evidence; the score is `-log10(p) / 10`, capped at 1: a score of 0.9 means `p <= 1e-9`.
//!    A stream's first 100 samples give no p-value below 3.2e-5 (a score of at most 0.45): a
//!    young series pages only through the magnitude guard (6.).
//! 3. Novelty: a value beyond everything seen (the all-time range, once it spans a day and 100
//!    samples) by a fraction `e` of that range scores at least
//!    `0.5 + 0.5 * min(1, e / novelty_tolerance)`.
//! 4. Recent novelty: a value beyond the recent range (the last 7 days, [`RecentRange`]) by more
//!    than `RECENT_MARGIN` of that range scores at least
//!    `0.5 + 0.5 * min(1, (e - RECENT_MARGIN) / RECENT_SPAN)`: the all-time range never forgets,
//!    so a first large anomaly would hide a second one inside it; the margin is wide because
//!    a week is a short history (an ordinary burst often exceeds it a little).
//! 5. Rarity: a value inside the all-time range that lies a fraction `e` of the range away from
//!    every value seen lately ([`Density`]: time-decayed counts in 48 bins, time constant
//!    `long_secs`) scores at least `0.5 + 0.5 * min(1, e / (2 * novelty_tolerance))`, as a
//!    record would, at half the strength: a level the series has not visited lately (between the usual level and the usual
//!    spikes, a new band) is as new as a value beyond the range. Rarity counts after 3 days of
//!    history.
//! 6. Magnitude ([`MagnitudeGuard`]): on a series of values at or above 0, a value above every
//!    baseline value and more than 10 times their recent median, for 3 samples in a row, scores
//!    1 until it falls back or has lasted three `level_secs` (then it is the new level); rises
//!    only (direction `up` or `both`). The likelihood alone can miss even a 1000-fold jump on a
//!    short or noisy history: its surprise is capped, a young stream's surprises are large
//!    already, and the anomaly's own first samples widen the spread they are measured against.
//! 7. During the warm-up (`warmup_secs` after the first sample) the score is 0.
//!
//! Non-finite values are counted ([`Scorer::skipped`]) and ignored (score 0, state unchanged).
//! Gaps and irregular timestamps: the predictors weigh each sample by its time step (capped at
//! `max_gap_secs`), the likelihood by the smaller of the step and the typical sampling interval
//! (so one sample after an outage is not the whole short average); a timestamp that goes
//! backwards counts as a step of 1 ms.

use serde::Deserialize;

use super::config::Direction;
use super::daily::DailyProfile;
use super::density::Density;
use super::guard::MagnitudeGuard;
use super::likelihood::{Likelihood, decay_weight, upper_tail};
use super::recent::RecentRange;

/// `E|X - mean| * 1.2533 = sigma` for a normal `X`.
const MAD_TO_SIGMA: f64 = 1.2533;
/// The raw surprise's z is capped here before the logarithm.
const MAX_Z: f64 = 50.0;
/// Residuals are winsorized at this many scales when learned.
const CLIP: f64 = 4.0;
/// Samples before winsorizing starts.
const CLIP_AFTER: u64 = 10;
/// Decades of p-value that map to a score of 1.
const DECADES: f64 = 10.0;
/// A bin's deviation is floored at this fraction of the profile's overall deviation.
const BIN_DEV_FLOOR: f64 = 0.25;
/// The novelty score starts here.
const NOVELTY_BASE: f64 = 0.5;
/// Samples before novelty counts (a new extreme of `n` exchangeable samples has chance `2/(n+1)`).
const NOVELTY_AFTER: u64 = 100;
/// History (seconds) before novelty counts: the range must span a whole daily cycle.
const NOVELTY_AFTER_SECS: f64 = 86_400.0;
/// History (seconds) before rarity counts: where values fall needs a few daily cycles.
const RARITY_AFTER_SECS: f64 = 3.0 * 86_400.0;
/// A gap inside the range is weaker evidence than a record: it needs this many times the
/// novelty tolerance to score 1.
const RARITY_TOLERANCE: f64 = 2.0;
/// How far beyond the recent range (as a fraction of it) a value must be to count as novel.
const RECENT_MARGIN: f64 = 0.5;
/// How far past the margin (as a fraction of the recent range) a value scores 1.
const RECENT_SPAN: f64 = 1.0;
/// A run above the magnitude guard this many `level_secs` long is the new level.
const GUARD_ACCEPT_LEVELS: f64 = 3.0;

/// The scorer's parameters; every field has a default, all windows are in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorerParams {
    /// Which deviations count (in a watch, the detector's `direction`).
    #[serde(skip)]
    pub direction: Direction,
    /// Scored 0 for this long after the first sample.
    #[serde(default = "default_warmup_secs")]
    pub warmup_secs: f64,
    /// The time constant of the level predictor.
    #[serde(default = "default_level_secs")]
    pub level_secs: f64,
    /// The time constant of the typical step size.
    #[serde(default = "default_diff_secs")]
    pub diff_secs: f64,
    /// The short average of the raw surprise (the likelihood's "recent" window).
    #[serde(default = "default_short_secs")]
    pub short_secs: f64,
    /// The long-run distribution of the short average (the likelihood's history).
    #[serde(default = "default_long_secs")]
    pub long_secs: f64,
    /// A time step longer than this counts as this long (after an outage).
    #[serde(default = "default_max_gap_secs")]
    pub max_gap_secs: f64,
    /// How far beyond the all-time range (as a fraction of it) a value scores 1.
    #[serde(default = "default_novelty_tolerance")]
    pub novelty_tolerance: f64,
}

impl Default for ScorerParams {
    fn default() -> Self {
        ScorerParams {
            direction: Direction::Both,
            warmup_secs: default_warmup_secs(),
            level_secs: default_level_secs(),
            diff_secs: default_diff_secs(),
            short_secs: default_short_secs(),
            long_secs: default_long_secs(),
            max_gap_secs: default_max_gap_secs(),
            novelty_tolerance: default_novelty_tolerance(),
        }
    }
}

fn default_warmup_secs() -> f64 {
    3600.0
}
fn default_level_secs() -> f64 {
    6.0 * 3600.0
}
fn default_diff_secs() -> f64 {
    86_400.0
}
fn default_short_secs() -> f64 {
    12_000.0
}
fn default_long_secs() -> f64 {
    7.0 * 86_400.0
}
fn default_max_gap_secs() -> f64 {
    86_400.0
}
fn default_novelty_tolerance() -> f64 {
    0.05
}

impl ScorerParams {
    /// What is out of range, if anything.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("level_secs", self.level_secs),
            ("diff_secs", self.diff_secs),
            ("short_secs", self.short_secs),
            ("long_secs", self.long_secs),
            ("max_gap_secs", self.max_gap_secs),
            ("novelty_tolerance", self.novelty_tolerance),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be above 0"));
            }
        }
        if !(self.warmup_secs.is_finite() && self.warmup_secs >= 0.0) {
            return Err("warmup_secs must be 0 or above".into());
        }
        if self.short_secs > self.long_secs {
            return Err("short_secs must not exceed long_secs".into());
        }
        Ok(())
    }
}

/// What one sample scored, with the band it was scored against.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scored {
    /// The score in [0, 1].
    pub score: f64,
    /// The expected value.
    pub baseline: f64,
    /// The upper edge of the expected band.
    pub upper: f64,
    /// The lower edge of the expected band.
    pub lower: f64,
}

/// The calibrated anomaly scorer of one series. See the module docs.
#[derive(Debug, Clone)]
pub struct Scorer {
    p: ScorerParams,
    n: u64,
    skipped: u64,
    first_ts: f64,
    last_ts: f64,
    interval: f64,
    level: f64,
    level_dev: Dev,
    prev: f64,
    step_dev: Dev,
    daily_dev: Dev,
    lo: f64,
    hi: f64,
    recent: RecentRange,
    density: Density,
    guard: MagnitudeGuard,
    streams: [Likelihood; 3],
    weights: Weights,
    daily: DailyProfile,
}

/// An exponentially weighted mean absolute deviation, with the weight it has gathered
/// (`1 - prod(1 - w)`), so that it can be read without its start-up bias. 16 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Dev {
    avg: f64,
    weight: f64,
}

impl Dev {
    fn learn(&mut self, d: f64, w: f64) {
        self.avg += w * (d - self.avg);
        self.weight += w * (1.0 - self.weight);
    }

    /// The average over the weight gathered: from the first deviation on, the deviations seen,
    /// not a small fraction of them. `None` before the first one was learned.
    fn corrected(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.avg / self.weight)
    }

    /// The plain average, which starts at 0 and grows with the weights; `None` before the first
    /// deviation was learned.
    fn plain(&self) -> Option<f64> {
        (self.weight > 0.0).then_some(self.avg)
    }
}

/// The decay weights of one time step, cached: with a steady sampling interval they are
/// computed once.
#[derive(Debug, Clone, Copy, Default)]
struct Weights {
    dt: f64,
    dt_lik: f64,
    short: f64,
    long: f64,
    level: f64,
    diff: f64,
    long_dt: f64,
}

impl Weights {
    fn update(&mut self, p: &ScorerParams, dt: f64, dt_lik: f64) {
        if dt_lik != self.dt_lik {
            self.dt_lik = dt_lik;
            self.short = decay_weight(dt_lik, p.short_secs);
            self.long = decay_weight(dt_lik, p.long_secs);
        }
        if dt != self.dt {
            self.dt = dt;
            self.level = decay_weight(dt, p.level_secs);
            self.diff = decay_weight(dt, p.diff_secs);
            self.long_dt = decay_weight(dt, p.long_secs);
        }
    }
}

impl Default for Scorer {
    fn default() -> Self {
        Self::new(ScorerParams::default())
    }
}

impl Scorer {
    /// A fresh scorer.
    pub fn new(p: ScorerParams) -> Self {
        Scorer {
            p,
            n: 0,
            skipped: 0,
            first_ts: 0.0,
            last_ts: 0.0,
            interval: 0.0,
            level: 0.0,
            level_dev: Dev::default(),
            prev: 0.0,
            step_dev: Dev::default(),
            daily_dev: Dev::default(),
            lo: 0.0,
            hi: 0.0,
            recent: RecentRange::default(),
            density: Density::default(),
            guard: MagnitudeGuard::default(),
            streams: [Likelihood::default(); 3],
            weights: Weights {
                dt: f64::NAN,
                dt_lik: f64::NAN,
                ..Weights::default()
            },
            daily: DailyProfile::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &ScorerParams {
        &self.p
    }

    /// Samples learned.
    pub fn samples(&self) -> u64 {
        self.n
    }

    /// Non-finite values (or timestamps) skipped.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes this scorer holds: its own size plus its heap.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.daily.heap_bytes()
    }

    /// Scores `value` at unix time `ts_secs` (before learning it) and learns it: a score in
    /// [0, 1]. Non-finite input is counted and scores 0.
    pub fn observe(&mut self, ts_secs: f64, value: f64) -> f64 {
        self.score(ts_secs, value).score
    }

    fn directed(&self, res: f64) -> f64 {
        match self.p.direction {
            Direction::Both => res.abs(),
            Direction::Up => res.max(0.0),
            Direction::Down => (-res).max(0.0),
        }
    }

    /// How far `x` lies beyond `[lo, hi]` in the watched direction (negative inside).
    fn directed_beyond(&self, x: f64, lo: f64, hi: f64) -> f64 {
        match self.p.direction {
            Direction::Both => (x - hi).max(lo - x),
            Direction::Up => x - hi,
            Direction::Down => lo - x,
        }
    }

    /// [`Scorer::observe`] with the expected value and band.
    pub fn score(&mut self, ts: f64, x: f64) -> Scored {
        if !x.is_finite() || !ts.is_finite() {
            self.skipped += 1;
            return Scored::default();
        }
        let p = self.p;
        if self.n == 0 {
            self.first_ts = ts;
            self.last_ts = ts;
            self.level = x;
            self.prev = x;
            self.lo = x;
            self.hi = x;
        }
        let dt = (ts - self.last_ts).clamp(1e-3, p.max_gap_secs);
        self.last_ts = self.last_ts.max(ts);
        // The typical sampling interval: the likelihood weighs every sample alike (a sample after
        // a gap is one sample, not the whole short window), at the series' own rate.
        if self.n == 1 {
            self.interval = dt;
        } else if self.n > 1 {
            self.interval += 0.05 * (dt.min(4.0 * self.interval) - self.interval);
        }
        let dt_lik = if self.n > 1 {
            dt.min(self.interval)
        } else {
            dt
        };
        let eps = 1e-9 + 1e-3 * self.level.abs();
        let bin = DailyProfile::bin(ts);

        // Raw surprise of each predictor.
        // The step's and the daily profile's deviations average over `diff_secs` (a day by
        // default): read plainly, they stay near 0 for the first day, every step is a capped
        // surprise and the likelihood learns capped surprises as ordinary, so an anomaly early in
        // a series' life scores no higher than its noise. They are read without that bias. The
        // level's (`level_secs`, 6 h) is read plainly: correcting it as well cost 0.6 NAB points
        // (more early false positives) and made no further replayed test run fire.
        let level_dev = self.level_dev.plain();
        let step_dev = self.step_dev.corrected();
        let level_scale = MAD_TO_SIGMA * level_dev.unwrap_or(0.0) + eps;
        let step_scale = MAD_TO_SIGMA * step_dev.unwrap_or(0.0) + eps;
        let step = x - self.prev;
        // A predictor that has not seen a deviation yet has no scale: any difference would be a
        // capped surprise, which is no evidence, so its stream skips the sample.
        let z = [
            level_dev.map(|_| self.directed(x - self.level) / level_scale),
            step_dev.map(|_| self.directed(step) / step_scale),
        ];
        let daily_floor = BIN_DEV_FLOOR * self.daily_dev.corrected().unwrap_or(0.0);
        let expect = self.daily.expect(bin);
        let z_daily = expect
            .map(|(m, dev)| self.directed(x - m) / (MAD_TO_SIGMA * dev.max(daily_floor) + eps));

        // Likelihood of each stream; the smallest p-value, Bonferroni-corrected.
        self.weights.update(&p, dt, dt_lik);
        let w = self.weights;
        let mut z_max: Option<f64> = None;
        let mut k = 0u32;
        for (i, zi) in [z[0], z[1], z_daily].into_iter().enumerate() {
            let Some(zi) = zi else { continue };
            let r = zi.min(MAX_Z).ln_1p();
            if let Some(zs) = self.streams[i].step_z(r, w.short, w.long) {
                z_max = Some(z_max.map_or(zs, |m: f64| m.max(zs)));
            }
            k += 1;
        }
        // The smallest p-value is the tail of the largest z: one tail evaluation.
        let mut score = match z_max {
            Some(zm) => {
                let p_val = (upper_tail(zm) * f64::from(k.max(1))).min(1.0);
                (-p_val.max(1e-300).log10() / DECADES).clamp(0.0, 1.0)
            }
            None => 0.0,
        };

        // Novelty: beyond the all-time range, or far beyond the recent range.
        let age = ts - self.first_ts;
        let recent = self.recent.range_at(ts);
        if age > p.warmup_secs.max(NOVELTY_AFTER_SECS) && self.n >= NOVELTY_AFTER {
            let beyond = |lo: f64, hi: f64| {
                let range = hi - lo;
                if range > 0.0 {
                    self.directed_beyond(x, lo, hi) / range
                } else {
                    0.0
                }
            };
            let e = beyond(self.lo, self.hi);
            if e > 0.0 {
                let novelty =
                    NOVELTY_BASE + (1.0 - NOVELTY_BASE) * (e / p.novelty_tolerance).min(1.0);
                score = score.max(novelty);
            }
            if let Some((lo, hi)) = recent {
                let e = beyond(lo, hi) - RECENT_MARGIN;
                if e > 0.0 {
                    let novelty = NOVELTY_BASE + (1.0 - NOVELTY_BASE) * (e / RECENT_SPAN).min(1.0);
                    score = score.max(novelty);
                }
            }
            if age > RARITY_AFTER_SECS
                && let Some(e) = self.density.distance(x)
                && e > 0.0
                && self.directed(x - self.level) > 0.0
            {
                let rarity = NOVELTY_BASE
                    + (1.0 - NOVELTY_BASE)
                        * (e / (RARITY_TOLERANCE * p.novelty_tolerance)).min(1.0);
                score = score.max(rarity);
            }
        }
        // Magnitude: an order above the baseline, sustained (the guard learns the sample too).
        if self
            .guard
            .observe(ts, x, p.direction, GUARD_ACCEPT_LEVELS * p.level_secs)
        {
            score = 1.0;
        }
        if age < p.warmup_secs {
            score = 0.0;
        }
        let band = CLIP * level_scale;
        let out = Scored {
            score,
            baseline: self.level,
            upper: self.level + band,
            lower: self.level - band,
        };

        // Learn.
        let (w_level, w_diff) = (w.level, w.diff);
        let winsorize = |v: f64, scale: f64, n: u64| {
            if n > CLIP_AFTER {
                v.clamp(-CLIP * scale, CLIP * scale)
            } else {
                v
            }
        };
        // The first sample sets the level and holds no deviation.
        if self.n > 0 {
            let e = winsorize(x - self.level, level_scale, self.n);
            self.level += w_level * e;
            self.level_dev.learn(e.abs(), w_level);
            let e = winsorize(step, step_scale, self.n);
            self.step_dev.learn(e.abs(), w_diff);
        }
        if self.daily.seen(bin) {
            let res = self.daily.update(bin, x);
            self.daily_dev.learn(res.abs(), w_diff);
        } else {
            self.daily.update(bin, x);
        }
        self.prev = x;
        self.lo = self.lo.min(x);
        self.hi = self.hi.max(x);
        self.recent.learn(ts, x);
        self.density.learn(x, self.lo, self.hi, w.long_dt);
        self.n += 1;
        out
    }
}
