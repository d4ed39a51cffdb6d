use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use super::path::parse_grouping;
use super::*;
use crate::event::{Labels, Value};
use crate::pipeline::{DropReason, Origin, PipelineMetrics, PipelineStore, StoreLimits};
use crate::store::Provider as _;

fn store() -> Arc<PipelineStore> {
    Arc::new(PipelineStore::new(
        StoreLimits {
            max_series: 1000,
            max_groups: 10,
            max_labels: 16,
            max_label_value_bytes: 256,
            max_jobs: 10,
        },
        Arc::new(PipelineMetrics::new()),
    ))
}

fn receiver(store: &Arc<PipelineStore>) -> PushgatewayReceiver {
    PushgatewayReceiver::new(
        PushgatewayConfig {
            max_series_per_push: 100,
            ..PushgatewayConfig::default()
        },
        Arc::clone(store),
        16,
        256,
        1024 * 1024,
    )
}

/// Every scalar series in the store as (name, labels, value), sorted.
fn series(store: &PipelineStore) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for batch in store.snapshot() {
        for f in batch.iter() {
            if f.name.starts_with("nodewatch_") {
                continue;
            }
            for m in &f.metrics {
                if let Value::Scalar(v) = m.value {
                    out.push((f.name.clone(), m.labels.clone(), v));
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn value(store: &PipelineStore, name: &str, labels: &Labels) -> Option<f64> {
    series(store)
        .into_iter()
        .find(|(n, l, _)| n == name && l == labels)
        .map(|(_, _, v)| v)
}

fn push(r: &PushgatewayReceiver, m: Method, path: &str, body: &str) -> u16 {
    r.handle(
        &m,
        path,
        Some("text/plain"),
        Ok(Bytes::from(body.to_string())),
    )
    .status
}

#[test]
fn grouping_keys_parse_with_base64_and_percent_encoding() {
    let l = parse_grouping("/metrics/job/etl/instance/a%20b", 8, 64).expect("valid");
    assert_eq!(l, Labels::new().with("job", "etl").with("instance", "a b"));
    // "L3Zhci90bXA" is URL-safe base64 of "/var/tmp"; "=" is the empty value.
    let l = parse_grouping(
        "/metrics/job@base64/ZXRs/path@base64/L3Zhci90bXA/empty@base64/=",
        8,
        64,
    )
    .expect("valid");
    assert_eq!(
        l,
        Labels::new()
            .with("job", "etl")
            .with("path", "/var/tmp")
            .with("empty", "")
    );
    for bad in [
        "/metrics/job",
        "/metrics/job/",
        "/metrics/instance/x/job/y",
        "/metrics/job/a/__x/1",
        "/metrics/job/a/b",
        "/metrics/job/a/x/1/x/2",
        "/metrics/job@base64/%%%",
        "/metrics/job/a/x@base64/!!!",
    ] {
        assert!(parse_grouping(bad, 8, 64).is_err(), "{bad}");
    }
    assert!(parse_grouping("/metrics/job/a/b/1/c/2", 2, 64).is_err());
    assert!(parse_grouping(&format!("/metrics/job/{}", "x".repeat(65)), 8, 64).is_err());
}

#[test]
fn put_replaces_post_merges_delete_removes() {
    let s = store();
    let r = receiver(&s);
    let g = Labels::new().with("job", "etl").with("instance", "i1");
    let path = "/metrics/job/etl/instance/i1";
    assert_eq!(
        push(
            &r,
            Method::PUT,
            path,
            "# TYPE a counter\na 1\n# TYPE b gauge\nb 2\n"
        ),
        200
    );
    assert_eq!(value(&s, "a", &g), Some(1.0));
    assert_eq!(value(&s, "b", &g), Some(2.0));
    assert!(value(&s, "push_time_seconds", &g).is_some_and(|t| t > 1.6e9));
    assert_eq!(value(&s, "push_failure_time_seconds", &g), Some(0.0));

    // POST replaces only the families it names.
    assert_eq!(push(&r, Method::POST, path, "# TYPE a counter\na 5\n"), 200);
    assert_eq!(value(&s, "a", &g), Some(5.0));
    assert_eq!(value(&s, "b", &g), Some(2.0));

    // PUT replaces the whole group.
    assert_eq!(push(&r, Method::PUT, path, "c 3\n"), 200);
    assert_eq!(value(&s, "a", &g), None);
    assert_eq!(value(&s, "b", &g), None);
    assert_eq!(value(&s, "c", &g), Some(3.0));

    // Another group of the same job is separate.
    assert_eq!(
        push(&r, Method::PUT, "/metrics/job/etl/instance/i2", "c 4\n"),
        200
    );
    assert_eq!(
        value(
            &s,
            "c",
            &Labels::new().with("job", "etl").with("instance", "i2")
        ),
        Some(4.0)
    );
    assert_eq!(value(&s, "c", &g), Some(3.0));

    // A failed push keeps the data and sets push_failure_time_seconds.
    assert_eq!(push(&r, Method::PUT, path, "c{ 3\n"), 400);
    assert_eq!(value(&s, "c", &g), Some(3.0));
    assert!(value(&s, "push_failure_time_seconds", &g).is_some_and(|t| t > 1.6e9));

    assert_eq!(push(&r, Method::DELETE, path, ""), 202);
    assert_eq!(value(&s, "c", &g), None);
    assert_eq!(value(&s, "push_time_seconds", &g), None);
    assert_eq!(push(&r, Method::GET, path, ""), 405);
    // Freshness outlives the deleted group.
    assert!(
        value(
            &s,
            "nodewatch_pipeline_last_push_timestamp_seconds",
            &Labels::new().with("job", "etl")
        )
        .is_none()
    );
    let fresh = s
        .snapshot()
        .into_iter()
        .flat_map(|b| b.iter().cloned().collect::<Vec<_>>())
        .find(|f| f.name == "nodewatch_pipeline_last_push_timestamp_seconds")
        .expect("freshness family");
    assert_eq!(fresh.metrics.len(), 1);
    assert_eq!(fresh.metrics[0].labels, Labels::new().with("job", "etl"));
}

#[test]
fn pushed_labels_get_the_grouping_key_and_may_not_contradict_it() {
    let s = store();
    let r = receiver(&s);
    assert_eq!(
        push(
            &r,
            Method::PUT,
            "/metrics/job/etl",
            "x{stage=\"load\"} 1\nx{stage=\"load\",job=\"etl\"} 1\n"
        ),
        400,
        "duplicate series after grouping"
    );
    assert_eq!(
        push(&r, Method::PUT, "/metrics/job/etl", "x{stage=\"load\"} 1\n"),
        200
    );
    assert_eq!(
        value(
            &s,
            "x",
            &Labels::new().with("job", "etl").with("stage", "load")
        ),
        Some(1.0)
    );
    assert_eq!(
        push(&r, Method::PUT, "/metrics/job/etl", "x{job=\"other\"} 1\n"),
        400
    );
    assert_eq!(
        s.metrics()
            .dropped(Origin::Pushgateway, DropReason::InvalidPoint),
        2
    );
    let status = r
        .handle(&Method::PUT, "/metrics/job/etl", Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"), Ok(Bytes::new()))
        .status;
    assert_eq!(status, 415);
}

#[test]
fn a_label_bomb_is_refused_and_counted() {
    let s = store();
    let r = receiver(&s);
    // 100k distinct values: over the per-push bound (100 here).
    let mut body = String::from("# TYPE bomb gauge\n");
    for i in 0..100_000 {
        body.push_str(&format!("bomb{{id=\"{i}\"}} 1\n"));
    }
    assert_eq!(push(&r, Method::PUT, "/metrics/job/bomb", &body), 400);
    assert_eq!(
        s.metrics()
            .dropped(Origin::Pushgateway, DropReason::PushLimit),
        1
    );
    // Too many labels on one series.
    let labels: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
    let body = format!("wide{{{}}} 1\n", labels.join(","));
    assert_eq!(push(&r, Method::PUT, "/metrics/job/bomb", &body), 400);
    assert_eq!(
        s.metrics()
            .dropped(Origin::Pushgateway, DropReason::TooManyLabels),
        1
    );
    // A huge label value.
    let body = format!("long{{v=\"{}\"}} 1\n", "x".repeat(10_000));
    assert_eq!(push(&r, Method::PUT, "/metrics/job/bomb", &body), 400);
    assert_eq!(
        s.metrics()
            .dropped(Origin::Pushgateway, DropReason::LabelValueTooLong),
        1
    );
    // Many groups, each within its bound, run into the store's group bound.
    let mut codes = Vec::new();
    for i in 0..20 {
        codes.push(push(
            &r,
            Method::PUT,
            &format!("/metrics/job/g{i}"),
            "x 1\n",
        ));
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 10);
    assert_eq!(codes.iter().filter(|c| **c == 503).count(), 10);
    assert_eq!(
        s.metrics()
            .dropped(Origin::Pushgateway, DropReason::GroupLimit),
        10
    );
    assert_eq!(s.groups(), 10);
}
