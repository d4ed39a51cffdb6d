use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::alerts::{Alert, AlertBook};

#[test]
fn rfc3339_and_urlencode() {
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_millis(1_431_691_200_250)),
        "2015-05-15T12:00:00.250Z"
    );
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(urlencode(r#"{"a":"b c"}"#), "%7B%22a%22%3A%22b%20c%22%7D");
}

#[test]
fn explore_link_carries_the_logql_query_and_range() {
    let links = Links::new(&AlertmanagerConfig {
        grafana_url: "http://g:3000/".into(),
        ..Default::default()
    });
    let at = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let url = links.explore("node-1", "storage-node", at);
    assert!(
        url.starts_with("http://g:3000/explore?schemaVersion=1&orgId=1&panes=%7B"),
        "{url}"
    );
    assert!(
        url.contains(&urlencode(
            r#"{node=\"node-1\", component=\"storage-node\"}"#
        )),
        "{url}"
    );
    assert!(url.contains(&urlencode(r#""from":"999100000""#)), "{url}");
    assert_eq!(
        links.runbook("GpuAnomaly"),
        "https://github.com/nodewatch/nodewatch/blob/main/docs/runbooks/GpuAnomaly.md"
    );
}

#[test]
fn encode_sets_ends_at_ahead_for_active_and_now_for_resolved() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), "GpuAnomaly".to_string());
    let active = Alert {
        labels: labels.clone(),
        annotations: BTreeMap::new(),
        starts_at: now,
        ends_at: None,
        value: 1.0,
    };
    let resolved = Alert {
        ends_at: Some(now),
        ..active.clone()
    };
    let body: serde_json::Value = serde_json::from_slice(&encode(
        &[active],
        &[resolved],
        now,
        Duration::from_secs(60),
    ))
    .expect("json");
    assert_eq!(body[0]["endsAt"], rfc3339(now + Duration::from_secs(240)));
    assert_eq!(body[1]["endsAt"], rfc3339(now));
    assert_eq!(body[0]["labels"]["alertname"], "GpuAnomaly");
}

#[test]
fn api_shape_lists_active_alerts() {
    let book = AlertBook::new();
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), "HostDiskAnomaly".to_string());
    book.fire(Alert {
        labels: labels.clone(),
        annotations: BTreeMap::new(),
        starts_at: UNIX_EPOCH,
        ends_at: None,
        value: 2.5,
    });
    let v: serde_json::Value = serde_json::from_slice(&api_alerts_json(&book)).expect("json");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["alerts"][0]["state"], "firing");
    assert_eq!(v["data"]["alerts"][0]["value"], "2.5e0");
    book.resolve(&labels, UNIX_EPOCH);
    let v: serde_json::Value = serde_json::from_slice(&api_alerts_json(&book)).expect("json");
    assert_eq!(v["data"]["alerts"].as_array().map(Vec::len), Some(0));
    assert_eq!(book.take_resolved().len(), 1);
}
