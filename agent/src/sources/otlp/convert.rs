//! OTLP metrics to Prometheus families, one batch per resource.
//!
//! - Resource: `service.namespace` + `/` + `service.name` becomes `job` (`unknown_service` when
//!   absent), `service.instance.id` becomes `instance`; both go on every series of the resource.
//!   The other resource attributes become labels of a `target_info` gauge (value 1).
//! - Scope: `otel_scope_name` and `otel_scope_version` labels when set; scope attributes are
//!   dropped.
//! - Gauge -> gauge; monotonic sum -> counter (`_total`); non-monotonic sum -> gauge; histogram
//!   -> histogram; exponential histogram -> histogram with explicit buckets ([`super::exphist`]);
//!   summary -> summary.
//! - Delta temporality becomes cumulative through [`DeltaState`]; a point with an unspecified
//!   temporality is rejected.
//! - Attribute keys are sanitised ([`super::names::label_name`]); keys that collide after
//!   sanitising are merged, their values joined with `;` in the order of the original keys.
//!   `le` on histograms and `quantile` on summaries are dropped (they would clash with the
//!   bucket and quantile labels); `job` and `instance` come from the resource.
//! - Points flagged "no recorded value" are skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    HistogramDataPoint, NumberDataPoint, metric::Data, number_data_point,
};

use crate::event::{Family, Histogram, Labels, Metric, MetricKind, Summary, Value};
use crate::pipeline::DropReason;

use super::delta::{Accum, DeltaState};
use super::exphist::ExpHist;
use super::names::{NameKind, label_name, metric_name};

/// The longest string an attribute value is turned into (longer ones are cut here, and then
/// rejected by the label-length bound of the store).
const MAX_VALUE_CHARS: usize = 64 * 1024;

const FLAG_NO_RECORDED_VALUE: u32 = 1;
const TEMPORALITY_DELTA: i32 = 1;
const TEMPORALITY_CUMULATIVE: i32 = 2;

/// One resource's series.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceBatch {
    /// `job` (and `instance` when known): the group key.
    pub key: Labels,
    /// The `job` value.
    pub job: String,
    /// The families.
    pub families: Vec<Family>,
}

/// The result of converting one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// One batch per distinct resource.
    pub batches: Vec<ResourceBatch>,
    /// Data points in the request.
    pub points: usize,
    /// Data points rejected during conversion, by reason.
    pub rejected: BTreeMap<DropReason, usize>,
}

impl Converted {
    fn reject(&mut self, reason: DropReason, n: usize) {
        if n > 0 {
            *self.rejected.entry(reason).or_default() += n;
        }
    }
}

/// Writes an attribute value as a label value: strings as they are, other scalars in their
/// usual text form, bytes in base64, arrays and maps as JSON.
pub fn any_value_string(v: Option<&AnyValue>, out: &mut String) {
    use base64::Engine as _;
    let Some(value) = v.and_then(|v| v.value.as_ref()) else {
        return;
    };
    if out.len() > MAX_VALUE_CHARS {
        return;
    }
    match value {
        any_value::Value::StringValue(s) => {
            let room = MAX_VALUE_CHARS.saturating_sub(out.len()) + 1;
            let cut = s.char_indices().nth(room).map_or(s.len(), |(i, _)| i);
            out.push_str(&s[..cut]);
        }
        any_value::Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        any_value::Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        any_value::Value::DoubleValue(d) => {
            let _ = write!(out, "{d}");
        }
        any_value::Value::BytesValue(b) => {
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
        }
        any_value::Value::ArrayValue(a) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(Some(v), out);
            }
            out.push(']');
        }
        any_value::Value::KvlistValue(kv) => json_kvlist(&kv.values, out),
        any_value::Value::StringValueStrindex(_) => {}
    }
}

fn json_value(v: Option<&AnyValue>, out: &mut String) {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(_) | any_value::Value::BytesValue(_)) => {
            let mut tmp = String::new();
            any_value_string(v, &mut tmp);
            out.push_str(&serde_json::Value::String(tmp).to_string());
        }
        None => out.push_str("null"),
        Some(_) => any_value_string(v, out),
    }
}

fn json_kvlist(values: &[KeyValue], out: &mut String) {
    out.push('{');
    for (i, kv) in values.iter().enumerate() {
        if out.len() > MAX_VALUE_CHARS {
            break;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(kv.key.clone()).to_string());
        out.push(':');
        json_value(kv.value.as_ref(), out);
    }
    out.push('}');
}

/// Sanitised attributes, with colliding names merged (values joined by `;` in key order).
fn attributes_to_labels(attrs: &[KeyValue], skip: &[&str]) -> Labels {
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let Some(name) = label_name(&kv.key) else {
            continue;
        };
        if skip.contains(&name.as_str()) {
            continue;
        }
        let mut value = String::new();
        any_value_string(kv.value.as_ref(), &mut value);
        match merged.get_mut(&name) {
            Some(v) => {
                v.push(';');
                v.push_str(&value);
            }
            None => {
                merged.insert(name, value);
            }
        }
    }
    Labels::from_pairs(merged)
}

fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    })
}

#[derive(Debug, Default)]
struct ResourceAcc {
    job: String,
    families: BTreeMap<String, Family>,
}

impl ResourceAcc {
    /// The family for `name`, or `None` when the name is taken by another type.
    fn family(&mut self, name: &str, help: &str, kind: MetricKind) -> Option<&mut Family> {
        let f = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family::new(name, help, kind));
        (f.kind == kind).then_some(f)
    }
}

fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(v) => Some(v),
        number_data_point::Value::AsInt(v) => Some(v as f64),
    }
}

/// Explicit-bucket histogram points to Prometheus (cumulative buckets, `+Inf` = count).
fn explicit_histogram(bounds: &[f64], counts: &[u64], sum: f64, count: u64) -> Option<Histogram> {
    if counts.is_empty() {
        return Some(Histogram {
            buckets: Vec::new(),
            sum,
            count: count as f64,
        });
    }
    if counts.len() != bounds.len() + 1
        || bounds.iter().any(|b| b.is_nan())
        || bounds.windows(2).any(|w| w[0] >= w[1])
    {
        return None;
    }
    let mut cum = 0u64;
    let mut buckets = Vec::with_capacity(bounds.len());
    for (b, c) in bounds.iter().zip(counts) {
        cum = cum.saturating_add(*c);
        if b.is_infinite() && *b > 0.0 {
            break;
        }
        buckets.push((*b, cum as f64));
    }
    let total = counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
    Some(Histogram {
        buckets,
        sum,
        count: count.max(total) as f64,
    })
}

fn hist_accum(p: &HistogramDataPoint) -> Accum {
    Accum::Hist {
        bounds: p.explicit_bounds.clone(),
        counts: p.bucket_counts.clone(),
        sum: p.sum.unwrap_or(f64::NAN),
        count: p.count,
    }
}

fn accum_value(a: Accum) -> Option<Value> {
    match a {
        Accum::Scalar(v) => Some(Value::Scalar(v)),
        Accum::Hist {
            bounds,
            counts,
            sum,
            count,
        } => explicit_histogram(&bounds, &counts, sum, count).map(Value::Histogram),
        Accum::Exp(e) => Some(Value::Histogram(e.to_explicit())),
    }
}

/// Converts one request. Points past `max_points` are rejected (`push_limit`).
pub fn convert(
    req: &ExportMetricsServiceRequest,
    delta: &mut DeltaState,
    max_points: usize,
    now: Instant,
) -> Converted {
    let mut out = Converted::default();
    let mut resources: BTreeMap<Labels, ResourceAcc> = BTreeMap::new();
    for rm in &req.resource_metrics {
        let attrs: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let service = attr_str(attrs, "service.name").unwrap_or("unknown_service");
        let job = match attr_str(attrs, "service.namespace").filter(|n| !n.is_empty()) {
            Some(ns) => format!("{ns}/{service}"),
            None => service.to_string(),
        };
        let mut key = Labels::new().with("job", job.as_str());
        if let Some(inst) = attr_str(attrs, "service.instance.id").filter(|i| !i.is_empty()) {
            key.insert("instance", inst);
        }
        let acc = resources.entry(key.clone()).or_insert_with(|| ResourceAcc {
            job: job.clone(),
            families: BTreeMap::new(),
        });
        let other: Vec<KeyValue> = attrs
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .cloned()
            .collect();
        if !other.is_empty() {
            let mut labels = attributes_to_labels(&other, &["job", "instance"]);
            for (k, v) in key.iter() {
                labels.insert(k, v);
            }
            if let Some(f) = acc.family("target_info", "Target metadata", MetricKind::Gauge) {
                f.push(labels, 1.0);
            }
        }
        for sm in &rm.scope_metrics {
            let mut base = key.clone();
            if let Some(scope) = &sm.scope {
                if !scope.name.is_empty() {
                    base.insert("otel_scope_name", scope.name.as_str());
                }
                if !scope.version.is_empty() {
                    base.insert("otel_scope_version", scope.version.as_str());
                }
            }
            for m in &sm.metrics {
                convert_metric(m, &base, acc, delta, max_points, now, &mut out);
            }
        }
    }
    out.batches = resources
        .into_iter()
        .map(|(key, acc)| ResourceBatch {
            key,
            job: acc.job,
            families: acc
                .families
                .into_values()
                .filter(|f| !f.metrics.is_empty())
                .collect(),
        })
        .filter(|b| !b.families.is_empty())
        .collect();
    out
}

/// Labels of one point: its attributes, then the scope and resource labels (which win).
fn point_labels(attrs: &[KeyValue], base: &Labels, skip: &[&str]) -> Labels {
    let mut labels = attributes_to_labels(attrs, skip);
    for (k, v) in base.iter() {
        labels.insert(k, v);
    }
    labels
}

