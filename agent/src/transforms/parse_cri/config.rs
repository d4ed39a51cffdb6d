//! `parse_cri` settings.

use serde::Deserialize;

/// Which container log format a file holds.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContainerFormat {
    /// Per line: `{` starts docker json-file, anything else is CRI.
    #[default]
    Auto,
    /// CRI only.
    Cri,
    /// docker json-file only.
    Docker,
}

/// `[sources.kubernetes_pods.parse_cri]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParseCriConfig {
    /// The format of the files.
    #[serde(default)]
    pub format: ContainerFormat,
    /// The most bytes one joined line may have; a longer one is cut into several entries.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

impl Default for ParseCriConfig {
    fn default() -> Self {
        ParseCriConfig {
            format: ContainerFormat::default(),
            max_line_bytes: default_max_line_bytes(),
        }
    }
}

fn default_max_line_bytes() -> usize {
    256 * 1024
}
