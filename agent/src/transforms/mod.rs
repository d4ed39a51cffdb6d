//! Transforms, each named after its verb: what happens to data between sources and sinks.
//! Logs: [`parse_cri`] (CRI and docker json-file container logs, partial-line joining),
//! [`multiline`] (stack traces into one entry) and [`parse_json`] (JSON and logfmt lines: `level`
//! label, structured metadata, line timestamps), then [`log_patterns`] (template mining, the
//! `pattern` structured metadata, new/surging pattern alerts). Metrics: [`detect`], the anomaly
//! detectors.
//!
//! The registry below is the `[transforms]` table: one line per transform with a table of its
//! own (its key, which is also its folder, and its config type); see
//! [`crate::component::registry`]. The log transforms above are configured per log source.

pub mod multiline;
pub mod parse_cri;
pub mod parse_json;

crate::component::registry!(
    /// `[transforms]`: one table per transform.
    TransformsConfig, crate::component::ComponentKind::Transform, {
    /// The anomaly detectors.
    detect: DetectConfig,
    /// Log-template mining and log-pattern alerts.
    log_patterns: LogPatternsConfig,
});
