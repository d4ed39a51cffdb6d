//! `[sources.files]`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sources::tail::TailConfig;
use crate::transforms::multiline::MultilineConfig;
use crate::transforms::parse_json::ParseConfig;

/// Files matched by glob patterns.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Glob patterns (`/var/log/app/*.log`); the source is off while the list is empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Labels added to every entry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Multiline joining.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Structured parsing (JSON or logfmt).
    #[serde(default)]
    pub parse: ParseConfig,
    /// How files are watched and read.
    #[serde(default)]
    pub tail: TailConfig,
}
