//! The recent range of a series: the smallest and largest value of each of the last
//! [`BLOCKS`] day-long blocks of series time, so the range forgets. Fixed size (about 120 bytes),
//! O(1) per sample (O([`BLOCKS`]) once a day).
//!
//! The all-time range never forgets: after one large anomaly (a spike, the old level before a
//! shift) a second anomaly inside that range is no record. Against the recent range it still is.

/// Day-long blocks kept (the current one included).
pub const BLOCKS: usize = 7;
/// The length of one block, in seconds of series time.
pub const BLOCK_SECS: f64 = 86_400.0;

/// The per-block minima and maxima.
#[derive(Debug, Clone, Copy)]
pub struct RecentRange {
    /// `(min, max)` per block, the current block first; an empty block is `(inf, -inf)`.
    blocks: [(f64, f64); BLOCKS],
    /// `(min, max)` over the blocks but the current one (recomputed when the blocks move).
    older: (f64, f64),
    /// Where the current block starts (series time, seconds).
    start: f64,
    /// Whether any sample was learned.
    started: bool,
}

impl Default for RecentRange {
    fn default() -> Self {
        RecentRange {
            blocks: [(f64::INFINITY, f64::NEG_INFINITY); BLOCKS],
            older: (f64::INFINITY, f64::NEG_INFINITY),
            start: 0.0,
            started: false,
        }
    }
}

impl RecentRange {
    /// Moves the current block forward to the one holding `ts` (dropping the oldest blocks);
    /// then `(min, max)` over the kept blocks, `None` while nothing was learned. A timestamp that
    /// goes backwards stays in the current block.
    pub fn range_at(&mut self, ts: f64) -> Option<(f64, f64)> {
        if !self.started {
            return None;
        }
        if ts >= self.start + BLOCK_SECS {
            let ahead = ((ts - self.start) / BLOCK_SECS).floor();
            if ahead >= BLOCKS as f64 {
                // Everything kept is older than the window.
                self.blocks = [(f64::INFINITY, f64::NEG_INFINITY); BLOCKS];
            } else {
                let k = ahead as usize;
                self.blocks.rotate_right(k);
                for b in &mut self.blocks[..k] {
                    *b = (f64::INFINITY, f64::NEG_INFINITY);
                }
            }
            self.start += ahead * BLOCK_SECS;
            self.older = self.blocks[1..]
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| {
                    (lo.min(b.0), hi.max(b.1))
                });
        }
        let lo = self.older.0.min(self.blocks[0].0);
        let hi = self.older.1.max(self.blocks[0].1);
        (lo <= hi).then_some((lo, hi))
    }

    /// Learns `x` at `ts` into the current block (call [`RecentRange::range_at`] first).
    pub fn learn(&mut self, ts: f64, x: f64) {
        if !self.started {
            self.started = true;
            self.start = ts;
        }
        let b = &mut self.blocks[0];
        b.0 = b.0.min(x);
        b.1 = b.1.max(x);
    }
}
