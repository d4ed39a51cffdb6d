//! `GET /api/v1/alerts`: the active alerts in the Prometheus API shape.

use super::links::rfc3339;
use crate::alerts::AlertBook;

/// `{"status":"success","data":{"alerts":[{labels, annotations, state, activeAt, value}]}}`.
pub fn api_alerts_json(book: &AlertBook) -> Vec<u8> {
    let alerts: Vec<serde_json::Value> = book
        .active()
        .iter()
        .map(|a| {
            serde_json::json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "state": "firing",
                "activeAt": rfc3339(a.starts_at),
                "value": format!("{:e}", a.value),
            })
        })
        .collect();
    let body = serde_json::json!({"status": "success", "data": {"alerts": alerts}});
    serde_json::to_vec(&body).unwrap_or_default()
}
