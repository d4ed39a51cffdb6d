//! `multiline`: joins continuation lines (a stack trace's `\tat ...` frames) to the line that
//! starts the event. A line matching `start_pattern` starts a new event; any other line continues
//! the current one. An event is emitted when the next one starts, when it was idle for
//! `timeout_ms`, or when it reached `max_bytes` / `max_lines`.

mod config;
mod merge;

pub use config::MultilineConfig;
pub use merge::{Merged, Multiline, MultilineError};

#[cfg(test)]
mod tests;
