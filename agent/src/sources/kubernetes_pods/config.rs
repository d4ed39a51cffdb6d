//! `[sources.kubernetes_pods]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::api::PodApiConfig;
use crate::sources::tail::TailConfig;
use crate::transforms::multiline::MultilineConfig;
use crate::transforms::parse_cri::ParseCriConfig;
use crate::transforms::parse_json::ParseConfig;

/// Pod logs written by the kubelet's container runtime.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesPodsConfig {
    /// Whether the source runs.
    #[serde(default)]
    pub enabled: bool,
    /// The pod logs root.
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// The `node_name` label; default: `$NODE_NAME`, else the host name.
    #[serde(default)]
    pub node_name: Option<String>,
    /// Labels added to every entry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The container log format and the joined-line bound.
    #[serde(default)]
    pub parse_cri: ParseCriConfig,
    /// Multiline joining of the messages.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Structured parsing of the messages.
    #[serde(default)]
    pub parse: ParseConfig,
    /// How files are watched and read.
    #[serde(default)]
    pub tail: TailConfig,
    /// Pod labels from the Kubernetes API (off by default).
    #[serde(default)]
    pub api: PodApiConfig,
}

impl Default for KubernetesPodsConfig {
    fn default() -> Self {
        KubernetesPodsConfig {
            enabled: false,
            root: default_root(),
            node_name: None,
            labels: BTreeMap::new(),
            parse_cri: ParseCriConfig::default(),
            multiline: None,
            parse: ParseConfig::default(),
            tail: TailConfig::default(),
            api: PodApiConfig::default(),
        }
    }
}

fn default_root() -> PathBuf {
    PathBuf::from("/var/log/pods")
}
