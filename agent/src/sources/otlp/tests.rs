use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use prost::Message as _;

use super::convert::convert;
use super::delta::DeltaState;
use super::exphist::ExpHist;
use super::names::{NameKind, label_name, metric_name};
use super::*;
use crate::event::{Family, Histogram, Labels, MetricKind, Value};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/otlp/opentelemetry-proto-examples-metrics.json"
);

fn fixture() -> ExportMetricsServiceRequest {
    let body = std::fs::read(FIXTURE).expect("fixture exists");
    decode(&body, Encoding::Json).expect("the upstream example decodes")
}

fn family<'a>(fams: &'a [Family], name: &str) -> &'a Family {
    fams.iter().find(|f| f.name == name).unwrap_or_else(|| {
        panic!(
            "no family {name} in {:?}",
            fams.iter().map(|f| &f.name).collect::<Vec<_>>()
        )
    })
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

#[test]
fn metric_names_follow_the_compatibility_rules() {
    let cases = [
        (
            "http.server.duration",
            "s",
            NameKind::Other,
            "http_server_duration_seconds",
        ),
        (
            "system.filesystem.usage",
            "By",
            NameKind::Gauge,
            "system_filesystem_usage_bytes",
        ),
        (
            "requests",
            "{requests}",
            NameKind::Counter,
            "requests_total",
        ),
        ("requests.total", "1", NameKind::Counter, "requests_total"),
        (
            "cpu.utilization",
            "1",
            NameKind::Gauge,
            "cpu_utilization_ratio",
        ),
        ("net.io", "By/s", NameKind::Gauge, "net_io_bytes_per_second"),
        (
            "(lambda).function.executions(#)",
            "",
            NameKind::Gauge,
            "lambda_function_executions",
        ),
        ("latency_seconds", "s", NameKind::Other, "latency_seconds"),
        (
            "queue.wait",
            "ms",
            NameKind::Other,
            "queue_wait_milliseconds",
        ),
        (
            "dropped",
            "packets",
            NameKind::Counter,
            "dropped_packets_total",
        ),
        (
            "total.bytes.sent",
            "By",
            NameKind::Counter,
            "bytes_sent_total",
        ),
        (
            "2xx.responses",
            "",
            NameKind::Counter,
            "_2xx_responses_total",
        ),
        ("temp", "Cel", NameKind::Gauge, "temp_celsius"),
        ("a::b", "", NameKind::Gauge, "a::b"),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(
            metric_name(name, unit, kind).as_deref(),
            Some(want),
            "{name} [{unit}]"
        );
    }
    assert_eq!(metric_name("...", "s", NameKind::Gauge), None);
}

#[test]
fn label_names_are_sanitised() {
    assert_eq!(label_name("http.method").as_deref(), Some("http_method"));
    assert_eq!(label_name("2xx").as_deref(), Some("key_2xx"));
    assert_eq!(label_name("_private").as_deref(), Some("key__private"));
    assert_eq!(label_name("__reserved").as_deref(), Some("key___reserved"));
    assert_eq!(label_name("ok_name").as_deref(), Some("ok_name"));
    assert_eq!(label_name(""), None);
}

#[test]
fn upstream_example_converts_to_the_expected_families() {
    let req = fixture();
    let mut delta = DeltaState::new(100);
    let out = convert(&req, &mut delta, 1000, Instant::now());
    assert_eq!(out.points, 4);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.batches.len(), 1);
    let b = &out.batches[0];
    assert_eq!(b.job, "my.service");
    assert_eq!(b.key, Labels::new().with("job", "my.service"));
    // service.name is the only resource attribute, so there is no target_info.
    assert!(b.families.iter().all(|f| f.name != "target_info"));
    let scope = |k: &str, v: &str| {
        Labels::new()
            .with("job", "my.service")
            .with("otel_scope_name", "my.library")
            .with("otel_scope_version", "1.0.0")
            .with(k, v)
    };

    let c = family(&b.families, "my_counter_total");
    assert_eq!(c.kind, MetricKind::Counter);
    assert_eq!(c.help, "I am a Counter");
    assert_eq!(c.metrics.len(), 1);
    assert_eq!(c.metrics[0].labels, scope("my_counter_attr", "some value"));
    assert_eq!(c.metrics[0].value, Value::Scalar(5.0));

    let g = family(&b.families, "my_gauge_ratio");
    assert_eq!(g.kind, MetricKind::Gauge);
    assert_eq!(g.metrics[0].value, Value::Scalar(10.0));

    let h = family(&b.families, "my_histogram");
    assert_eq!(h.kind, MetricKind::Histogram);
    assert_eq!(
        h.metrics[0].value,
        Value::Histogram(Histogram {
            buckets: vec![(1.0, 1.0)],
            sum: 2.0,
            count: 2.0
        })
    );

    // scale 0: base 2; zero bucket 1 observation; positive offset 1, counts [0, 2] -> bucket
    // index 2, i.e. (4, 8].
    let e = family(&b.families, "my_exponential_histogram");
    assert_eq!(e.kind, MetricKind::Histogram);
    assert_eq!(
        e.metrics[0].labels,
        scope("my_exponential_histogram_attr", "some value")
    );
    assert_eq!(
        e.metrics[0].value,
        Value::Histogram(Histogram {
            buckets: vec![(0.0, 1.0), (8.0, 3.0)],
            sum: 10.0,
            count: 3.0
        })
    );
}

