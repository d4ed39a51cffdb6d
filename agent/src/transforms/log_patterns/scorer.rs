//! The rate scorer surges are judged with: a thin wrapper over the metric anomaly detector
//! (`transforms::detect`), so that switching to another scorer is one line here.

use crate::transforms::detect::{DetectorKind, DetectorParams, Direction, SeriesDetector};

/// Scores one template's rate, interval by interval.
#[derive(Debug, Clone)]
pub struct Scorer(SeriesDetector);

impl Scorer {
    /// A scorer that stays at 0 for the first `warmup` intervals.
    pub fn new(warmup: u64) -> Self {
        let mut p = DetectorParams::of(DetectorKind::Robust);
        p.direction = Direction::Up;
        p.window = 32;
        p.warmup_samples = warmup;
        // Rates of a few lines per interval are noisy: a floor of one line's worth of scale.
        p.min_absolute_scale = 0.05;
        p.min_relative_scale = 0.1;
        Scorer(SeriesDetector::new(p))
    }

    /// The score in [0, 1] of `value` at unix time `ts` (seconds), then learns it.
    pub fn observe(&mut self, ts: i64, value: f64) -> f64 {
        self.0.update(ts, value).score
    }

    /// Intervals seen.
    pub fn samples(&self) -> u64 {
        self.0.samples()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.memory_bytes()
    }
}
