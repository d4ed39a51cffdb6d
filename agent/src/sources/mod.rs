//! Sources: where data comes from. Collected metrics sources implement [`Source`] and the
//! topology runs each on its own task with its own interval and timeout; push sources add routes
//! to the pipeline listener; log sources add a [`tail::LogSource`] the Loki sink tails.
//!
//! The registry below is the `[sources]` table: one line per source (its key, which is also its
//! folder, and its config type); see [`crate::component::registry`].

pub mod tail;

pub use crate::component::{CollectError, Source};

crate::component::registry!(
    /// `[sources]`: one table per source.
    SourcesConfig, crate::component::ComponentKind::Source, {
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
