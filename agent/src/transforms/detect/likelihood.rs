//! The anomaly likelihood of one stream of raw surprise (HTM/NAB style, computed online in O(1)):
//! a short time-decayed average of the surprise is compared with the long-run mean and spread of
//! that average, and the upper tail probability of a normal is the p-value. Averaging first makes
//! the statistic close to normal (a single raw surprise is heavy-tailed), and measuring it against
//! its own history makes the p-value mean the same thing on every series. A young stream (fewer
//! than `CONFIDENT_SAMPLES`) gives no p-value below `upper_tail(YOUNG_MAX_Z)`: its history is too
//! short to know a far tail.

/// The smallest spread of the short average (raw-surprise units), so a perfectly regular series
/// does not turn a rounding error into a tiny p-value.
const MIN_SIGMA: f64 = 1e-3;

/// Samples before a stream gives p-values (its mean and spread need a few points).
const MIN_SAMPLES: u32 = 10;

/// Samples before a stream's p-value may go below `upper_tail(YOUNG_MAX_Z)`: the spread of a
/// few dozen strongly correlated short averages says nothing about their 1e-7 tail. On the alert
/// test's real baseline (a 1 s p99 at 12 samples), one slow PUT, a capped surprise like any
/// 1000-fold fault, gave p < 1e-10. Novelty counts after as many samples too.
const CONFIDENT_SAMPLES: u32 = 100;

/// The largest standardized short average of a young stream: p >= 3.2e-5, a score of at most
/// 0.45, below every page; what pages a young series is the sustained magnitude guard.
const YOUNG_MAX_Z: f64 = 4.0;

/// `P(Z >= z)` for a standard normal `Z`.
pub fn upper_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// `1 - exp(-dt / tau)`: the weight of a sample `dt` seconds after the previous one in an
/// exponentially decayed average with time constant `tau` seconds.
pub fn decay_weight(dt: f64, tau: f64) -> f64 {
    -(-dt / tau).exp_m1()
}

/// One surprise stream's likelihood state: 24 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Likelihood {
    short: f64,
    mean: f64,
    var: f32,
    n: u32,
}

impl Likelihood {
    /// Feeds one raw surprise `r` with the short and long weights of this sample; returns the
    /// p-value of the short average before it is learned (1 while the stream is young).
    pub fn step(&mut self, r: f64, w_short: f64, w_long: f64) -> f64 {
        self.step_z(r, w_short, w_long).map_or(1.0, upper_tail)
    }

    /// [`Likelihood::step`] as the standardized short average (`None` while the stream is young,
    /// at most `YOUNG_MAX_Z` before `CONFIDENT_SAMPLES`): the p-value is `upper_tail(z)`, so the
    /// smallest p-value of several streams needs one tail evaluation.
    pub fn step_z(&mut self, r: f64, w_short: f64, w_long: f64) -> Option<f64> {
        if self.n == 0 {
            self.short = r;
            self.mean = r;
        } else {
            self.short += w_short * (r - self.short);
        }
        let sigma = f64::from(self.var).sqrt().max(MIN_SIGMA);
        let z = (self.n >= MIN_SAMPLES).then(|| {
            let z = (self.short - self.mean) / sigma;
            if self.n < CONFIDENT_SAMPLES {
                z.min(YOUNG_MAX_Z)
            } else {
                z
            }
        });
        // Until the long window has filled, the plain running mean (no start-up bias to 0).
        let w = w_long.max(1.0 / (f64::from(self.n) + 1.0));
        let d = self.short - self.mean;
        self.mean += w * d;
        self.var = ((1.0 - w) * (f64::from(self.var) + w * d * d)) as f32;
        self.n = self.n.saturating_add(1);
        z
    }
}
