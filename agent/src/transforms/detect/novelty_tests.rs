//! The forgetting parts of novelty: the recent range ([`RecentRange`]), the density of recent
//! values ([`Density`]), and what they find through the [`Scorer`].

use super::density::Density;
use super::likelihood::decay_weight;
use super::recent::{BLOCK_SECS, BLOCKS, RecentRange};
use super::*;

const STEP: f64 = 300.0;
const T0: f64 = 1_699_920_000.0; // a UTC midnight
const DAY: usize = 288;
const WEEK_SECS: f64 = 7.0 * 86_400.0;

/// Deterministic noise in [-1, 1] (xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn gauss(&mut self) -> f64 {
        let u = (self.next() + 1.0) / 2.0 + 1e-12;
        let v = (self.next() + 1.0) / 2.0;
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[test]
fn recent_range_forgets_blocks_older_than_a_week() {
    let mut r = RecentRange::default();
    assert_eq!(r.range_at(T0), None);
    r.learn(T0, 0.0);
    r.learn(T0 + 60.0, 100.0);
    let day3 = T0 + 3.0 * BLOCK_SECS;
    assert_eq!(r.range_at(day3), Some((0.0, 100.0)));
    r.learn(day3, 5.0);
    // A timestamp going backwards stays in the current block.
    assert_eq!(r.range_at(day3 - 10.0), Some((0.0, 100.0)));
    // Day 0 drops out once the window has moved past it; day 3 is kept.
    let later = T0 + (BLOCKS as f64 + 0.5) * BLOCK_SECS;
    assert_eq!(r.range_at(later), Some((5.0, 5.0)));
    // After a gap longer than the window nothing is left.
    assert_eq!(r.range_at(later + 2.0 * BLOCKS as f64 * BLOCK_SECS), None);
    r.learn(later + 2.0 * BLOCKS as f64 * BLOCK_SECS, 7.0);
    assert_eq!(
        r.range_at(later + 2.0 * BLOCKS as f64 * BLOCK_SECS + 1.0),
        Some((7.0, 7.0))
    );
}

/// Learns `x` into `d` as the scorer does (all-time range tracked alongside).
fn learn(d: &mut Density, range: &mut (f64, f64), x: f64, dt: f64) {
    range.0 = range.0.min(x);
    range.1 = range.1.max(x);
    d.learn(x, range.0, range.1, decay_weight(dt, WEEK_SECS));
}

#[test]
fn density_sees_an_unvisited_band_inside_the_range() {
    let mut d = Density::default();
    assert_eq!(d.distance(1.0), None);
    let mut range = (f64::INFINITY, f64::NEG_INFINITY);
    let mut r = Noise(3);
    for i in 0..3 * DAY {
        let x = if i % 72 == 0 {
            100.0
        } else {
            5.0 + 5.0 * r.next()
        };
        learn(&mut d, &mut range, x, STEP);
    }
    // Inside the usual band and at the usual spikes: visited.
    assert_eq!(d.distance(5.0), Some(0.0));
    assert_eq!(d.distance(100.0), Some(0.0));
    // Halfway between: about 40 % of the range from anything seen.
    let e = d.distance(55.0).expect("inside the range");
    assert!((0.35..0.45).contains(&e), "distance {e}");
    // Beyond the range is the record test's business.
    assert_eq!(d.distance(101.0), None);
    // A new record re-bins: what was visited stays visited.
    learn(&mut d, &mut range, 300.0, STEP);
    assert_eq!(d.distance(5.0), Some(0.0));
    assert_eq!(d.distance(100.0), Some(0.0));
    assert!(d.distance(200.0).expect("inside") > 0.2);
}

#[test]
fn density_forgets_what_was_not_seen_for_weeks() {
    let mut d = Density::default();
    let mut range = (f64::INFINITY, f64::NEG_INFINITY);
    let mut r = Noise(4);
    learn(&mut d, &mut range, 100.0, STEP);
    for _ in 0..DAY {
        learn(&mut d, &mut range, 5.0 + 5.0 * r.next(), STEP);
    }
    assert_eq!(
        d.distance(100.0),
        Some(0.0),
        "one spike a day ago is recent"
    );
    for _ in 0..10 * 7 * DAY {
        learn(&mut d, &mut range, 5.0 + 5.0 * r.next(), STEP);
    }
    let e = d.distance(100.0).expect("still inside the all-time range");
    assert!(e > 0.8, "a spike ten weeks ago is forgotten: distance {e}");
    // Millions of samples: the lazy decay is rescaled, counts stay finite.
    for _ in 0..2_000_000 {
        learn(&mut d, &mut range, 5.0 + 5.0 * r.next(), STEP);
    }
    assert_eq!(d.distance(5.0), Some(0.0));
    assert!(d.distance(60.0).is_some_and(|e| e.is_finite() && e > 0.4));
}

/// A quiet series (10 +- 0.4) with a one-sample spike to 30 every 6 hours.
fn spiky(n: usize) -> Vec<(f64, f64)> {
    let mut r = Noise(8);
    (0..n)
        .map(|i| {
            let x = if i % 72 == 36 { 30.0 } else { 10.0 } + 0.4 * r.next();
            (T0 + i as f64 * STEP, x)
        })
        .collect()
}

fn scores(data: &[(f64, f64)]) -> Vec<f64> {
    let mut s = Scorer::default();
    data.iter().map(|&(t, x)| s.observe(t, x)).collect()
}

#[test]
fn a_level_between_the_usual_and_the_spikes_is_new() {
    let mut data = spiky(10 * DAY);
    let at = 9 * DAY + 10;
    for p in &mut data[at..at + 3] {
        p.1 = 20.0;
    }
    let s = scores(&data);
    assert!(s[at] >= 0.9, "a never-seen level scored {}", s[at]);
    let quiet = s[3 * DAY..at].iter().filter(|&&x| x >= 0.9).count();
    assert!(quiet <= 3, "{quiet} samples >= 0.9 on the regular spikes");
}

#[test]
fn a_second_anomaly_inside_the_range_of_the_first_is_found() {
    // A quiet series; a spike to 60 on day 2, then a spike to 25 on day 11: no record any more,
    // but far beyond the last week's values.
    let mut r = Noise(9);
    let mut data: Vec<(f64, f64)> = (0..12 * DAY)
        .map(|i| (T0 + i as f64 * STEP, 10.0 + 0.4 * r.next()))
        .collect();
    data[2 * DAY + 5].1 = 60.0;
    let at = 11 * DAY + 5;
    data[at].1 = 25.0;
    let s = scores(&data);
    assert!(s[2 * DAY + 5] >= 0.9, "first spike {}", s[2 * DAY + 5]);
    assert!(s[at] >= 0.9, "second spike {}", s[at]);
}

#[test]
fn calibration_heavy_tails_over_a_month() {
    // 30 days of 5-minute log-normal noise (a heavy tail, as latency and traffic have): the
    // recent range and the density are in play from day 3 on, and still at most 1 sample in
    // 1000 scores 0.9 or more.
    for seed in [1, 2] {
        let mut r = Noise(seed);
        let data: Vec<(f64, f64)> = (0..30 * DAY)
            .map(|i| (T0 + i as f64 * STEP, r.gauss().exp()))
            .collect();
        let s = scores(&data);
        let high = s.iter().filter(|&&x| x >= 0.9).count() as f64 / s.len() as f64;
        assert!(high <= 1e-3, "seed {seed}: {high} of samples >= 0.9");
    }
}
