//! `multiline` settings.

use serde::Deserialize;

/// `multiline = { start_pattern = "...", ... }` on a log source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regular expression; a line that matches starts a new event.
    pub start_pattern: String,
    /// How long an event waits for more lines before it is emitted.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most bytes in one event; at the bound the event is emitted and a new one starts.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// The most lines in one event.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_timeout_ms() -> u64 {
    1_000
}
fn default_max_bytes() -> usize {
    256 * 1024
}
fn default_max_lines() -> usize {
    500
}

impl MultilineConfig {
    /// Checks that the pattern compiles.
    pub fn validate(&self) -> Result<(), super::MultilineError> {
        super::Multiline::<()>::new(self).map(|_| ())
    }
}
