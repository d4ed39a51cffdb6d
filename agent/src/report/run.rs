//! The `sla-report` command: spec + period + Prometheus -> a rendered report.

use std::path::PathBuf;

use super::ReportError;
use super::compute::compute;
use super::prom::PromClient;
use super::render::{Format, render};
use super::spec::{is_metric_name, load_spec};
use super::time::parse_time;

/// The command's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Prometheus base URL.
    pub prometheus: String,
    /// The SLO spec file.
    pub slo: PathBuf,
    /// Period start (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`).
    pub from: String,
    /// Period end, exclusive.
    pub to: String,
    /// Output format.
    pub format: Format,
    /// The label that names a node.
    pub node_label: String,
    /// Seconds between points for time SLIs and incidents.
    pub step_secs: i64,
}

/// Builds and renders the report.
pub async fn run(o: &Options) -> Result<String, ReportError> {
    let spec = load_spec(&o.slo)?;
    let from = parse_time(&o.from)?;
    let to = parse_time(&o.to)?;
    if !is_metric_name(&o.node_label) || o.node_label.contains(':') {
        return Err(ReportError::Period(format!(
            "--node-label {:?} is not a label name",
            o.node_label
        )));
    }
    let client = PromClient::new(&o.prometheus)?;
    let report = compute(
        &client,
        &o.prometheus,
        &spec,
        from,
        to,
        &o.node_label,
        o.step_secs,
    )
    .await?;
    Ok(render(&report, o.format))
}
