//! The component registry: every source, transform and sink the agent has, one line each.
//!
//! Each line is a key of the `[sources]`, `[transforms]` or `[sinks]` table and the config type
//! of the component's folder; the type implements [`Component`]. `check-config` validates each
//! one, and the topology builds them in this order: sources, the sinks a transform feeds
//! ([`Component::before_transforms`]: `alertmanager`), transforms, the other sinks (which find
//! the transforms on their path, e.g. `loki` finds `log_patterns`). Adding a component is a new
//! folder plus one line here.

use serde::Deserialize;

use crate::component::{Component, ComponentKind};
use crate::sinks::alertmanager::AlertmanagerConfig;
use crate::sinks::loki::LokiConfig;
use crate::sinks::prometheus_exporter::PrometheusExporterConfig;
use crate::sinks::prometheus_remote_write::RemoteWriteConfig;
use crate::sources::ceph::CephConfig;
use crate::sources::files::FilesConfig;
use crate::sources::host::HostConfig;
use crate::sources::kubernetes_pods::KubernetesPodsConfig;
use crate::sources::nvml::NvmlConfig;
use crate::sources::otlp::OtlpConfig;
use crate::sources::pushgateway::PushgatewayConfig;
use crate::sources::smartctl::SmartctlConfig;
use crate::sources::storage_node::StorageNodeConfig;
use crate::transforms::detect::DetectConfig;
use crate::transforms::log_patterns::LogPatternsConfig;

/// A registered component: its kind, its id (the table key) and its config.
pub type Registered<'a> = (ComponentKind, &'static str, &'a dyn Component);

/// Defines one of the three tables: a struct with one defaulted field per component, and
/// `components()` listing them in order.
macro_rules! registry {
    ($(#[$meta:meta])* $name:ident, $kind:expr, { $($(#[$fmeta:meta])* $id:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* #[serde(default)] pub $id: $ty,)*
        }

        impl $name {
            /// The table's components, in registry order.
            pub fn components(&self) -> Vec<Registered<'_>> {
                vec![$(($kind, stringify!($id), &self.$id as &dyn Component),)*]
            }
        }
    };
}

registry!(
    /// `[sources]`: one table per source.
    SourcesConfig, ComponentKind::Source, {
    /// node_exporter's core host collectors.
    host: HostConfig,
    /// SMART through smartctl.
    smartctl: SmartctlConfig,
    /// The local storage nodes' admin endpoints.
    storage_node: StorageNodeConfig,
    /// GPUs through NVML (`enabled = "auto"`: on when NVML loads).
    nvml: NvmlConfig,
    /// Ceph daemons' admin sockets (off by default).
    ceph: CephConfig,
    /// Log files matched by globs.
    files: FilesConfig,
    /// Kubernetes pod logs.
    kubernetes_pods: KubernetesPodsConfig,
    /// OTLP/HTTP metrics pushed to the pipeline listener.
    otlp: OtlpConfig,
    /// Pushgateway-style pushes to the pipeline listener.
    pushgateway: PushgatewayConfig,
});

registry!(
    /// `[sinks]`: one table per sink.
    SinksConfig, ComponentKind::Sink, {
    /// The `/metrics` exporter.
    prometheus_exporter: PrometheusExporterConfig,
    /// Prometheus remote_write (off unless a URL is set).
    prometheus_remote_write: RemoteWriteConfig,
    /// Anomaly alerts to Alertmanager.
    alertmanager: AlertmanagerConfig,
    /// Loki endpoints for the log sources.
    loki: LokiConfig,
});

registry!(
    /// `[transforms]`: one table per transform.
    TransformsConfig, ComponentKind::Transform, {
    /// The anomaly detectors.
    detect: DetectConfig,
    /// Log-template mining and log-pattern alerts.
    log_patterns: LogPatternsConfig,
});
