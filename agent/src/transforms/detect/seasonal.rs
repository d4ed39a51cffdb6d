//! Daily and weekly profiles learned online: a fixed number of bins keyed by the time of day and
//! of week, each an EWMA of the value and of its absolute deviation. A profile is used only once
//! it has seen enough history (two days, two weeks) and only while it explains the series better
//! than the plain sliding baseline, so a series without seasonality is not scored by it.

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Bins per day (30 minutes each).
pub const DAILY_BINS: usize = 48;
/// Bins per week (one hour each).
pub const WEEKLY_BINS: usize = 168;

#[derive(Debug, Clone)]
struct Profile {
    mean: Box<[f32]>,
    dev: Box<[f32]>,
    seen: Box<[u8]>,
    period: i64,
}

impl Profile {
    fn new(bins: usize, period: i64) -> Self {
        Profile {
            mean: vec![0.0; bins].into_boxed_slice(),
            dev: vec![0.0; bins].into_boxed_slice(),
            seen: vec![0; bins].into_boxed_slice(),
            period,
        }
    }

    fn bin(&self, ts: i64) -> usize {
        let bins = self.mean.len() as i64;
        (ts.rem_euclid(self.period) * bins / self.period) as usize
    }

    fn expect(&self, ts: i64) -> Option<(f64, f64)> {
        let b = self.bin(ts);
        (self.seen[b] >= 2).then(|| (f64::from(self.mean[b]), f64::from(self.dev[b])))
    }

    fn update(&mut self, ts: i64, x: f64, alpha: f64) {
        let b = self.bin(ts);
        if self.seen[b] == 0 {
            self.mean[b] = x as f32;
            self.dev[b] = 0.0;
        } else {
            let m = f64::from(self.mean[b]);
            let d = (x - m).abs();
            self.mean[b] = (m + alpha * (x - m)) as f32;
            self.dev[b] = (f64::from(self.dev[b]) + alpha * (d - f64::from(self.dev[b]))) as f32;
        }
        self.seen[b] = self.seen[b].saturating_add(1);
    }

    fn heap_bytes(&self) -> usize {
        self.mean.len() * 9
    }
}

/// The daily and weekly profiles of one series.
#[derive(Debug, Clone)]
pub struct Seasonal {
    daily: Profile,
    weekly: Profile,
    first_ts: Option<i64>,
    /// EWMA of |residual| under the seasonal model and under the sliding baseline.
    err_seasonal: f64,
    err_baseline: f64,
}

impl Default for Seasonal {
    fn default() -> Self {
        Self::new()
    }
}

impl Seasonal {
    /// Empty profiles.
    pub fn new() -> Self {
        Seasonal {
            daily: Profile::new(DAILY_BINS, DAY),
            weekly: Profile::new(WEEKLY_BINS, WEEK),
            first_ts: None,
            err_seasonal: 0.0,
            err_baseline: 0.0,
        }
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.daily.heap_bytes() + self.weekly.heap_bytes()
    }

    /// The expected value and typical deviation at `ts`, when a profile is mature and has been
    /// explaining the series better than the sliding baseline.
    pub fn expect(&self, ts: i64) -> Option<(f64, f64)> {
        let first = self.first_ts?;
        let age = ts - first;
        let e = if age >= 2 * WEEK {
            self.weekly.expect(ts).or_else(|| self.daily.expect(ts))
        } else if age >= 2 * DAY {
            self.daily.expect(ts)
        } else {
            None
        }?;
        (self.err_seasonal < 0.8 * self.err_baseline).then_some(e)
    }

    /// The raw profile expectation (maturity only), for tracking its error.
    fn raw_expect(&self, ts: i64) -> Option<(f64, f64)> {
        let age = ts - self.first_ts?;
        if age >= 2 * WEEK {
            self.weekly.expect(ts).or_else(|| self.daily.expect(ts))
        } else if age >= 2 * DAY {
            self.daily.expect(ts)
        } else {
            None
        }
    }

    /// Learns one (winsorized) value; `baseline` is what the sliding baseline predicted.
    pub fn update(&mut self, ts: i64, x: f64, baseline: f64) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        if let Some((m, _)) = self.raw_expect(ts) {
            const A: f64 = 0.003;
            self.err_seasonal += A * ((x - m).abs() - self.err_seasonal);
            self.err_baseline += A * ((x - baseline).abs() - self.err_baseline);
        }
        self.daily.update(ts, x, 0.25);
        self.weekly.update(ts, x, 0.4);
    }
}
