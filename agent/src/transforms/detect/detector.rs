//! One series' detector: every component is streaming, O(1) memory, and sees only the past.
//!
//! For each sample the components give a z-like strength, each mapped to [0,1] by a logistic, and
//! the score is the largest of them:
//! - `robust`: the distance of the value from the sliding median, in units of a robust scale
//!   (1.4826·MAD, or the EWMA of absolute deviations when MAD is 0, floored for low-variance
//!   series);
//! - `level`: a fast EWMA of the value against the median (a short run of moderately high values);
//! - `cusum`: two-sided CUSUM of the clamped robust residual, for level shifts and slow drifts;
//!   after an alarm it rests for half a window while the baseline moves to the new level;
//! - `seasonal`: when a daily/weekly profile is mature and explains the series better than the
//!   sliding median, a deviation must be unexpected under both (the smaller z counts), so a
//!   nightly batch is not an anomaly;
//! - `counter`: any increase of a counter that should stay flat scores 1 for `hold_secs`;
//! - `rate`: the smoothed slope predicts when `threshold` is crossed; crossing within
//!   `horizon_secs` raises the score as the predicted time gets nearer.

use super::config::{DetectorKind, DetectorParams, Direction};
use super::scorer::{Scored, Scorer};
use super::seasonal::Seasonal;
use super::window::RollingMedian;

/// The logistic steepness of every component (z units).
const SLOPE: f64 = 1.0;

/// The state of one watched series.
#[derive(Debug, Clone)]
pub struct SeriesDetector {
    p: DetectorParams,
    n: u64,
    scorer: Option<Box<Scorer>>,
    window: Option<RollingMedian>,
    seasonal: Option<Box<Seasonal>>,
    absdev: f64,
    fast: f64,
    sfast: f64,
    pred: f64,
    resdev: f64,
    cusum_hi: f64,
    cusum_lo: f64,
    cusum_rest: u32,
    last: f64,
    last_ts: i64,
    last_increase_ts: Option<i64>,
    slope: f64,
    skipped: u64,
}

fn logistic(z: f64, center: f64) -> f64 {
    1.0 / (1.0 + (-(z - center) / SLOPE).exp())
}

