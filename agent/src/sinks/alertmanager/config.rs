//! `[sinks.alertmanager]`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::alerts::AlertBook;
use crate::component::{BuildContext, ComponentError};
use crate::http_client::{Auth, BasicAuthConfig, HttpClientConfig};

/// Where alerts go, how often they are re-sent, and the links their annotations carry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager base URLs (`http://am:9093`, `https://...`); `--alertmanager-url`
    /// replaces the list.
    #[serde(default)]
    pub urls: Vec<String>,
    /// PEM CA bundle for `https://` Alertmanagers; default: the system bundle.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Basic auth (Alertmanager behind a proxy).
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// A file holding a bearer token (re-read on every request).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Active alerts are re-sent this often (Prometheus: 1m); `endsAt` is 4 of these ahead.
    #[serde(default = "default_resend_interval_secs")]
    pub resend_interval_secs: u64,
    /// One POST may take this long.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest pause between retries while an Alertmanager is down.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// The most resolved alerts kept per Alertmanager while it is down; more are counted drops.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Base of the runbook links: `<base>/<alertname>.md`.
    #[serde(default = "default_runbook_base_url")]
    pub runbook_base_url: String,
    /// Grafana's base URL, for the Explore link.
    #[serde(default = "default_grafana_url")]
    pub grafana_url: String,
    /// The Loki data source uid in Grafana.
    #[serde(default = "default_grafana_datasource")]
    pub grafana_datasource: String,
    /// The LogQL stream selector; `$node` and `$component` are replaced.
    #[serde(default = "default_logql_selector")]
    pub logql_selector: String,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            urls: Vec::new(),
            ca_file: None,
            basic_auth: None,
            bearer_token_file: None,
            resend_interval_secs: default_resend_interval_secs(),
            timeout_ms: default_timeout_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            max_pending: default_max_pending(),
            runbook_base_url: default_runbook_base_url(),
            grafana_url: default_grafana_url(),
            grafana_datasource: default_grafana_datasource(),
            logql_selector: default_logql_selector(),
        }
    }
}

fn default_resend_interval_secs() -> u64 {
    60
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_max_pending() -> usize {
    1024
}
fn default_runbook_base_url() -> String {
    "https://github.com/nodewatch/nodewatch/blob/main/docs/runbooks".into()
}
fn default_grafana_url() -> String {
    "http://localhost:3000".into()
}
fn default_grafana_datasource() -> String {
    "loki".into()
}
fn default_logql_selector() -> String {
    r#"{node="$node", component="$component"}"#.into()
}

impl AlertmanagerConfig {
    /// The client settings for one Alertmanager (`url` without a trailing `/`).
    pub fn client_config(&self, url: &str) -> HttpClientConfig {
        HttpClientConfig::new(url, Duration::from_millis(self.timeout_ms))
            .with_ca(self.ca_file.as_deref(), "ca_file")
            .with_auth(Auth::from_keys(
                self.basic_auth.as_ref(),
                self.bearer_token_file.as_deref(),
            ))
    }
}

impl crate::component::Component for AlertmanagerConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        for u in &self.urls {
            crate::http_client::check_url(u)
                .map_err(|r| ComponentError::new("urls", format!("url {u:?}: {r}")))?;
        }
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            return Err(ComponentError::new(
                "bearer_token_file",
                "basic_auth and bearer_token_file are exclusive",
            ));
        }
        if self.resend_interval_secs == 0 {
            return Err(ComponentError::new(
                "resend_interval_secs",
                "must be above 0",
            ));
        }
        if self.max_pending == 0 {
            return Err(ComponentError::new("max_pending", "must be above 0"));
        }
        Ok(())
    }

    /// Provides the sink's input ([`super::AlertOutput`]: links and delivery stats) to the
    /// transform that raises alerts, and sends the shared [`AlertBook`] when URLs are set.
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let stats = Arc::new(super::SinkStats::new(ctx.telemetry()));
        ctx.provide(Arc::new(super::AlertOutput {
            links: super::Links::new(self),
            stats: Arc::clone(&stats),
        }));
        if !self.urls.is_empty() {
            let book = ctx.shared::<AlertBook>();
            let sink = super::AlertmanagerSink::new(self.clone(), book, stats, ctx)?;
            let shutdown = ctx.shutdown();
            ctx.spawn(sink.run(shutdown));
        }
        Ok(())
    }

    fn before_transforms(&self) -> bool {
        true
    }
}
