//! `parse_json`: structured lines, JSON objects (the storage node's own logs) or logfmt. Takes
//! `level` as a label (normalised to a fixed set, so it stays low-cardinality), the configured
//! fields (`trace_id`, `request_id`) as Loki structured metadata, and, when configured, the
//! entry's timestamp from a field of the line. The line itself is sent unchanged.

mod config;
mod logfmt;
mod parse;

pub use config::{ParseConfig, ParseFormat};
pub use parse::{Parsed, normalize_level, parse_line};

#[cfg(test)]
mod tests;
