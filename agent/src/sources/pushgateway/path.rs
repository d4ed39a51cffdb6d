//! The grouping key in a push path: `/metrics/job/<job>{/<label>/<value>}`.
//!
//! Segments are percent-decoded. A label name ending in `@base64` carries its value in URL-safe
//! base64 (padding optional), which is how values containing `/` (or empty values, written `=`)
//! are pushed, as the Pushgateway defines it.

use base64::Engine as _;

use crate::event::{Labels, is_valid_label_name};

use super::error::PushError;

fn percent_decode(s: &str) -> Result<String, PushError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PushError::Path("bad percent-encoding".to_string()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PushError::Path("segment is not UTF-8".to_string()))
}

fn decode_base64(v: &str) -> Result<String, PushError> {
    let trimmed = v.trim_end_matches('=');
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|e| PushError::Path(format!("bad base64 label value: {e}")))?;
    String::from_utf8(raw)
        .map_err(|_| PushError::Path("base64 label value is not UTF-8".to_string()))
}

/// Parses the grouping key; `job` must be present first and not empty.
pub fn parse_grouping(
    path: &str,
    max_labels: usize,
    max_value_bytes: usize,
) -> Result<Labels, PushError> {
    let rest = path
        .strip_prefix("/metrics/")
        .ok_or_else(|| PushError::Path("path must start with /metrics/job/".to_string()))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    if !segments.len().is_multiple_of(2) {
        return Err(PushError::Path("a label name without a value".to_string()));
    }
    if segments.len() / 2 > max_labels {
        return Err(PushError::Path(format!(
            "more than {max_labels} grouping labels"
        )));
    }
    let mut labels = Labels::new();
    for (i, pair) in segments.chunks(2).enumerate() {
        let raw_name = percent_decode(pair[0])?;
        let (name, b64) = match raw_name.strip_suffix("@base64") {
            Some(n) => (n.to_string(), true),
            None => (raw_name, false),
        };
        if i == 0 && name != "job" {
            return Err(PushError::Path("the first label must be job".to_string()));
        }
        if !is_valid_label_name(&name) {
            return Err(PushError::Path(format!("invalid label name {name:?}")));
        }
        let value = if b64 {
            decode_base64(pair[1])?
        } else {
            percent_decode(pair[1])?
        };
        if value.len() > max_value_bytes {
            return Err(PushError::Path(format!("label {name} value is too long")));
        }
        if name == "job" && value.is_empty() {
            return Err(PushError::Path("job must not be empty".to_string()));
        }
        if labels.get(&name).is_some() {
            return Err(PushError::Path(format!("duplicate label {name}")));
        }
        labels.insert(name, value);
    }
    if labels.get("job").is_none() {
        return Err(PushError::Path("missing job".to_string()));
    }
    Ok(labels)
}
