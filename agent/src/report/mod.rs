//! `node-agent sla-report`: SLO attainment over a period, from the Prometheus HTTP API.
//!
//! The SLOs come from the same spec file as the rules (`rules/slo/slos.yaml`, [`spec`]). For each
//! SLO the report queries raw series ([`prom`]), never the recording rules, so any period can be
//! reported, and computes ([`compute`]) per SLO and per node: the SLI against the objective, the
//! error budget consumed, the worst days, the incidents (ranges where the SLO's burn-rate alert
//! was firing in `ALERTS`), latency percentiles (latency SLOs) and replication-lag compliance
//! (threshold SLOs). [`render`] writes Markdown, self-contained HTML with SVG charts ([`svg`]),
//! JSON or CSV.
//!
//! Day boundaries are UTC midnights ([`time`]); the period must be whole days.

mod compute;
mod error;
mod prom;
mod render;
mod run;
mod spec;
mod svg;
mod time;

#[cfg(test)]
mod tests;

pub use compute::{
    Attainment, DayPoint, Incident, NodeLag, NodeLatency, Report, SloReport, compute,
};
pub use error::ReportError;
pub use prom::{InstantSample, PromClient, RangeSeries};
pub use render::{Format, render};
pub use run::{Options, run};
pub use spec::{Sli, Slo, SloFile, parse_spec};
pub use time::{format_day, format_ts, parse_time};