#[test]
fn delta_temporality_accumulates_into_cumulative() {
    // Every metric of the upstream example is delta (aggregationTemporality 1).
    let req = fixture();
    let mut delta = DeltaState::new(100);
    let now = Instant::now();
    convert(&req, &mut delta, 1000, now);
    let out = convert(&req, &mut delta, 1000, now);
    let f = &out.batches[0].families;
    assert_eq!(
        family(f, "my_counter_total").metrics[0].value,
        Value::Scalar(10.0)
    );
    // Gauges have no temporality: the last value stands.
    assert_eq!(
        family(f, "my_gauge_ratio").metrics[0].value,
        Value::Scalar(10.0)
    );
    assert_eq!(
        family(f, "my_histogram").metrics[0].value,
        Value::Histogram(Histogram {
            buckets: vec![(1.0, 2.0)],
            sum: 4.0,
            count: 4.0
        })
    );
    assert_eq!(
        family(f, "my_exponential_histogram").metrics[0].value,
        Value::Histogram(Histogram {
            buckets: vec![(0.0, 2.0), (8.0, 6.0)],
            sum: 20.0,
            count: 6.0
        })
    );
    // The state is bounded: a full state rejects new delta series and says so.
    let mut tiny = DeltaState::new(1);
    let out = convert(&req, &mut tiny, 1000, now);
    assert_eq!(
        out.rejected
            .get(&crate::pipeline::DropReason::DeltaStateFull),
        Some(&2)
    );
    // And it forgets series that stopped arriving.
    delta.expire(Duration::from_secs(1), now + Duration::from_secs(5));
    assert!(delta.is_empty());
}

#[test]
fn resource_attributes_become_job_instance_and_target_info() {
    let mut req = fixture();
    let res = req.resource_metrics[0].resource.as_mut().expect("resource");
    res.attributes = vec![
        kv("service.name", "etl"),
        kv("service.namespace", "billing"),
        kv("service.instance.id", "pod-7"),
        kv("host.name", "node-1"),
        kv("deployment.environment", "prod"),
    ];
    let out = convert(&req, &mut DeltaState::new(100), 1000, Instant::now());
    let b = &out.batches[0];
    assert_eq!(b.job, "billing/etl");
    let ti = family(&b.families, "target_info");
    assert_eq!(ti.kind, MetricKind::Gauge);
    assert_eq!(
        ti.metrics[0].labels,
        Labels::new()
            .with("job", "billing/etl")
            .with("instance", "pod-7")
            .with("host_name", "node-1")
            .with("deployment_environment", "prod")
    );
    assert_eq!(ti.metrics[0].value, Value::Scalar(1.0));
    let c = family(&b.families, "my_counter_total");
    assert_eq!(c.metrics[0].labels.get("instance"), Some("pod-7"));
    assert_eq!(c.metrics[0].labels.get("host_name"), None);
}

#[test]
fn colliding_attribute_names_are_merged_in_key_order() {
    let mut req = fixture();
    let m = &mut req.resource_metrics[0].scope_metrics[0].metrics[1];
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g)) = &mut m.data else {
        panic!("the second example metric is a gauge");
    };
    g.data_points[0].attributes = vec![kv("a_b", "2"), kv("a.b", "1"), kv("job", "spoofed")];
    let out = convert(&req, &mut DeltaState::new(100), 1000, Instant::now());
    let gf = family(&out.batches[0].families, "my_gauge_ratio");
    assert_eq!(gf.metrics[0].labels.get("a_b"), Some("1;2"));
    assert_eq!(gf.metrics[0].labels.get("job"), Some("my.service"));
}

