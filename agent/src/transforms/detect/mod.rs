//! Streaming anomaly detection over the agent's own series: per-series detectors with O(1)
//! memory and no lookahead ([`SeriesDetector`]), the false-positive controls between a score and
//! an alert ([`AlertState`]), the live engine that reads the store ([`Engine`], [`run`]), the
//! shared alert set ([`AlertBook`]) and the offline `node-agent detect` command ([`run_detect`]).
//!
//! # The calibrated scorer (stable API)
//!
//! [`Scorer`] is the score every `auto` watch uses, and the one to reuse elsewhere (per-template
//! log rates, ...): `Scorer::new(ScorerParams::default())`, then for each sample
//! `scorer.observe(ts_secs, value)` returns a score in [0, 1] computed before the sample is
//! learned. The score is calibrated: below 0.5 it is `-log10(p) / 10` of the anomaly likelihood's
//! p-value (0.9 means `p <= 1e-9`), so it means the same on every series; at or above 0.5 it may
//! also be a value beyond everything seen, far beyond the last week's range, or far from every
//! value seen lately. On a long series without anomalies, fewer than 1 in
//! 1000 samples score 0.9 or more (see the `calibration_*` tests). Non-finite input is counted
//! ([`Scorer::skipped`]) and scores 0. Memory is fixed (about 1.7 KiB), cost O(1) per sample.

use crate::alerts;
mod config;
mod csv;
mod daily;
mod density;
mod detector;
mod engine;
mod guard;
mod likelihood;
mod policy;
mod recent;
mod scorer;
mod seasonal;
mod window;

pub use alerts::{Alert, AlertBook, MAX_RESOLVED};
pub use config::{
    AlertPolicy, DetectConfig, DetectorKind, DetectorParams, Direction, Stat, WatchConfig,
    default_watches,
};
pub use csv::{DetectError, DetectStats, parse_timestamp, run_detect};
pub use detector::SeriesDetector;
pub use engine::{Engine, SOURCE, histogram_quantile, run};
pub use likelihood::{Likelihood, upper_tail};
pub use policy::{AlertState, Transition};
pub use scorer::{Scored, Scorer, ScorerParams};
pub use seasonal::Seasonal;
pub use window::RollingMedian;

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod novelty_tests;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod scorer_tests;
#[cfg(test)]
mod tests;
