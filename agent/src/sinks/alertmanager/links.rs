//! Annotation links: the runbook page and a Grafana Explore link that opens the node's logs for
//! the alert's component around the alert time; and RFC 3339 time stamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::AlertmanagerConfig;

/// Formats a time as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::civil::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The link builder.
#[derive(Debug, Clone)]
pub struct Links {
    runbook_base: String,
    grafana: String,
    datasource: String,
    selector: String,
}

impl Links {
    /// From the sink's config.
    pub fn new(c: &AlertmanagerConfig) -> Self {
        Links {
            runbook_base: c.runbook_base_url.trim_end_matches('/').to_string(),
            grafana: c.grafana_url.trim_end_matches('/').to_string(),
            datasource: c.grafana_datasource.clone(),
            selector: c.logql_selector.clone(),
        }
    }

    /// `<base>/<AlertName>.md`.
    pub fn runbook(&self, alertname: &str) -> String {
        format!("{}/{alertname}.md", self.runbook_base)
    }

    /// The LogQL query for a node and component.
    pub fn logql(&self, node: &str, component: &str) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        self.selector
            .replace("$node", &esc(node))
            .replace("$component", &esc(component))
    }

    /// A Grafana Explore link (the `panes` form of Grafana 10+) for the logs from 15 minutes
    /// before to 15 minutes after `at`.
    pub fn explore(&self, node: &str, component: &str, at: SystemTime) -> String {
        self.explore_expr(&self.logql(node, component), at)
    }

    /// A Grafana Explore link for any LogQL expression, 15 minutes either side of `at`.
    pub fn explore_expr(&self, expr: &str, at: SystemTime) -> String {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as u64;
        let (from, to) = (ms.saturating_sub(15 * 60_000), ms + 15 * 60_000);
        let panes = serde_json::json!({
            "a": {
                "datasource": self.datasource,
                "queries": [{
                    "refId": "A",
                    "expr": expr,
                    "queryType": "range",
                    "datasource": {"type": "loki", "uid": self.datasource},
                }],
                "range": {"from": from.to_string(), "to": to.to_string()},
            }
        });
        format!(
            "{}/explore?schemaVersion=1&orgId=1&panes={}",
            self.grafana,
            urlencode(&panes.to_string())
        )
    }
}
