//! Delta to cumulative: a running total per series, bounded in entries and expired with the
//! series it feeds.
//!
//! A delta sum adds to the total; a delta histogram adds bucket by bucket when its bounds match
//! the stored ones and starts over when they change (the producer was reconfigured); a delta
//! exponential histogram is merged in its native form at the coarser scale, then converted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::event::Labels;

use super::exphist::ExpHist;

/// One series' running state.
#[derive(Debug, Clone, PartialEq)]
pub enum Accum {
    /// A sum.
    Scalar(f64),
    /// An explicit-bucket histogram: bounds, per-bucket counts, sum, count.
    Hist {
        /// Upper bounds.
        bounds: Vec<f64>,
        /// Per-bucket (not cumulative) counts, one more than `bounds`.
        counts: Vec<u64>,
        /// Sum.
        sum: f64,
        /// Count.
        count: u64,
    },
    /// An exponential histogram.
    Exp(ExpHist),
}

/// The running totals, keyed by metric name and labels.
#[derive(Debug)]
pub struct DeltaState {
    entries: HashMap<(String, Labels), (Accum, Instant)>,
    max_entries: usize,
}

impl DeltaState {
    /// An empty state holding at most `max_entries` series.
    pub fn new(max_entries: usize) -> Self {
        DeltaState {
            entries: HashMap::new(),
            max_entries,
        }
    }

    /// Series tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `delta` to the series' running state and returns the new state; `None` when the
    /// series is new and the state is full.
    pub fn add(
        &mut self,
        name: &str,
        labels: &Labels,
        delta: Accum,
        now: Instant,
    ) -> Option<Accum> {
        let key = (name.to_string(), labels.clone());
        if let Some((acc, t)) = self.entries.get_mut(&key) {
            *t = now;
            merge(acc, delta);
            return Some(acc.clone());
        }
        if self.entries.len() >= self.max_entries {
            return None;
        }
        self.entries.insert(key, (delta.clone(), now));
        Some(delta)
    }

    /// Forgets series not updated within `ttl`.
    pub fn expire(&mut self, ttl: Duration, now: Instant) {
        self.entries.retain(|_, (_, t)| *t + ttl > now);
    }
}

fn merge(acc: &mut Accum, delta: Accum) {
    match (acc, delta) {
        (Accum::Scalar(a), Accum::Scalar(d)) => *a += d,
        (
            Accum::Hist {
                bounds,
                counts,
                sum,
                count,
            },
            Accum::Hist {
                bounds: db,
                counts: dc,
                sum: ds,
                count: dn,
            },
        ) if *bounds == db && counts.len() == dc.len() => {
            for (a, d) in counts.iter_mut().zip(dc) {
                *a = a.saturating_add(d);
            }
            *sum += ds;
            *count = count.saturating_add(dn);
        }
        (Accum::Exp(a), Accum::Exp(d)) => a.merge(&d),
        (acc, delta) => *acc = delta,
    }
}
