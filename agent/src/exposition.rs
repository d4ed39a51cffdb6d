//! A bounded parser for the Prometheus text exposition format (0.0.4).
//!
//! The storage_node source reads the storage node's `/metrics` with it, and tests read our own and
//! node_exporter's output with it. It groups `_bucket`/`_sum`/`_count` lines into whole histograms
//! and summaries. Every input bound ([`ParseLimits`]) is checked, and bad input is an error, never a
//! panic.

use std::collections::HashMap;

use crate::event::{
    Family, Histogram, Labels, Metric, MetricKind, Summary, Value, is_valid_label_name,
    is_valid_metric_name,
};

/// Bounds on what one parse accepts.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// The most input bytes.
    pub max_bytes: usize,
    /// The most sample lines.
    pub max_samples: usize,
    /// The most labels on one sample.
    pub max_labels: usize,
    /// The longest label value, in bytes.
    pub max_label_value_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bytes: 16 * 1024 * 1024,
            max_samples: 200_000,
            max_labels: 32,
            max_label_value_bytes: 1024,
        }
    }
}

/// What went wrong parsing exposition text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// The input is larger than `max_bytes`.
    #[error("exposition text is {got} bytes, over the limit of {limit}")]
    TooLarge {
        /// Input size.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// More samples than `max_samples`.
    #[error("exposition text has more than {limit} samples")]
    TooManySamples {
        /// The limit.
        limit: usize,
    },
    /// A line that is not valid exposition text.
    #[error("parse exposition line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

fn line_err(line: usize, reason: impl Into<String>) -> ParseError {
    ParseError::Line {
        line,
        reason: reason.into(),
    }
}

/// Parses a float the way Prometheus writes them (`+Inf`, `-Inf`, `NaN` included).
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

#[derive(Debug)]
struct FamilyBuilder {
    family: Family,
    /// Labels (without `le`/`quantile`) -> index into `family.metrics`.
    index: HashMap<Labels, usize>,
}

/// Parses exposition text into families, in order of first appearance.
pub fn parse(text: &str, limits: &ParseLimits) -> Result<Vec<Family>, ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            got: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut order: Vec<String> = Vec::new();
    let mut families: HashMap<String, FamilyBuilder> = HashMap::new();
    let mut samples = 0usize;

    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            let (keyword, rest) = split_word(rest);
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let (name, rest) = split_word(rest);
            if !is_valid_metric_name(name) {
                return Err(line_err(lineno, format!("invalid metric name {name:?}")));
            }
            let fb = entry(&mut families, &mut order, name);
            if keyword == "HELP" {
                fb.family.help = unescape_help(rest);
            } else {
                fb.family.kind = match rest.trim() {
                    "counter" => MetricKind::Counter,
                    "gauge" => MetricKind::Gauge,
                    "histogram" => MetricKind::Histogram,
                    "summary" => MetricKind::Summary,
                    "untyped" | "unknown" => MetricKind::Untyped,
                    other => return Err(line_err(lineno, format!("unknown type {other:?}"))),
                };
            }
            continue;
        }

        samples += 1;
        if samples > limits.max_samples {
            return Err(ParseError::TooManySamples {
                limit: limits.max_samples,
            });
        }
        let (name, mut labels, value) =
            parse_sample(line, limits).map_err(|reason| line_err(lineno, reason))?;

        // Which family does the sample belong to?
        let (family_name, part) = classify(&families, &name);
        let fb = entry(&mut families, &mut order, &family_name);
        let res = match (fb.family.kind, part) {
            (MetricKind::Histogram, Part::Bucket) => {
                let le = labels
                    .remove("le")
                    .and_then(|s| parse_float(&s))
                    .ok_or_else(|| line_err(lineno, "histogram bucket without a valid le"))?;
                with_histogram(fb, labels, |h| h.buckets.push((le, value)))
            }
            (MetricKind::Histogram, Part::Sum) => with_histogram(fb, labels, |h| h.sum = value),
            (MetricKind::Histogram, Part::Count) => with_histogram(fb, labels, |h| h.count = value),
            (MetricKind::Summary, Part::Whole) => {
                let q = labels
                    .remove("quantile")
                    .and_then(|s| parse_float(&s))
                    .ok_or_else(|| line_err(lineno, "summary sample without a valid quantile"))?;
                with_summary(fb, labels, |s| s.quantiles.push((q, value)))
            }
            (MetricKind::Summary, Part::Sum) => with_summary(fb, labels, |s| s.sum = value),
            (MetricKind::Summary, Part::Count) => with_summary(fb, labels, |s| s.count = value),
            _ => {
                fb.family.metrics.push(Metric {
                    labels,
                    value: Value::Scalar(value),
                });
                Ok(())
            }
        };
        res.map_err(|reason| line_err(lineno, reason))?;
    }

    let mut out = Vec::with_capacity(order.len());
    for name in order {
        if let Some(mut fb) = families.remove(&name) {
            for m in &mut fb.family.metrics {
                if let Value::Histogram(h) = &mut m.value {
                    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
            }
            out.push(fb.family);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Whole,
    Bucket,
    Sum,
    Count,
}

fn classify(families: &HashMap<String, FamilyBuilder>, name: &str) -> (String, Part) {
    for (suffix, part) in [
        ("_bucket", Part::Bucket),
        ("_sum", Part::Sum),
        ("_count", Part::Count),
    ] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(fb) = families.get(base)
            && matches!(fb.family.kind, MetricKind::Histogram | MetricKind::Summary)
        {
            return (base.to_string(), part);
        }
    }
    (name.to_string(), Part::Whole)
}

fn entry<'a>(
    families: &'a mut HashMap<String, FamilyBuilder>,
    order: &mut Vec<String>,
    name: &str,
) -> &'a mut FamilyBuilder {
    if !families.contains_key(name) {
        order.push(name.to_string());
    }
    families
        .entry(name.to_string())
        .or_insert_with(|| FamilyBuilder {
            family: Family::new(name, "", MetricKind::Untyped),
            index: HashMap::new(),
        })
}

