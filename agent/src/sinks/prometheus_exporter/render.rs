//! Rendering families to the Prometheus text format (0.0.4) and to OpenMetrics 1.0.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use crate::event::{Family, Labels, MetricKind, Value};

/// The exposition format of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format from an `Accept` header: OpenMetrics when the client lists it with a
    /// non-zero quality, text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or_default();
            if !media.eq_ignore_ascii_case("application/openmetrics-text") {
                continue;
            }
            let zero_q = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !zero_q {
                return Format::OpenMetrics;
            }
        }
        Format::Text
    }
}

/// What rendering skipped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenderReport {
    /// Series written.
    pub series: usize,
    /// Families skipped because another source already used the name with another type.
    pub type_conflicts: usize,
    /// Series skipped because another source already wrote the same name and labels.
    pub duplicates: usize,
}

/// Renders `families` (from any number of sources) into `out`. Families with the same name are
/// merged; the first type seen wins, and a series seen twice is written once.
pub fn render<'a>(
    families: impl IntoIterator<Item = &'a Family>,
    format: Format,
    out: &mut String,
) -> RenderReport {
    let mut by_name: BTreeMap<&str, Vec<&Family>> = BTreeMap::new();
    for f in families {
        by_name.entry(f.name.as_str()).or_default().push(f);
    }
    let mut report = RenderReport::default();
    for (name, group) in by_name {
        let Some(first) = group.first() else {
            continue;
        };
        let kind = first.kind;
        let help = group
            .iter()
            .map(|f| f.help.as_str())
            .find(|h| !h.is_empty())
            .unwrap_or(name);
        write_header(out, name, help, kind, format);
        let mut seen: Option<HashSet<&Labels>> = (group.len() > 1).then(HashSet::new);
        for f in &group {
            if f.kind != kind {
                report.type_conflicts += 1;
                continue;
            }
            for m in &f.metrics {
                if let Some(seen) = seen.as_mut()
                    && !seen.insert(&m.labels)
                {
                    report.duplicates += 1;
                    continue;
                }
                report.series += m.value.series_count();
                write_metric(out, name, kind, &m.labels, &m.value, format);
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    report
}

/// The kind a family is written as in OpenMetrics, where a counter's samples must end in
/// `_total`: a counter whose name does not (Ceph's `ceph_osd_op_w`, `..._latency_sum`, dcgm's
/// `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, pushed pipeline counters) is written as `unknown`, so
/// that Prometheus stores the name the text format and the exporter it replaces give it, never
/// `<name>_total`. Every other kind keeps its sample names unchanged in both formats.
pub fn om_kind(name: &str, kind: MetricKind) -> MetricKind {
    match kind {
        MetricKind::Counter if !name.ends_with("_total") => MetricKind::Untyped,
        k => k,
    }
}

fn om_family_name(name: &str, kind: MetricKind) -> &str {
    match kind {
        MetricKind::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

fn write_header(out: &mut String, name: &str, help: &str, kind: MetricKind, format: Format) {
    match format {
        Format::Text => {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_help(out, help, false);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(kind.as_text());
            out.push('\n');
        }
        Format::OpenMetrics => {
            let kind = om_kind(name, kind);
            let fam = om_family_name(name, kind);
            let kind_word = match kind {
                MetricKind::Untyped => "unknown",
                k => k.as_text(),
            };
            out.push_str("# TYPE ");
            out.push_str(fam);
            out.push(' ');
            out.push_str(kind_word);
            out.push_str("\n# HELP ");
            out.push_str(fam);
            out.push(' ');
            escape_help(out, help, true);
            out.push('\n');
        }
    }
}

fn write_metric(
    out: &mut String,
    name: &str,
    kind: MetricKind,
    labels: &Labels,
    value: &Value,
    format: Format,
) {
    match value {
        Value::Scalar(v) => {
            if format == Format::OpenMetrics && om_kind(name, kind) == MetricKind::Counter {
                let fam = om_family_name(name, kind);
                write_line(out, fam, "_total", labels, None, *v, format);
            } else {
                write_line(out, name, "", labels, None, *v, format);
            }
        }
        Value::Histogram(h) => {
            let mut has_inf = false;
            for (le, c) in &h.buckets {
                has_inf |= le.is_infinite() && *le > 0.0;
                write_line(out, name, "_bucket", labels, Some(("le", *le)), *c, format);
            }
            if !has_inf {
                write_line(
                    out,
                    name,
                    "_bucket",
                    labels,
                    Some(("le", f64::INFINITY)),
                    h.count,
                    format,
                );
            }
            write_line(out, name, "_sum", labels, None, h.sum, format);
            write_line(out, name, "_count", labels, None, h.count, format);
        }
        Value::Summary(s) => {
            for (q, v) in &s.quantiles {
                write_line(out, name, "", labels, Some(("quantile", *q)), *v, format);
            }
            write_line(out, name, "_sum", labels, None, s.sum, format);
            write_line(out, name, "_count", labels, None, s.count, format);
        }
    }
}

fn write_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &Labels,
    extra: Option<(&str, f64)>,
    value: f64,
    format: Format,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels.iter() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        if let Some((k, v)) = extra {
            if !first {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            write_float(out, v, format == Format::OpenMetrics);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_float(out, value, false);
    out.push('\n');
}

/// Writes a float as Prometheus expects: `+Inf`, `-Inf`, `NaN`, integers without a fraction
/// (with `.0` when `canonical`, as OpenMetrics wants for `le` and `quantile`), the shortest
/// round-trip form otherwise.
pub fn write_float(out: &mut String, v: f64, canonical: bool) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: |v| < 2^53, so the cast is lossless.
        let _ = write!(out, "{}", v as i64);
        if canonical {
            out.push_str(".0");
        }
    } else if v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-4) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_help(out: &mut String, help: &str, openmetrics: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if openmetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}
