//! Sinks: where the data goes: the Prometheus `/metrics` exporter, remote_write, Alertmanager
//! and Loki.
//!
//! The registry below is the `[sinks]` table: one line per sink (its key, which is also its
//! folder, and its config type); see [`crate::component::registry`].

crate::component::registry!(
    /// `[sinks]`: one table per sink.
    SinksConfig, crate::component::ComponentKind::Sink, {
    /// The `/metrics` exporter.
    prometheus_exporter: PrometheusExporterConfig,
    /// Prometheus remote_write (off unless a URL is set).
    prometheus_remote_write: RemoteWriteConfig,
    /// Anomaly alerts to Alertmanager.
    alertmanager: AlertmanagerConfig,
    /// Loki endpoints for the log sources.
    loki: LokiConfig,
});