impl SeriesDetector {
    /// A fresh detector.
    pub fn new(p: DetectorParams) -> Self {
        let uses_scorer = matches!(p.kind, DetectorKind::Auto | DetectorKind::Rate);
        let uses_window = matches!(
            p.kind,
            DetectorKind::Robust | DetectorKind::Seasonal | DetectorKind::LevelShift
        );
        let uses_seasonal = matches!(p.kind, DetectorKind::Seasonal);
        SeriesDetector {
            scorer: uses_scorer.then(|| Box::new(Scorer::new(p.scorer_params()))),
            window: uses_window.then(|| RollingMedian::new(p.window)),
            seasonal: uses_seasonal.then(|| Box::new(Seasonal::new())),
            p,
            n: 0,
            absdev: 0.0,
            fast: 0.0,
            sfast: 0.0,
            pred: 0.0,
            resdev: 0.0,
            cusum_hi: 0.0,
            cusum_lo: 0.0,
            cusum_rest: 0,
            last: f64::NAN,
            last_ts: i64::MIN,
            last_increase_ts: None,
            slope: 0.0,
            skipped: 0,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &DetectorParams {
        &self.p
    }

    /// Samples seen.
    pub fn samples(&self) -> u64 {
        self.n
    }

    /// Bytes this detector holds: its own size plus its heap.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.scorer.as_ref().map_or(0, |s| s.memory_bytes())
            + self.window.as_ref().map_or(0, RollingMedian::heap_bytes)
            + self
                .seasonal
                .as_ref()
                .map_or(0, |s| std::mem::size_of::<Seasonal>() + s.heap_bytes())
    }

    fn directed(&self, z: f64) -> f64 {
        match self.p.direction {
            Direction::Both => z.abs(),
            Direction::Up => z.max(0.0),
            Direction::Down => (-z).max(0.0),
        }
    }

    /// Non-finite values skipped (counted, score 0, state unchanged).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Scores one sample at unix time `ts` (seconds), then learns it. A non-finite value is
    /// counted and ignored (score 0, state unchanged).
    pub fn update(&mut self, ts: i64, x: f64) -> Scored {
        if !x.is_finite() {
            self.skipped += 1;
            return Scored::default();
        }
        let out = match self.p.kind {
            DetectorKind::Counter => self.counter(ts, x),
            DetectorKind::Ewma => self.ewma_only(x),
            DetectorKind::Auto | DetectorKind::Rate => self.calibrated(ts, x),
            _ => self.combined(ts, x),
        };
        self.n += 1;
        self.last = x;
        self.last_ts = ts;
        out
    }

    /// The trivial baseline: an EWMA and its mean absolute deviation (for benchmarks).
    fn ewma_only(&mut self, x: f64) -> Scored {
        if self.n == 0 {
            self.fast = x;
        }
        let d = x - self.fast;
        let scale = self.absdev.max(self.floor(self.fast));
        let z = d / scale;
        self.fast += 0.1 * d;
        self.absdev += 0.1 * (d.abs() - self.absdev);
        let score = if self.n < self.p.warmup_samples {
            0.0
        } else {
            logistic(self.directed(z), self.p.z_threshold)
        };
        Scored {
            score,
            baseline: self.fast,
            upper: self.fast + self.p.z_threshold * scale,
            lower: self.fast - self.p.z_threshold * scale,
        }
    }

    fn counter(&mut self, ts: i64, x: f64) -> Scored {
        if self.n > 0 && x > self.last + self.p.min_absolute_scale {
            self.last_increase_ts = Some(ts);
        }
        let held = self
            .last_increase_ts
            .is_some_and(|t| ts - t < self.p.hold_secs as i64);
        let base = if self.n == 0 { x } else { self.last };
        Scored {
            score: if held { 1.0 } else { 0.0 },
            baseline: base,
            upper: base,
            lower: base,
        }
    }

    /// `auto` and `rate`: the calibrated score ([`Scorer`]); `rate` adds the predicted crossing.
    fn calibrated(&mut self, ts: i64, x: f64) -> Scored {
        let mut out = match self.scorer.as_mut() {
            Some(s) => s.score(ts as f64, x),
            None => Scored::default(),
        };
        let z_rate = self.rate_z(ts, x);
        if z_rate > 0.0 {
            out.score = out.score.max(logistic(z_rate, self.p.z_threshold));
        }
        out
    }

    /// The rate-of-change strength (z units) of `rate` detectors: 0 when no crossing of
    /// `threshold` is predicted within `horizon_secs`.
    fn rate_z(&mut self, ts: i64, x: f64) -> f64 {
        let p = &self.p;
        if !matches!(p.kind, DetectorKind::Rate) {
            return 0.0;
        }
        if self.n > 0 && ts > self.last_ts {
            let dt = (ts - self.last_ts) as f64;
            let inst = (x - self.last) / dt;
            self.slope += 0.3 * (inst - self.slope);
        }
        let Some(th) = p.threshold else { return 0.0 };
        if x >= th {
            p.z_threshold + 4.0
        } else if self.slope > 0.0 && self.n >= 3 {
            let eta = (th - x) / self.slope;
            if eta < p.horizon_secs as f64 {
                // eta = horizon maps to z_threshold - 2; eta = 0 to z_threshold + 4.
                p.z_threshold - 2.0 + 6.0 * (1.0 - eta / p.horizon_secs as f64)
            } else {
                0.0
            }
        } else {
            0.0
        }
    }

    fn floor(&self, level: f64) -> f64 {
        (self.p.min_relative_scale * level.abs())
            .max(self.p.min_absolute_scale)
            .max(1e-12)
    }

    fn combined(&mut self, ts: i64, x: f64) -> Scored {
        let p = &self.p;
        let Some(window) = self.window.as_mut() else {
            return Scored::default();
        };
        let first = window.is_empty();
        let med = if first { x } else { window.median() };
        let mad = if first { 0.0 } else { window.mad(med) };
        let floor = (p.min_relative_scale * med.abs())
            .max(p.min_absolute_scale)
            .max(1e-12);
        let scale = (1.4826 * mad).max(1.2533 * self.absdev).max(floor);
        if first {
            self.fast = x;
            self.pred = x;
        }
        let a = p.ewma_alpha;
        let ewma_sd = (a / (2.0 - a)).sqrt();

        // The seasonal expectation, when it is trusted: then it is the model for every component.
        let seasonal = self.seasonal.as_ref().and_then(|s| s.expect(ts));
        let clamp = 6.0 * scale;
        let xc = x.clamp(med - clamp, med + clamp);
        let (z_robust, z_level, z_spike, base, sscale) = match seasonal {
            Some((m, d)) => {
                let ss = (1.2533 * d).max(floor).max(0.25 * scale);
                let z = (x - m) / ss;
                self.fast += a * (xc - self.fast);
                self.sfast += a * ((x - m).clamp(-6.0 * ss, 6.0 * ss) - self.sfast);
                (z, self.sfast / (ss * ewma_sd), z, m, ss)
            }
            None => {
                // Spikes: the one-step residual of a fast EWMA predictor, against the typical
                // residual, so a smooth trend does not widen the band.
                let r = x - self.pred;
                let rscale = (1.2533 * self.resdev).max(floor);
                let z_spike = r / rscale;
                self.fast += a * (xc - self.fast);
                self.sfast = 0.0;
                (
                    (x - med) / scale,
                    (self.fast - med) / (scale * ewma_sd),
                    z_spike.min(2.0 * (x - med).abs() / scale),
                    med,
                    scale,
                )
            }
        };
        let r = x - self.pred;
        let rc = r.clamp(-6.0 * scale, 6.0 * scale);
        self.resdev += 0.05 * (rc.abs() - self.resdev);
        self.pred += 0.5 * (x.clamp(self.pred - 6.0 * scale, self.pred + 6.0 * scale) - self.pred);
        self.absdev += 0.05 * ((xc - med).abs() - self.absdev);
        window.push(x);
        if let Some(s) = self.seasonal.as_mut() {
            s.update(ts, x, med);
        }

        // CUSUM on the clamped, directed residual.
        let r = z_robust.clamp(-4.0, 4.0);
        let mut z_cusum = 0.0;
        if self.cusum_rest > 0 {
            self.cusum_rest -= 1;
        } else if self.n >= p.warmup_samples {
            self.cusum_hi = (self.cusum_hi + r - p.cusum_k).max(0.0);
            self.cusum_lo = (self.cusum_lo - r - p.cusum_k).max(0.0);
            let s = match p.direction {
                Direction::Both => self.cusum_hi.max(self.cusum_lo),
                Direction::Up => self.cusum_hi,
                Direction::Down => self.cusum_lo,
            };
            // Map so that reaching h is as strong as a z of the threshold.
            z_cusum = s / p.cusum_h * p.z_threshold;
            if s >= p.cusum_h {
                self.cusum_hi = 0.0;
                self.cusum_lo = 0.0;
                self.cusum_rest = (p.window / 2) as u32;
            }
        }

        let zs = match p.kind {
            DetectorKind::Robust => [self.directed(z_robust), 0.0, 0.0, 0.0],
            DetectorKind::LevelShift => [0.0, self.directed(z_level), z_cusum, 0.0],
            _ => [
                self.directed(z_robust),
                self.directed(z_level),
                z_cusum,
                self.directed(z_spike),
            ],
        };
        let z = zs[0].max(zs[1]).max(zs[2]).max(zs[3]);
        let score = if self.n < p.warmup_samples {
            0.0
        } else {
            logistic(z, p.z_threshold)
        };
        let band = p.z_threshold * sscale;
        Scored {
            score,
            baseline: base,
            upper: base + band,
            lower: base - band,
        }
    }
}