fn exp_point(
    scale: i32,
    offset: i32,
    counts: Vec<u64>,
    zero: u64,
) -> ExponentialHistogramDataPoint {
    let count = counts.iter().sum::<u64>() + zero;
    ExponentialHistogramDataPoint {
        scale,
        zero_count: zero,
        count,
        sum: Some(1.0),
        positive: Some(Buckets {
            offset,
            bucket_counts: counts,
        }),
        ..Default::default()
    }
}

#[test]
fn exponential_histograms_convert_exactly_and_merge_across_scales() {
    // scale 1: base sqrt(2). Buckets 0 and 1 hold (1, sqrt2] and (sqrt2, 2].
    let e = ExpHist::from_point(&exp_point(1, 0, vec![3, 4], 0)).expect("valid");
    let h = e.to_explicit();
    assert_eq!(h.buckets.len(), 3);
    assert_eq!(h.buckets[0], (0.0, 0.0));
    assert!((h.buckets[1].0 - 2f64.sqrt()).abs() < 1e-12);
    assert_eq!(h.buckets[1].1, 3.0);
    assert_eq!(h.buckets[2], (2.0, 7.0));
    assert_eq!(h.count, 7.0);

    // Merging a scale-0 delta downscales the state: (1, 2] is bucket 0 at scale 0.
    let mut acc = e.clone();
    acc.merge(&ExpHist::from_point(&exp_point(0, 1, vec![5], 2)).expect("valid"));
    assert_eq!(acc.scale, 0);
    let h = acc.to_explicit();
    assert_eq!(h.buckets, vec![(0.0, 2.0), (2.0, 9.0), (4.0, 14.0)]);
    assert_eq!(h.count, 14.0);

    // A wide histogram is downscaled to at most MAX_BUCKETS buckets, keeping every count.
    let wide = ExpHist::from_point(&exp_point(8, -5000, vec![1; 4000], 0)).expect("valid");
    let h = wide.to_explicit();
    assert!(
        h.buckets.len() <= exphist::MAX_BUCKETS + 1,
        "{}",
        h.buckets.len()
    );
    assert_eq!(h.buckets.last().map(|b| b.1), Some(4000.0));
    assert!(h.buckets.windows(2).all(|w| w[0].0 < w[1].0));

    // Out-of-model scales are refused.
    assert!(ExpHist::from_point(&exp_point(21, 0, vec![1], 0)).is_none());
}

#[test]
fn hostile_bodies_are_refused_with_an_error() {
    let good = fixture().encode_to_vec();
    let truncated = &good[..good.len() / 2];
    assert!(matches!(
        decode(truncated, Encoding::Protobuf),
        Err(OtlpError::Protobuf(_))
    ));
    assert!(matches!(
        decode(b"\xff\xff\xff\xff", Encoding::Protobuf),
        Err(OtlpError::Protobuf(_))
    ));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"resourceMetrics\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"k\",\"value\":{}}}]}}}}]}}",
        "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":".repeat(5000)
    );
    assert!(matches!(
        decode(deep.as_bytes(), Encoding::Json),
        Err(OtlpError::Json(_))
    ));
    assert!(matches!(
        decode(deep_obj.as_bytes(), Encoding::Json),
        Err(OtlpError::Json(_))
    ));
    assert!(matches!(
        Encoding::from_content_type(Some("text/plain")),
        Err(OtlpError::UnsupportedContentType(_))
    ));
    assert_eq!(
        Encoding::from_content_type(Some("application/json; charset=utf-8")).ok(),
        Some(Encoding::Json)
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_body_bound() {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("compress");
    }
    let bomb = enc.finish().expect("compress");
    assert!(bomb.len() < 256 * 1024);
    let r = crate::pipeline::decode_body(bomb.into(), Some("gzip"), 8 * 1024 * 1024);
    assert_eq!(
        r,
        Err(crate::pipeline::BodyError::TooLarge(8 * 1024 * 1024))
    );
    let r =
        crate::pipeline::decode_body(bytes::Bytes::from_static(b"not gzip"), Some("gzip"), 1024);
    assert!(matches!(r, Err(crate::pipeline::BodyError::BadGzip(_))));
}
