//! Where a series' values fell lately: a histogram of time-decayed counts in [`BINS`] equal bins
//! over the all-time range (re-binned when the range grows). Fixed size (about 230 bytes), O(1)
//! per sample, O([`BINS`]) when the range grows or a value falls in an empty stretch.
//!
//! A value inside the all-time range can still be new: a level between the usual one and the
//! usual spikes, a band the series has not visited lately. The record test (beyond the range)
//! cannot see it; [`Density::distance`] can: how far the value lies from every bin that holds a
//! real share of the recent mass.

/// Bins over the all-time range (each about 2 % of it).
pub const BINS: usize = 48;
/// A bin holding less than this share of the recent (decayed) mass counts as not visited.
pub const VISITED_SHARE: f64 = 1e-4;
/// The lazy decay factor is folded into the counts when it grows past this.
const RESCALE_AT: f64 = 1e30;

/// The histogram.
#[derive(Debug, Clone, Copy)]
pub struct Density {
    /// Decayed counts, in units of `1 / scale` samples.
    mass: [f32; BINS],
    /// The sum of `mass`.
    total: f64,
    /// The weight of the next sample (it grows instead of every count decaying).
    scale: f64,
    /// The range the bins cover.
    lo: f64,
    hi: f64,
}

impl Default for Density {
    fn default() -> Self {
        Density {
            mass: [0.0; BINS],
            total: 0.0,
            scale: 1.0,
            lo: 0.0,
            hi: 0.0,
        }
    }
}

impl Density {
    fn bin(&self, x: f64) -> usize {
        let span = self.hi - self.lo;
        if span > 0.0 {
            // `as` saturates: a value below `lo` (or NaN) lands in bin 0.
            (((x - self.lo) / span * BINS as f64) as usize).min(BINS - 1)
        } else {
            0
        }
    }

    /// How far `x` lies from the values seen lately, as a fraction of the covered range: the
    /// distance from its bin to the nearest visited bin (one holding at least
    /// [`VISITED_SHARE`] of the recent mass), less one bin, so a value next to visited
    /// territory is at 0. `None` when `x` lies outside the covered range or nothing was
    /// learned yet.
    pub fn distance(&self, x: f64) -> Option<f64> {
        if !(self.total > 0.0 && self.hi > self.lo && x >= self.lo && x <= self.hi) {
            return None;
        }
        let b = self.bin(x);
        let need = (VISITED_SHARE * self.total) as f32;
        let visited =
            |i: Option<usize>| i.and_then(|i| self.mass.get(i)).is_some_and(|&m| m >= need);
        let gap = (0..BINS)
            .find(|&d| visited(b.checked_sub(d)) || visited(Some(b + d)))
            .unwrap_or(BINS);
        Some(gap.saturating_sub(1) as f64 / BINS as f64)
    }

    /// Learns `x`, given the all-time range `[lo, hi]` (which includes `x`) and the decay
    /// weight of this time step (`1 - exp(-dt / tau)`).
    pub fn learn(&mut self, x: f64, lo: f64, hi: f64, w_decay: f64) {
        if self.total == 0.0 || lo < self.lo || hi > self.hi {
            self.rebin(lo, hi);
        }
        self.scale /= 1.0 - w_decay.clamp(0.0, 0.5);
        let b = self.bin(x);
        self.mass[b] += self.scale as f32;
        self.total += self.scale;
        if self.scale > RESCALE_AT {
            for m in &mut self.mass {
                *m = (f64::from(*m) / self.scale) as f32;
            }
            self.total /= self.scale;
            self.scale = 1.0;
        }
    }

    /// Moves every bin's mass to the bin of its centre in the new range `[lo, hi]`.
    fn rebin(&mut self, lo: f64, hi: f64) {
        let old = *self;
        self.lo = lo;
        self.hi = hi;
        if old.total == 0.0 {
            return;
        }
        self.mass = [0.0; BINS];
        let width = (old.hi - old.lo).max(0.0) / BINS as f64;
        for (i, &m) in old.mass.iter().enumerate() {
            if m > 0.0 {
                let b = self.bin(old.lo + (i as f64 + 0.5) * width);
                self.mass[b] += m;
            }
        }
    }
}
