//! The data that flows from sources to the store and on to the sinks: metric families.
//!
//! A [`Family`] is one metric name with its help text, its type and its series. A series is a
//! [`Metric`]: a sorted label set and a [`Value`]. Histograms and summaries are kept whole (one
//! `Metric` holds all buckets), so that the cardinality guard never cuts a histogram in half.

use std::fmt;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A monotonic counter. Its name ends in `_total` by convention.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets, a sum and a count.
    Histogram,
    /// Quantiles, a sum and a count.
    Summary,
    /// No type given (`untyped` in the text format, `unknown` in OpenMetrics).
    Untyped,
}

impl MetricKind {
    /// The word the Prometheus text format uses.
    pub fn as_text(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
            MetricKind::Untyped => "untyped",
        }
    }
}

/// A sorted set of label pairs. Names are unique; order is by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// An empty label set.
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs. A later pair with the same name replaces an earlier one.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut labels = Labels::new();
        for (k, v) in pairs {
            labels.insert(k, v);
        }
        labels
    }

    /// Sets one label, keeping the set sorted.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Returns a copy with one more label.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// The value of a label, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Removes a label and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => Some(self.0.remove(i).1),
            Err(_) => None,
        }
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many labels there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// A histogram's cumulative buckets (upper bound, cumulative count), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, ascending by `le`; the `+Inf` bucket may be left out.
    pub buckets: Vec<(f64, f64)>,
    /// The sum of all observations.
    pub sum: f64,
    /// The number of observations.
    pub count: f64,
}

/// A summary's quantiles, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `(quantile, value)`.
    pub quantiles: Vec<(f64, f64)>,
    /// The sum of all observations.
    pub sum: f64,
    /// The number of observations.
    pub count: f64,
}

/// The value of one series.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter, gauge or untyped value.
    Scalar(f64),
    /// A histogram.
    Histogram(Histogram),
    /// A summary.
    Summary(Summary),
}

impl Value {
    /// How many exposition lines (Prometheus series) this value renders to.
    pub fn series_count(&self) -> usize {
        match self {
            Value::Scalar(_) => 1,
            Value::Histogram(h) => {
                let has_inf = h.buckets.last().is_some_and(|(le, _)| le.is_infinite());
                h.buckets.len() + usize::from(!has_inf) + 2
            }
            Value::Summary(s) => s.quantiles.len() + 2,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<f64> {
        match self {
            Value::Scalar(v) => Some(*v),
            _ => None,
        }
    }
}

/// One series: labels and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The series' labels.
    pub labels: Labels,
    /// The series' value.
    pub value: Value,
}

/// A metric family: name, help, type and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The metric name, e.g. `node_cpu_seconds_total`.
    pub name: String,
    /// One line of help text.
    pub help: String,
    /// The type.
    pub kind: MetricKind,
    /// The series.
    pub metrics: Vec<Metric>,
}

impl Family {
    /// An empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricKind) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            metrics: Vec::new(),
        }
    }

    /// An empty gauge family.
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Family::new(name, help, MetricKind::Gauge)
    }

    /// An empty counter family.
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Family::new(name, help, MetricKind::Counter)
    }

    /// Adds a scalar series.
    pub fn push(&mut self, labels: Labels, value: f64) {
        self.metrics.push(Metric {
            labels,
            value: Value::Scalar(value),
        });
    }

    /// Adds a scalar series and returns the family (for one-liners).
    pub fn with(mut self, labels: Labels, value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// How many exposition lines the family renders to.
    pub fn series_count(&self) -> usize {
        self.metrics.iter().map(|m| m.value.series_count()).sum()
    }
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `raw` with every character a label name may not hold (outside `[A-Za-z0-9_]`) replaced by
/// `_`. What a name may start with is the caller's rule (each source prefixes differently).
pub fn label_name_chars(raw: &str) -> String {
    sanitized(raw, |c| c.is_ascii_alphanumeric() || c == '_')
}

/// `raw` with every character a metric name may not hold (outside `[A-Za-z0-9_:]`) replaced by
/// `_`.
pub fn metric_name_chars(raw: &str) -> String {
    sanitized(raw, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn sanitized(raw: &str, allowed: impl Fn(char) -> bool) -> String {
    raw.chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect()
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    !name.starts_with("__") && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
