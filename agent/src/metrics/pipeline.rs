//! The pipeline receivers' own telemetry. Every label value comes from a fixed set: the
//! [`Origin`], a [`DropReason`], an HTTP status from [`code_label`] and a method from
//! [`method_label`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::ComponentTelemetry;
use crate::event::{Family, Labels};

/// Which receiver a pushed series came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// OTLP/HTTP `/v1/metrics`.
    Otlp,
    /// The Pushgateway API `/metrics/job/...`.
    Pushgateway,
}

impl Origin {
    /// The `source` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Otlp => "otlp",
            Origin::Pushgateway => "pushgateway",
        }
    }
}

/// Why a pushed series or data point was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The store already holds `pipeline.max_series`.
    SeriesLimit,
    /// The store already holds `pipeline.max_groups` groups.
    GroupLimit,
    /// One request carried more series than its receiver's per-push limit.
    PushLimit,
    /// More labels than `pipeline.max_labels_per_series`.
    TooManyLabels,
    /// A label value longer than `pipeline.max_label_value_bytes`.
    LabelValueTooLong,
    /// A metric or label name that cannot be made valid.
    InvalidName,
    /// A data point that is malformed (bucket counts that do not match the bounds, an
    /// unspecified temporality, a grouping label contradicted by the body).
    InvalidPoint,
    /// A metric name already used in the same push with another type.
    TypeConflict,
    /// The delta-to-cumulative state is full.
    DeltaStateFull,
}

impl DropReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::SeriesLimit => "series_limit",
            DropReason::GroupLimit => "group_limit",
            DropReason::PushLimit => "push_limit",
            DropReason::TooManyLabels => "too_many_labels",
            DropReason::LabelValueTooLong => "label_value_too_long",
            DropReason::InvalidName => "invalid_name",
            DropReason::InvalidPoint => "invalid_point",
            DropReason::TypeConflict => "type_conflict",
            DropReason::DeltaStateFull => "delta_state_full",
        }
    }
}

/// The `code` label value for an HTTP status: one of a fixed set, else `other`.
pub fn code_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        202 => "202",
        400 => "400",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// The `method` label value: one of a fixed set, else `other`.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        _ => "other",
    }
}

#[derive(Debug, Default)]
struct Inner {
    otlp_points: u64,
    otlp_requests: BTreeMap<&'static str, u64>,
    push_requests: BTreeMap<(&'static str, &'static str), u64>,
    dropped: BTreeMap<(Origin, DropReason), u64>,
    expired: u64,
    /// Each push source's `component_*` counters (data points: received = sent + dropped; a
    /// request answered with an error status is an error).
    telemetry: BTreeMap<Origin, ComponentTelemetry>,
}

/// Counters of the pipeline receivers; the gauges (series, groups) come from the store.
#[derive(Debug, Default)]
pub struct PipelineMetrics {
    inner: Mutex<Inner>,
}

impl PipelineMetrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts into `t` what comes through `origin` (the push source's `build` sets it).
    pub fn set_telemetry(&self, origin: Origin, t: ComponentTelemetry) {
        self.lock().telemetry.insert(origin, t);
    }

    fn telemetry(&self, origin: Origin) -> Option<ComponentTelemetry> {
        self.lock().telemetry.get(&origin).cloned()
    }

    /// Counts data points `origin` stored.
    pub fn add_kept(&self, origin: Origin, n: usize) {
        if let Some(t) = self.telemetry(origin).filter(|_| n > 0) {
            t.received(n as u64);
            t.sent(n as u64);
        }
    }

    /// Counts OTLP data points received (kept or not).
    pub fn add_otlp_points(&self, n: usize) {
        self.lock().otlp_points += n as u64;
    }

    /// Counts one OTLP request by its response status.
    pub fn inc_otlp_request(&self, status: u16) {
        let mut g = self.lock();
        *g.otlp_requests.entry(code_label(status)).or_default() += 1;
        if status >= 400
            && let Some(t) = g.telemetry.get(&Origin::Otlp)
        {
            t.error();
        }
    }

    /// Counts one Pushgateway request by method and response status.
    pub fn inc_push_request(&self, method: &http::Method, status: u16) {
        let mut g = self.lock();
        *g.push_requests
            .entry((method_label(method), code_label(status)))
            .or_default() += 1;
        if status >= 400
            && let Some(t) = g.telemetry.get(&Origin::Pushgateway)
        {
            t.error();
        }
    }

    /// Counts series or data points that were not kept.
    pub fn add_dropped(&self, origin: Origin, reason: DropReason, n: usize) {
        if n > 0 {
            let mut g = self.lock();
            *g.dropped.entry((origin, reason)).or_default() += n as u64;
            if let Some(t) = g.telemetry.get(&origin) {
                t.received(n as u64);
                t.dropped(n as u64);
            }
        }
    }

    /// Counts series removed at their expiry.
    pub fn add_expired(&self, n: usize) {
        self.lock().expired += n as u64;
    }

    /// The dropped count of one origin and reason (for tests).
    pub fn dropped(&self, origin: Origin, reason: DropReason) -> u64 {
        self.lock()
            .dropped
            .get(&(origin, reason))
            .copied()
            .unwrap_or(0)
    }

    /// The expired count (for tests).
    pub fn expired(&self) -> u64 {
        self.lock().expired
    }

    /// The counters as families, plus the store's gauges.
    pub fn families(&self, series: usize, groups: usize) -> Vec<Family> {
        let g = self.lock();
        let mut requests = Family::counter(
            "nodewatch_agent_otlp_requests_total",
            "OTLP/HTTP export requests by response status.",
        );
        for code in ["200", "400", "413", "415"] {
            if !g.otlp_requests.contains_key(code) {
                requests.push(Labels::new().with("code", code), 0.0);
            }
        }
        for (code, n) in &g.otlp_requests {
            requests.push(Labels::new().with("code", *code), *n as f64);
        }
        requests.metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut push = Family::counter(
            "nodewatch_agent_pushgateway_requests_total",
            "Pushgateway API requests by method and response status.",
        );
        for ((method, code), n) in &g.push_requests {
            push.push(
                Labels::new().with("method", *method).with("code", *code),
                *n as f64,
            );
        }
        let mut dropped = Family::counter(
            "nodewatch_agent_pipeline_series_dropped_total",
            "Pushed series or data points not kept, by receiver and reason.",
        );
        for ((origin, reason), n) in &g.dropped {
            dropped.push(
                Labels::new()
                    .with("source", origin.as_str())
                    .with("reason", reason.as_str()),
                *n as f64,
            );
        }
        vec![
            Family::counter(
                "nodewatch_agent_otlp_datapoints_received_total",
                "OTLP metric data points received, kept or not.",
            )
            .with(Labels::new(), g.otlp_points as f64),
            requests,
            push,
            dropped,
            Family::counter(
                "nodewatch_agent_pipeline_expired_series_total",
                "Pushed series removed because they were not refreshed before their expiry.",
            )
            .with(Labels::new(), g.expired as f64),
            Family::gauge(
                "nodewatch_agent_pipeline_series",
                "Series (exposition lines) the pipeline store holds.",
            )
            .with(Labels::new(), series as f64),
            Family::gauge(
                "nodewatch_agent_pipeline_groups",
                "Groups (Pushgateway grouping keys and OTLP resources) the pipeline store holds.",
            )
            .with(Labels::new(), groups as f64),
        ]
    }
}
