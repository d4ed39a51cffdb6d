//! `[sources.kubernetes_pods]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use std::sync::Arc;

use crate::component::{BuildContext, ComponentError, NodeName};
use crate::sources::tail::{Discover, LogSource, LogTelemetry, ProcessorConfig};

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

impl crate::component::Component for KubernetesPodsConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        self.api
            .check()
            .map_err(|(key, reason)| ComponentError::new(key, reason))?;
        if let Some(m) = &self.multiline {
            m.validate()
                .map_err(|e| ComponentError::new("multiline", e.to_string()))?;
        }
        Ok(())
    }

    /// Provides the [`NodeName`] (also when the source is off); when on, adds the pod logs
    /// to the [`LogSources`].
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let node = super::node_name(self.node_name.as_deref());
        ctx.provide(Arc::new(NodeName(node.clone())));
        if !self.enabled {
            return Ok(());
        }
        let cfg = self.clone();
        let metrics = Arc::clone(&ctx.metrics().logs);
        let api = match self.api.enabled {
            true => Some((
                ctx.http_client(&self.api.client_config())?,
                tokio::runtime::Handle::try_current()
                    .map_err(|e| ComponentError::new("api", e.to_string()))?,
            )),
            false => None,
        };
        let processor = ProcessorConfig {
            source: "kubernetes_pods",
            container: Some(self.parse_cri.clone()),
            multiline: self.multiline.clone(),
            parse: self.parse.clone(),
            telemetry: LogTelemetry::default(),
        };
        LogSource::register(
            ctx,
            self.tail.clone(),
            processor,
            true,
            Box::new(move || {
                let d =
                    super::PodsDiscover::new(cfg.root.clone(), node.clone(), cfg.labels.clone());
                let d = match &api {
                    Some((http, rt)) => d.with_api(super::PodApi::new(
                        cfg.api.clone(),
                        Arc::clone(&metrics),
                        http.clone(),
                        rt.clone(),
                    )),
                    None => d,
                };
                Ok(Box::new(d) as Box<dyn Discover>)
            }),
        );
        Ok(())
    }
}