fn slot(fb: &mut FamilyBuilder, labels: Labels, empty: Value) -> &mut Value {
    let idx = match fb.index.get(&labels) {
        Some(&i) => i,
        None => {
            fb.family.metrics.push(Metric {
                labels: labels.clone(),
                value: empty,
            });
            let i = fb.family.metrics.len() - 1;
            fb.index.insert(labels, i);
            i
        }
    };
    &mut fb.family.metrics[idx].value
}

fn empty_histogram() -> Value {
    Value::Histogram(Histogram {
        buckets: Vec::new(),
        sum: 0.0,
        count: 0.0,
    })
}

fn empty_summary() -> Value {
    Value::Summary(Summary {
        quantiles: Vec::new(),
        sum: 0.0,
        count: 0.0,
    })
}

fn with_histogram(
    fb: &mut FamilyBuilder,
    labels: Labels,
    f: impl FnOnce(&mut Histogram),
) -> Result<(), String> {
    match slot(fb, labels, empty_histogram()) {
        Value::Histogram(h) => {
            f(h);
            Ok(())
        }
        _ => Err("histogram sample mixed with other sample types".to_string()),
    }
}

fn with_summary(
    fb: &mut FamilyBuilder,
    labels: Labels,
    f: impl FnOnce(&mut Summary),
) -> Result<(), String> {
    match slot(fb, labels, empty_summary()) {
        Value::Summary(s) => {
            f(s);
            Ok(())
        }
        _ => Err("summary sample mixed with other sample types".to_string()),
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_sample(line: &str, limits: &ParseLimits) -> Result<(String, Labels, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("sample without a value")?;
    let name = &line[..name_end];
    if !is_valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after, limits)?;
        labels = parsed;
        rest = remaining;
    }
    let mut words = rest.split_whitespace();
    let value_str = words.next().ok_or("sample without a value")?;
    let value = parse_float(value_str).ok_or_else(|| format!("invalid value {value_str:?}"))?;
    if let Some(ts) = words.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("invalid timestamp {ts:?}"));
    }
    if words.next().is_some() {
        return Err("trailing text after the timestamp".to_string());
    }
    Ok((name.to_string(), labels, value))
}

/// Parses `a="x",b="y"}` and returns the labels and what follows the closing brace.
fn parse_labels<'a>(s: &'a str, limits: &ParseLimits) -> Result<(Labels, &'a str), String> {
    let mut labels = Labels::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let lname = rest[..eq].trim();
        if !is_valid_label_name(lname) && lname != "__name__" {
            return Err(format!("invalid label name {lname:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or("label value without a quote")?;
        let mut value = String::new();
        let mut consumed = None;
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err("unterminated label value".to_string()),
                },
                '"' => {
                    consumed = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
            if value.len() > limits.max_label_value_bytes {
                return Err(format!("label {lname:?} value is over the length limit"));
            }
        }
        let end = consumed.ok_or("unterminated label value")?;
        if labels.get(lname).is_some() {
            return Err(format!("duplicate label {lname:?}"));
        }
        labels.insert(lname, value);
        if labels.len() > limits.max_labels {
            return Err(format!("more than {} labels", limits.max_labels));
        }
        rest = rest[end..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".to_string());
        }
    }
}

#[cfg(test)]
mod tests;
