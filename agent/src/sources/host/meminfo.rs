//! `/proc/meminfo` -> `node_memory_*`, named exactly as node_exporter names them: every line,
//! `Active(anon)` becomes `Active_anon`, and lines with a `kB` unit get `_bytes` and are scaled.

use crate::event::{Family, Labels, is_valid_metric_name};

/// Parses `/proc/meminfo` text into `(metric name, value)` pairs.
pub(crate) fn parse_meminfo(text: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let Some(key) = parts[0].strip_suffix(':') else {
            return Err(format!("line without a colon: {line:?}"));
        };
        let value: f64 = parts
            .get(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad value on line {line:?}"))?;
        // Active(anon) -> Active_anon
        let mut key = match key.split_once('(') {
            Some((a, b)) => format!("{a}_{}", b.trim_end_matches(')')),
            None => key.to_string(),
        };
        let value = match parts.len() {
            2 => value,
            3 => {
                key.push_str("_bytes");
                value * 1024.0
            }
            _ => return Err(format!("unexpected line {line:?}")),
        };
        let name = format!("node_memory_{key}");
        if is_valid_metric_name(&name) {
            out.push((name, value));
        }
    }
    if out.is_empty() {
        return Err("no fields".to_string());
    }
    Ok(out)
}

/// Families from parsed meminfo pairs.
pub(crate) fn meminfo_families(pairs: Vec<(String, f64)>) -> Vec<Family> {
    pairs
        .into_iter()
        .map(|(name, v)| {
            let field = name.trim_start_matches("node_memory_").to_string();
            Family::gauge(name, format!("Memory information field {field}.")).with(Labels::new(), v)
        })
        .collect()
}
