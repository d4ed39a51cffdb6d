//! `log_patterns`: online log-template mining on the log path (after parsing, before the Loki
//! sink) and alerts on new, surging or vanished templates.
//!
//! - [`mask`]: tokenising and masking of variable parts (numbers, hex, UUIDs, IPs, paths,
//!   durations, quoted values, stack-frame locations) in one pass, tokens as hashes;
//! - [`view`]: which part of a line is mined (a JSON line's message);
//! - [`tree`]: Drain's fixed-depth parse tree per stream group, and the similarity;
//! - [`store`]: the [`Miner`]: groups, templates, the bounds (templates per group and in all,
//!   groups, tokens per line, memory) with least-recently-seen eviction;
//! - [`persist`]: templates under `<data_dir>/log_patterns/`, replaced atomically;
//! - [`detect`] + [`scorer`]: new-pattern, surge and disappearance alerts into the shared
//!   `AlertBook`;
//! - [`transform`]: [`LogPatterns`], the hook the tailers call once per chunk (it adds the
//!   template id as the `pattern` structured metadata; the line is never changed);
//! - its families (`nodewatch_agent_log_pattern*`, bounded labels) are in
//!   `crate::metrics::log_patterns`, with the agent's other telemetry;
//! - [`offline`]: `node-agent patterns FILE...`, the same miner over files.

mod config;
pub mod detect;
pub mod mask;
pub mod offline;
pub mod persist;
mod scorer;
pub mod store;
mod transform;
pub mod tree;
pub mod view;

pub use config::{LogPatternsConfig, PatternAlertsConfig};
pub use scorer::Scorer;
pub use store::{Miner, Seen, Template};
pub use transform::{Inner, LogPatterns};

#[cfg(test)]
mod accuracy_tests;
#[cfg(test)]
mod tests;