#[allow(clippy::too_many_arguments)]
fn convert_metric(
    m: &opentelemetry_proto::tonic::metrics::v1::Metric,
    base: &Labels,
    acc: &mut ResourceAcc,
    delta: &mut DeltaState,
    max_points: usize,
    now: Instant,
    out: &mut Converted,
) {
    let Some(data) = &m.data else { return };
    let (n_points, kind, name_kind, temporality) = match data {
        Data::Gauge(g) => (
            g.data_points.len(),
            MetricKind::Gauge,
            NameKind::Gauge,
            TEMPORALITY_CUMULATIVE,
        ),
        Data::Sum(s) if s.is_monotonic => (
            s.data_points.len(),
            MetricKind::Counter,
            NameKind::Counter,
            s.aggregation_temporality,
        ),
        Data::Sum(s) => (
            s.data_points.len(),
            MetricKind::Gauge,
            NameKind::Gauge,
            s.aggregation_temporality,
        ),
        Data::Histogram(h) => (
            h.data_points.len(),
            MetricKind::Histogram,
            NameKind::Other,
            h.aggregation_temporality,
        ),
        Data::ExponentialHistogram(h) => (
            h.data_points.len(),
            MetricKind::Histogram,
            NameKind::Other,
            h.aggregation_temporality,
        ),
        Data::Summary(s) => (
            s.data_points.len(),
            MetricKind::Summary,
            NameKind::Other,
            TEMPORALITY_CUMULATIVE,
        ),
    };
    let first = out.points;
    out.points += n_points;
    // Points of this metric past the request's bound are rejected.
    let allowed = max_points.saturating_sub(first).min(n_points);
    out.reject(DropReason::PushLimit, n_points - allowed);
    if allowed == 0 {
        return;
    }
    if temporality != TEMPORALITY_DELTA && temporality != TEMPORALITY_CUMULATIVE {
        out.reject(DropReason::InvalidPoint, allowed);
        return;
    }
    let is_delta = temporality == TEMPORALITY_DELTA;
    let Some(name) = metric_name(&m.name, &m.unit, name_kind) else {
        out.reject(DropReason::InvalidName, allowed);
        return;
    };
    let help = m.description.lines().next().unwrap_or_default();
    let Some(family) = acc.family(&name, help, kind) else {
        out.reject(DropReason::TypeConflict, allowed);
        return;
    };
    let mut rejected_invalid = 0usize;
    let mut rejected_full = 0usize;
    let mut push = |family: &mut Family, labels: Labels, value: Option<Value>| match value {
        Some(value) => family.metrics.push(Metric { labels, value }),
        None => rejected_invalid += 1,
    };
    let mut resolve = |labels: &Labels, a: Accum| -> Result<Accum, ()> {
        if !is_delta {
            return Ok(a);
        }
        match delta.add(&name, labels, a, now) {
            Some(a) => Ok(a),
            None => {
                rejected_full += 1;
                Err(())
            }
        }
    };
    match data {
        Data::Gauge(g) => {
            for p in g.data_points.iter().take(allowed) {
                if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let labels = point_labels(&p.attributes, base, &[]);
                push(family, labels, number(p).map(Value::Scalar));
            }
        }
        Data::Sum(s) => {
            for p in s.data_points.iter().take(allowed) {
                if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let labels = point_labels(&p.attributes, base, &[]);
                let Some(v) = number(p) else {
                    push(family, labels, None);
                    continue;
                };
                if let Ok(a) = resolve(&labels, Accum::Scalar(v)) {
                    push(family, labels, accum_value(a));
                }
            }
        }
        Data::Histogram(h) => {
            for p in h.data_points.iter().take(allowed) {
                if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let labels = point_labels(&p.attributes, base, &["le"]);
                let Some(_) =
                    explicit_histogram(&p.explicit_bounds, &p.bucket_counts, 0.0, p.count)
                else {
                    push(family, labels, None);
                    continue;
                };
                if let Ok(a) = resolve(&labels, hist_accum(p)) {
                    push(family, labels, accum_value(a));
                }
            }
        }
        Data::ExponentialHistogram(h) => {
            for p in h.data_points.iter().take(allowed) {
                if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let labels = point_labels(&p.attributes, base, &["le"]);
                let Some(e) = ExpHist::from_point(p) else {
                    push(family, labels, None);
                    continue;
                };
                if let Ok(a) = resolve(&labels, Accum::Exp(e)) {
                    push(family, labels, accum_value(a));
                }
            }
        }
        Data::Summary(s) => {
            for p in s.data_points.iter().take(allowed) {
                if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let labels = point_labels(&p.attributes, base, &["quantile"]);
                let mut quantiles: Vec<(f64, f64)> = p
                    .quantile_values
                    .iter()
                    .map(|q| (q.quantile, q.value))
                    .collect();
                let valid = quantiles.iter().all(|(q, _)| (0.0..=1.0).contains(q));
                quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                quantiles.dedup_by(|a, b| a.0 == b.0);
                let value = valid.then_some(Value::Summary(Summary {
                    quantiles,
                    sum: p.sum,
                    count: p.count as f64,
                }));
                push(family, labels, value);
            }
        }
    }
    out.reject(DropReason::InvalidPoint, rejected_invalid);
    out.reject(DropReason::DeltaStateFull, rejected_full);
}
