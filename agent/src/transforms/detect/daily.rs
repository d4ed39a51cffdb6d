//! A daily profile in fixed time-of-day bins (UTC): per bin an exponentially weighted mean and
//! mean absolute deviation, and how often the bin was seen. Fixed size (96 bins of 15 minutes,
//! about 1 KiB) whatever the sample rate.

/// Bins per day.
pub const BINS: usize = 96;
const DAY: f64 = 86_400.0;
/// The weight of a new sample in its bin (a bin sees one day's worth of its samples per day).
const ALPHA: f32 = 0.3;
/// Samples a bin needs before it predicts.
const MIN_SEEN: u16 = 6;

/// The profile.
#[derive(Debug, Clone)]
pub struct DailyProfile {
    mean: Box<[f32; BINS]>,
    dev: Box<[f32; BINS]>,
    seen: Box<[u16; BINS]>,
}

impl Default for DailyProfile {
    fn default() -> Self {
        DailyProfile {
            mean: Box::new([0.0; BINS]),
            dev: Box::new([0.0; BINS]),
            seen: Box::new([0; BINS]),
        }
    }
}

impl DailyProfile {
    /// The bin of unix time `ts` (seconds).
    pub fn bin(ts: f64) -> usize {
        let b = (ts.rem_euclid(DAY) / DAY * BINS as f64) as usize;
        b.min(BINS - 1)
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        BINS * (2 * std::mem::size_of::<f32>() + std::mem::size_of::<u16>())
    }

    /// The expected value and the bin's mean absolute deviation, once the bin has been seen
    /// often enough.
    pub fn expect(&self, bin: usize) -> Option<(f64, f64)> {
        (self.seen[bin] >= MIN_SEEN).then(|| (f64::from(self.mean[bin]), f64::from(self.dev[bin])))
    }

    /// Learns `x` in `bin`; returns the residual against the bin's previous mean (0 for the
    /// bin's first sample).
    pub fn update(&mut self, bin: usize, x: f64) -> f64 {
        let res = if self.seen[bin] == 0 {
            self.mean[bin] = x as f32;
            0.0
        } else {
            let res = x - f64::from(self.mean[bin]);
            self.mean[bin] += ALPHA * res as f32;
            self.dev[bin] += ALPHA * (res.abs() as f32 - self.dev[bin]);
            res
        };
        self.seen[bin] = self.seen[bin].saturating_add(1);
        res
    }

    /// Whether `bin` has seen any sample.
    pub fn seen(&self, bin: usize) -> bool {
        self.seen[bin] > 0
    }
}
