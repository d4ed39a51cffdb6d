//! The top-level configuration structs.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::component::Registered;
use crate::pipeline::PipelineConfig;
use crate::sinks::SinksConfig;
use crate::sinks::loki::LokiEndpointConfig;
use crate::sources::SourcesConfig;
use crate::transforms::TransformsConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the agent keeps its state (WAL, positions).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The log filter: a level (`info`) or an `EnvFilter` directive (`agent=debug,info`).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// The HTTP listener for `/metrics` and the agent's API.
    #[serde(default)]
    pub api: ApiConfig,
    /// The metrics sources.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// The sinks.
    #[serde(default)]
    pub sinks: SinksConfig,
    /// The push listener (OTLP and Pushgateway) and the bounds of pushed series.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// The transforms.
    #[serde(default)]
    pub transforms: TransformsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            log_level: default_log_level(),
            api: ApiConfig::default(),
            sources: SourcesConfig::default(),
            sinks: SinksConfig::default(),
            pipeline: PipelineConfig::default(),
            transforms: TransformsConfig::default(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/node-agent")
}

fn default_log_level() -> String {
    "info".to_string()
}

/// `[api]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The address `/metrics`, `/healthz` and the API listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The most connections served at once; more wait in the accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a client may take to send its request headers.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
            max_connections: default_max_connections(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn default_max_connections() -> usize {
    64
}

fn default_header_read_timeout_ms() -> u64 {
    5_000
}

/// Values given on the command line; each one that is set replaces the file's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--storage-node`, repeatable; when given, replaces the file's list.
    pub storage_nodes: Vec<String>,
    /// `--smartctl-path`.
    pub smartctl_path: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--otlp-listen`: the pipeline listener (OTLP and Pushgateway pushes).
    pub otlp_listen: Option<SocketAddr>,
    /// `--remote-write-url`.
    pub remote_write_url: Option<String>,
    /// `--alertmanager-url`, repeatable; when given, replaces the file's list.
    pub alertmanager_urls: Vec<String>,
    /// `--loki-url`, repeatable; when given, replaces the file's endpoints.
    pub loki_urls: Vec<String>,
    /// `--log-path`, repeatable; when given, replaces the files source's globs.
    pub log_paths: Vec<String>,
    /// `--pod-logs-dir`: turns the kubernetes_pods source on with this root.
    pub pod_logs_dir: Option<PathBuf>,
}

impl Config {
    /// Every component in build order: sources, the sinks transforms feed, transforms, the
    /// other sinks.
    pub fn components(&self) -> Vec<Registered<'_>> {
        let (early, late): (Vec<_>, Vec<_>) = self
            .sinks
            .components()
            .into_iter()
            .partition(|(_, _, c)| c.before_transforms());
        let mut all = self.sources.components();
        all.extend(early);
        all.extend(self.transforms.components());
        all.extend(late);
        all
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(l) = o.listen {
            self.api.listen = l;
        }
        if let Some(d) = &o.data_dir {
            self.data_dir = d.clone();
        }
        if !o.storage_nodes.is_empty() {
            self.sources.storage_node.urls = o.storage_nodes.clone();
        }
        if let Some(p) = &o.smartctl_path {
            self.sources.smartctl.smartctl_path = p.clone();
        }
        if let Some(l) = &o.log_level {
            self.log_level = l.clone();
        }
        if let Some(l) = o.otlp_listen {
            self.pipeline.listen = l;
        }
        if let Some(u) = &o.remote_write_url {
            self.sinks.prometheus_remote_write.url = Some(u.clone());
        }
        if !o.alertmanager_urls.is_empty() {
            self.sinks.alertmanager.urls = o.alertmanager_urls.clone();
        }
        if !o.loki_urls.is_empty() {
            self.sinks.loki.endpoints = o
                .loki_urls
                .iter()
                .map(|u| LokiEndpointConfig::with_url(u))
                .collect();
        }
        if !o.log_paths.is_empty() {
            self.sources.files.include = o.log_paths.clone();
        }
        if let Some(d) = &o.pod_logs_dir {
            self.sources.kubernetes_pods.enabled = true;
            self.sources.kubernetes_pods.root = d.clone();
        }
    }
}
