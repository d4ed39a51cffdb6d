//! OpenTelemetry to Prometheus names, following the OpenTelemetry "Prometheus and OpenMetrics
//! Compatibility" specification and the Collector's translator (`pkg/translator/prometheus`):
//!
//! - a metric name is split on every character outside `[a-zA-Z0-9:]` and the parts are joined
//!   with `_`, so invalid characters become `_`, runs of `_` collapse and leading/trailing `_`
//!   go; a leading digit gets a `_` prefix;
//! - the unit, with `{annotations}` removed, becomes a suffix: UCUM units map to Prometheus base
//!   words (`s` -> `seconds`, `By` -> `bytes`, `ms` -> `milliseconds`, ...), `a/b` becomes
//!   `a_per_b`, other units are sanitised and appended as they are; the suffix is not repeated
//!   when the name already holds it;
//! - `1` becomes `_ratio` for gauges and nothing otherwise;
//! - monotonic sums (counters) end in `_total` (a `total` part elsewhere is moved to the end);
//! - a label name has its invalid characters replaced by `_`; a name that does not start with a
//!   letter gets a `key_` prefix (so `__x` becomes `key___x`: names starting with `__` are
//!   reserved by Prometheus).

/// The kind of OTLP metric, as far as naming cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A monotonic sum.
    Counter,
    /// A gauge or a non-monotonic sum.
    Gauge,
    /// A histogram, exponential histogram or summary.
    Other,
}

fn main_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn split_tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn unit_tokens(word: &str) -> Vec<String> {
    word.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Prometheus metric name of an OTLP metric (without `_bucket`/`_sum`/`_count`), or `None`
/// when nothing valid is left of it.
pub fn metric_name(name: &str, unit: &str, kind: NameKind) -> Option<String> {
    let mut tokens = split_tokens(name);
    if tokens.is_empty() {
        return None;
    }
    let unit = strip_annotations(unit);
    if unit == "1" {
        if kind == NameKind::Gauge && !tokens.iter().any(|t| t == "ratio") {
            tokens.push("ratio".to_string());
        }
    } else if !unit.is_empty() {
        let (main, per) = match unit.split_once('/') {
            Some((m, p)) => (m.trim(), Some(p.trim())),
            None => (unit.as_str(), None),
        };
        if !main.is_empty() {
            let word = main_unit_word(main).map_or_else(|| main.to_string(), str::to_string);
            for t in unit_tokens(&word) {
                if !tokens.contains(&t) {
                    tokens.push(t);
                }
            }
        }
        if let Some(per) = per.filter(|p| !p.is_empty()) {
            let word = per_unit_word(per).map_or_else(|| per.to_string(), str::to_string);
            let per_tokens = unit_tokens(&word);
            if !per_tokens.is_empty() && !tokens.iter().any(|t| t == "per") {
                tokens.push("per".to_string());
                tokens.extend(per_tokens);
            }
        }
    }
    if kind == NameKind::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".to_string());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    Some(out)
}

/// The Prometheus label name of an attribute key, or `None` when the key is empty.
pub fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let mut out = crate::event::label_name_chars(key);
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "key_");
    }
    Some(out)
}
