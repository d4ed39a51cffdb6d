//! The SLO spec file shared with `rules/` (`rules/slo/slos.yaml`, schema in its header; owned by
//! `scripts/gen-slo-rules.py`). Unknown keys are errors, as in every config of ours.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ReportError;

/// The whole file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// The schema version; 1.
    pub version: u32,
    /// The SLOs.
    pub slos: Vec<Slo>,
}

/// One SLO.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Lower-case words joined by '-'; the `slo` label.
    pub name: String,
    /// One sentence for people.
    pub description: String,
    /// The burn-rate alert's name (its firing ranges are the incidents).
    pub alert: String,
    /// The target share of good events or good time, in (0, 1).
    pub objective: f64,
    /// The compliance window, a Prometheus duration (`30d`).
    pub window: String,
    /// How good events are counted.
    pub sli: Sli,
}

/// The SLI kinds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Sli {
    /// Events: `total` and one of `good` or `bad`, counter selectors.
    Ratio {
        /// Every event.
        total: String,
        /// Good events.
        #[serde(default)]
        good: Option<String>,
        /// Bad events.
        #[serde(default)]
        bad: Option<String>,
    },
    /// Events under a latency threshold, from a histogram.
    Latency {
        /// The histogram's base name.
        histogram: String,
        /// Label matchers without braces.
        #[serde(default)]
        matchers: Option<String>,
        /// One of the histogram's `le` bounds, as Prometheus writes it.
        threshold_seconds: String,
    },
    /// Time: the share of time a gauge stays below a threshold.
    Threshold {
        /// The gauge selector.
        metric: String,
        /// The threshold (exclusive).
        below: f64,
    },
}

impl Sli {
    /// `ratio`, `latency` or `threshold`.
    pub fn kind(&self) -> &'static str {
        match self {
            Sli::Ratio { .. } => "ratio",
            Sli::Latency { .. } => "latency",
            Sli::Threshold { .. } => "threshold",
        }
    }
}

fn bad(path: &str, reason: String) -> ReportError {
    ReportError::Spec {
        path: path.to_string(),
        reason,
    }
}

/// Parses and checks a spec file's text; `path` names it in errors.
pub fn parse_spec(text: &str, path: &str) -> Result<SloFile, ReportError> {
    let file: SloFile = serde_norway::from_str(text).map_err(|e| bad(path, e.to_string()))?;
    if file.version != 1 {
        return Err(bad(
            path,
            format!("version {} (this agent reads 1)", file.version),
        ));
    }
    if file.slos.is_empty() {
        return Err(bad(path, "no slos".to_string()));
    }
    let mut names = HashSet::new();
    for s in &file.slos {
        let ok_name = !s.name.is_empty()
            && s.name.split('-').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !ok_name {
            return Err(bad(
                path,
                format!("slo name {:?}: lower-case words joined by '-'", s.name),
            ));
        }
        if !names.insert(s.name.clone()) {
            return Err(bad(path, format!("slo {:?} twice", s.name)));
        }
        if !is_metric_name(&s.alert) {
            return Err(bad(
                path,
                format!(
                    "slo {}: alert {:?} is not a valid alert name",
                    s.name, s.alert
                ),
            ));
        }
        if !(s.objective > 0.0 && s.objective < 1.0) {
            return Err(bad(
                path,
                format!("slo {}: objective {} not in (0, 1)", s.name, s.objective),
            ));
        }
        match &s.sli {
            Sli::Ratio { good, bad: b, .. } if good.is_some() == b.is_some() => {
                return Err(bad(
                    path,
                    format!("slo {}: give exactly one of good or bad", s.name),
                ));
            }
            Sli::Latency {
                threshold_seconds, ..
            } if threshold_seconds.parse::<f64>().is_err() => {
                return Err(bad(
                    path,
                    format!(
                        "slo {}: threshold_seconds {threshold_seconds:?} is not a number",
                        s.name
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(file)
}

/// Reads and parses a spec file.
pub fn load_spec(path: &Path) -> Result<SloFile, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::ReadSpec {
        path: path.display().to_string(),
        source,
    })?;
    parse_spec(&text, &path.display().to_string())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: metric, alert and (without ':') label names.
pub(crate) fn is_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}
