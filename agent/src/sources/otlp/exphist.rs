//! Exponential histograms: merging (for delta temporality) and conversion to explicit buckets.
//!
//! Conversion method: exact, no interpolation. At scale `s` the base is `2^(2^-s)` and positive
//! bucket `i` holds values in `(base^i, base^(i+1)]`, so it becomes the explicit bucket
//! `le = base^(i+1)`; negative bucket `i` holds `[-base^(i+1), -base^i)` and becomes
//! `le = -base^i`; the zero bucket becomes `le = zero_threshold`. Buckets are emitted densely
//! from the lowest to the highest populated index, so the set of `le` values only changes when
//! the range of observations grows. To bound the series, a histogram spanning more than
//! [`MAX_BUCKETS`] buckets is downscaled first (each step halves the resolution by merging
//! adjacent buckets, which is exact in counts), as the OpenTelemetry SDKs do.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;

use crate::event::Histogram;

/// The most explicit buckets one exponential histogram turns into (the SDKs' default size).
pub const MAX_BUCKETS: usize = 160;
/// The smallest and largest scales the OTLP data model allows.
const MIN_SCALE: i32 = -10;
const MAX_SCALE: i32 = 20;
/// The most buckets accepted in one data point (per sign), before downscaling.
const MAX_INPUT_BUCKETS: usize = 16_384;

/// An exponential histogram in its native form.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpHist {
    /// The scale.
    pub scale: i32,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// The zero bucket's bound.
    pub zero_threshold: f64,
    /// Positive buckets by index.
    pub positive: BTreeMap<i32, u64>,
    /// Negative buckets by index (of the absolute value).
    pub negative: BTreeMap<i32, u64>,
    /// The sum (NaN when the producer did not send one).
    pub sum: f64,
    /// The count.
    pub count: u64,
}

fn buckets_of(offset: i32, counts: &[u64]) -> Option<BTreeMap<i32, u64>> {
    if counts.len() > MAX_INPUT_BUCKETS {
        return None;
    }
    let mut out = BTreeMap::new();
    for (i, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let idx = offset.checked_add(i32::try_from(i).ok()?)?;
        out.insert(idx, *c);
    }
    Some(out)
}

impl ExpHist {
    /// Reads a data point; `None` when it is out of the data model's bounds.
    pub fn from_point(p: &ExponentialHistogramDataPoint) -> Option<ExpHist> {
        if !(MIN_SCALE..=MAX_SCALE).contains(&p.scale) {
            return None;
        }
        let positive = match &p.positive {
            Some(b) => buckets_of(b.offset, &b.bucket_counts)?,
            None => BTreeMap::new(),
        };
        let negative = match &p.negative {
            Some(b) => buckets_of(b.offset, &b.bucket_counts)?,
            None => BTreeMap::new(),
        };
        if !p.zero_threshold.is_finite() || p.zero_threshold < 0.0 {
            return None;
        }
        let mut h = ExpHist {
            scale: p.scale,
            zero_count: p.zero_count,
            zero_threshold: p.zero_threshold,
            positive,
            negative,
            sum: p.sum.unwrap_or(f64::NAN),
            count: p.count,
        };
        h.fit(MAX_BUCKETS);
        Some(h)
    }

    fn downscale(&mut self, by: u32) {
        if by == 0 {
            return;
        }
        let shift = by.min(31);
        for side in [&mut self.positive, &mut self.negative] {
            let old = std::mem::take(side);
            for (i, c) in old {
                *side.entry(i >> shift).or_default() += c;
            }
        }
        self.scale -= by as i32;
    }

    fn span(m: &BTreeMap<i32, u64>) -> usize {
        match (m.keys().next(), m.keys().next_back()) {
            (Some(lo), Some(hi)) => (i64::from(*hi) - i64::from(*lo) + 1) as usize,
            _ => 0,
        }
    }

    /// Downscales until the dense bucket ranges fit in `max` buckets (or the scale is minimal).
    pub fn fit(&mut self, max: usize) {
        while Self::span(&self.positive) + Self::span(&self.negative) > max
            && self.scale > MIN_SCALE
        {
            self.downscale(1);
        }
    }

    /// Adds a delta to this (cumulative) histogram, at the coarser of the two scales.
    pub fn merge(&mut self, delta: &ExpHist) {
        let mut d = delta.clone();
        if d.scale < self.scale {
            self.downscale((self.scale - d.scale) as u32);
        } else if d.scale > self.scale {
            d.downscale((d.scale - self.scale) as u32);
        }
        for (mine, theirs) in [
            (&mut self.positive, &d.positive),
            (&mut self.negative, &d.negative),
        ] {
            for (i, c) in theirs {
                let e = mine.entry(*i).or_default();
                *e = e.saturating_add(*c);
            }
        }
        self.zero_count = self.zero_count.saturating_add(d.zero_count);
        self.zero_threshold = self.zero_threshold.max(d.zero_threshold);
        self.count = self.count.saturating_add(d.count);
        self.sum += d.sum;
        self.fit(MAX_BUCKETS);
    }

    /// `base^i` at this scale.
    fn power(&self, i: i64) -> f64 {
        (i as f64 * (-f64::from(self.scale)).exp2()).exp2()
    }

    /// The explicit-bucket (Prometheus) form; see the module docs for the method.
    pub fn to_explicit(&self) -> Histogram {
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        let mut cum = 0u64;
        let push = |le: f64, cum: u64, buckets: &mut Vec<(f64, f64)>| {
            if !le.is_finite() {
                return;
            }
            match buckets.last_mut() {
                Some(last) if le <= last.0 => last.1 = cum as f64,
                _ => buckets.push((le, cum as f64)),
            }
        };
        if let (Some(lo), Some(hi)) = (
            self.negative.keys().next(),
            self.negative.keys().next_back(),
        ) {
            for i in (i64::from(*lo)..=i64::from(*hi)).rev() {
                let c = i32::try_from(i)
                    .ok()
                    .and_then(|k| self.negative.get(&k))
                    .copied()
                    .unwrap_or(0);
                cum = cum.saturating_add(c);
                push(-self.power(i), cum, &mut buckets);
            }
        }
        cum = cum.saturating_add(self.zero_count);
        push(self.zero_threshold, cum, &mut buckets);
        if let (Some(lo), Some(hi)) = (
            self.positive.keys().next(),
            self.positive.keys().next_back(),
        ) {
            for i in i64::from(*lo)..=i64::from(*hi) {
                let c = i32::try_from(i)
                    .ok()
                    .and_then(|k| self.positive.get(&k))
                    .copied()
                    .unwrap_or(0);
                cum = cum.saturating_add(c);
                push(self.power(i + 1), cum, &mut buckets);
            }
        }
        let count = self.count.max(cum) as f64;
        Histogram {
            buckets,
            sum: self.sum,
            count,
        }
    }
}
