//! Transforms, each named after its verb: what happens to data between sources and sinks.
//! Logs: [`parse_cri`] (CRI and docker json-file container logs, partial-line joining),
//! [`multiline`] (stack traces into one entry) and [`parse_json`] (JSON and logfmt lines: `level`
//! label, structured metadata, line timestamps), then [`log_patterns`] (template mining, the
//! `pattern` structured metadata, new/surging pattern alerts). Metrics: [`detect`], the anomaly
//! detectors.

pub mod detect;
pub mod log_patterns;
pub mod multiline;
pub mod parse_cri;
pub mod parse_json;
