//! Extraction of level, metadata and timestamp from one line.

use super::{ParseConfig, ParseFormat, logfmt};
use crate::logs::Metadata;
use crate::logs::timestamp::parse_rfc3339_nanos;

/// What a line gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The normalised level, if the line had one.
    pub level: Option<&'static str>,
    /// Structured metadata, in config order.
    pub metadata: Metadata,
    /// The line's own timestamp, when configured and valid.
    pub ts_ns: Option<i64>,
}

/// Maps a level to a fixed set: trace, debug, info, warn, error, fatal, unknown.
pub fn normalize_level(v: &str) -> &'static str {
    let v = v.trim();
    let eq = |s: &str| v.eq_ignore_ascii_case(s);
    if eq("info") || eq("information") || eq("notice") || eq("i") {
        "info"
    } else if eq("warn") || eq("warning") || eq("w") {
        "warn"
    } else if eq("error") || eq("err") || eq("e") {
        "error"
    } else if eq("debug") || eq("dbug") || eq("d") {
        "debug"
    } else if eq("trace") || eq("t") {
        "trace"
    } else if eq("fatal")
        || eq("critical")
        || eq("crit")
        || eq("panic")
        || eq("alert")
        || eq("emerg")
    {
        "fatal"
    } else {
        "unknown"
    }
}

fn json_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses `line`; `Err(reason)` when it is not in the configured format (the caller counts it
/// and sends the line unchanged).
pub fn parse_line(c: &ParseConfig, line: &str) -> Result<Parsed, &'static str> {
    let mut out = Parsed::default();
    match c.format {
        ParseFormat::None => {}
        ParseFormat::Json => {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|_| "json")?;
            let serde_json::Value::Object(map) = v else {
                return Err("json");
            };
            // tracing-subscriber puts fields at the top (flattened) or under `fields`/`span`.
            let lookup = |k: &str| -> Option<String> {
                map.get(k).and_then(json_scalar).or_else(|| {
                    ["fields", "span"]
                        .iter()
                        .find_map(|o| map.get(*o).and_then(|n| n.get(k)).and_then(json_scalar))
                })
            };
            out.level = lookup(&c.level_field).map(|l| normalize_level(&l));
            for f in &c.metadata_fields {
                if let Some(v) = lookup(f).filter(|v| !v.is_empty()) {
                    out.metadata.push((f.as_str().into(), v.into()));
                }
            }
            if let Some(tf) = &c.timestamp_field {
                out.ts_ns = lookup(tf).and_then(|t| parse_rfc3339_nanos(&t));
            }
        }
        ParseFormat::Logfmt => {
            let mut level = None;
            let mut meta: Vec<Option<String>> = vec![None; c.metadata_fields.len()];
            let mut ts = None;
            let ok = logfmt::for_each_pair(line, |k, v| {
                if k == c.level_field {
                    level = Some(normalize_level(&v));
                } else if c.timestamp_field.as_deref() == Some(k) {
                    ts = parse_rfc3339_nanos(&v);
                }
                if let Some(i) = c.metadata_fields.iter().position(|f| f == k) {
                    meta[i] = Some(v.into_owned());
                }
            });
            if !ok {
                return Err("logfmt");
            }
            out.level = level;
            out.ts_ns = ts;
            for (f, v) in c.metadata_fields.iter().zip(meta) {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    out.metadata.push((f.as_str().into(), v.into()));
                }
            }
        }
    }
    Ok(out)
}
