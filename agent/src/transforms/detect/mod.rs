//! Streaming anomaly detection over the agent's own series: per-series detectors with O(1)
//! memory and no lookahead ([`SeriesDetector`]), the false-positive controls between a score and
//! an alert ([`AlertState`]), the live engine that reads the store ([`Engine`], [`run`]), the
//! shared alert set ([`AlertBook`]) and the offline `node-agent detect` command ([`run_detect`]).

mod alerts;
mod config;
mod csv;
mod detector;
mod engine;
mod policy;
mod seasonal;
mod window;

pub use alerts::{Alert, AlertBook, MAX_RESOLVED};
pub use config::{
    AlertPolicy, DetectConfig, DetectorKind, DetectorParams, Direction, Stat, WatchConfig,
    default_watches,
};
pub use csv::{DetectError, DetectStats, parse_timestamp, run_detect};
pub use detector::{Scored, SeriesDetector};
pub use engine::{Engine, SOURCE, histogram_quantile, run};
pub use policy::{AlertState, Transition};
pub use seasonal::Seasonal;
pub use window::RollingMedian;

#[cfg(test)]
mod tests;
