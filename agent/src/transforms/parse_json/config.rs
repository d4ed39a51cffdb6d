//! `parse_json` settings.

use serde::Deserialize;

/// How lines are structured.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParseFormat {
    /// Plain text: nothing is extracted.
    #[default]
    None,
    /// One JSON object per line.
    Json,
    /// `key=value key="quoted value"`.
    Logfmt,
}

/// `parse = { format = "json", ... }` on a log source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParseConfig {
    /// The line format.
    #[serde(default)]
    pub format: ParseFormat,
    /// The field whose value becomes the `level` label.
    #[serde(default = "default_level_field")]
    pub level_field: String,
    /// Fields kept as Loki structured metadata (never labels: they are high-cardinality).
    #[serde(default = "default_metadata_fields")]
    pub metadata_fields: Vec<String>,
    /// When set, the entry's timestamp comes from this RFC 3339 field; otherwise the read time.
    #[serde(default)]
    pub timestamp_field: Option<String>,
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig {
            format: ParseFormat::None,
            level_field: default_level_field(),
            metadata_fields: default_metadata_fields(),
            timestamp_field: None,
        }
    }
}

fn default_level_field() -> String {
    "level".to_string()
}
fn default_metadata_fields() -> Vec<String> {
    vec!["trace_id".to_string(), "request_id".to_string()]
}
