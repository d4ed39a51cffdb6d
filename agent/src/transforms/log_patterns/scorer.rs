//! The rate scorer surges are judged with: the calibrated metric scorer
//! ([`crate::transforms::detect::Scorer`], the one metric anomalies use), its windows scaled to
//! the rate interval, so a template's surge score means what a metric anomaly's does (0.9:
//! `p <= 1e-9`).
//!
//! A template's history is short when it starts being scored (tens of intervals), and the
//! scorer's anomaly likelihood weighs a sample by `1 / n` until its long window has filled: a
//! surge would then be learned into the baseline at once (its second interval already scores
//! low), and the predictors' own start-up (their spread starts at 0) would dominate the
//! history. So the scorer is made at the end of the warm-up and seeded with the warm-up's rates
//! replayed ([`SEED_SAMPLES`] samples, a bootstrap of the template's own steady rate, at the
//! interval's spacing just before now): the likelihood starts with a long history of what is
//! normal for this template, and a surge stays surprising for as long as it lasts.

use crate::transforms::detect::{Direction, Scorer as Calibrated, ScorerParams};

/// The likelihood's short window, in rate intervals: a surge shows within one or two.
const SHORT_INTERVALS: f64 = 1.0;
/// The level predictor's time constant, in rate intervals.
const LEVEL_INTERVALS: f64 = 30.0;
/// The typical step's time constant, in rate intervals.
const DIFF_INTERVALS: f64 = 60.0;
/// The likelihood's long-run history, in rate intervals (a day at the default 60 s).
const LONG_INTERVALS: f64 = 1440.0;
/// Samples the scorer is seeded with at the end of the warm-up.
pub const SEED_SAMPLES: u32 = 500;

/// Scores one template's rate, interval by interval.
#[derive(Debug, Clone)]
pub struct Scorer {
    interval_secs: i64,
    warmup: u64,
    samples: u64,
    /// The warm-up's rates (freed once the scorer is seeded).
    history: Vec<f32>,
    inner: Option<Box<Calibrated>>,
}

impl Scorer {
    /// A scorer of rates sampled every `interval_secs`, scoring 0 for the first `warmup`
    /// intervals (at least one); only rises count.
    pub fn new(interval_secs: u64, warmup: u64) -> Self {
        Scorer {
            interval_secs: interval_secs.clamp(1, 86_400) as i64,
            warmup: warmup.max(1),
            samples: 0,
            history: Vec::new(),
            inner: None,
        }
    }

    fn seeded(&self, ts: i64) -> Calibrated {
        let i = self.interval_secs as f64;
        let mut s = Calibrated::new(ScorerParams {
            direction: Direction::Up,
            warmup_secs: 0.0,
            level_secs: LEVEL_INTERVALS * i,
            diff_secs: DIFF_INTERVALS * i,
            short_secs: SHORT_INTERVALS * i,
            long_secs: LONG_INTERVALS * i,
            ..ScorerParams::default()
        });
        let n = i64::from(SEED_SAMPLES);
        for (j, v) in self
            .history
            .iter()
            .cycle()
            .take(SEED_SAMPLES as usize)
            .enumerate()
        {
            let back = (n - j as i64).saturating_mul(self.interval_secs);
            s.observe(ts.saturating_sub(back) as f64, f64::from(*v));
        }
        s
    }

    /// The score in [0, 1] of `value` (lines per second) at unix time `ts` (seconds), then
    /// learns it. 0 during the warm-up.
    pub fn observe(&mut self, ts: i64, value: f64) -> f64 {
        self.samples += 1;
        if let Some(s) = self.inner.as_mut() {
            return s.observe(ts as f64, value);
        }
        if (self.history.len() as u64) < self.warmup || !value.is_finite() {
            if value.is_finite() {
                self.history.push(value as f32);
            }
            return 0.0;
        }
        let mut s = self.seeded(ts);
        self.history = Vec::new();
        let score = s.observe(ts as f64, value);
        self.inner = Some(Box::new(s));
        score
    }

    /// Intervals seen.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.history.capacity() * 4
            + self.inner.as_ref().map_or(0, |s| s.memory_bytes())
    }
}
