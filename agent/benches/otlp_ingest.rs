//! OTLP ingest throughput, in data points per second on one core.
//!
//! One request carries 5,000 data points: 2,000 gauge points, 2,000 monotonic-sum points,
//! 500 explicit histograms (10 buckets) and 500 exponential histograms, each with distinct
//! attributes, under one resource. Measured, alternating over rounds (median reported):
//! - baseline: protobuf decode alone (`prost`);
//! - ingest: decode + convert to Prometheus families + upsert into the pipeline store, the whole
//!   path of a `POST /v1/metrics` minus HTTP;
//! - ingest (JSON): the same from OTLP/JSON.
//!
//! Run: `cargo bench -p agent --bench otlp_ingest`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::pipeline::{PipelineMetrics, PipelineStore, StoreLimits};
use agent::sources::otlp::{Encoding, OtlpConfig, OtlpReceiver, decode};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

fn attrs(i: usize) -> Vec<KeyValue> {
    vec![
        kv("pipeline.stage", ["extract", "transform", "load"][i % 3]),
        kv("partition", &format!("p{i}")),
    ]
}

fn number(i: usize, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs(i),
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn request() -> ExportMetricsServiceRequest {
    let gauge = Metric {
        name: "etl.queue.depth".into(),
        unit: "{items}".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: (0..2000).map(|i| number(i, i as f64)).collect(),
        })),
        ..Default::default()
    };
    let sum = Metric {
        name: "etl.records".into(),
        unit: "{records}".into(),
        data: Some(Data::Sum(Sum {
            data_points: (0..2000).map(|i| number(i, (i * 10) as f64)).collect(),
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let hist = Metric {
        name: "etl.duration".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: (0..500)
                .map(|i| HistogramDataPoint {
                    attributes: attrs(i),
                    count: 55,
                    sum: Some(123.0),
                    bucket_counts: (0..11).map(|b| b as u64).collect(),
                    explicit_bounds: (0..10).map(|b| 0.01 * f64::from(1 << b)).collect(),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let exp = Metric {
        name: "etl.payload.size".into(),
        unit: "By".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: (0..500)
                .map(|i| ExponentialHistogramDataPoint {
                    attributes: attrs(i),
                    count: 40,
                    sum: Some(4096.0),
                    scale: 3,
                    zero_count: 0,
                    positive: Some(Buckets {
                        offset: 10,
                        bucket_counts: vec![1; 40],
                    }),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "etl"),
                    kv("service.instance.id", "w1"),
                    kv("host.name", "node-1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "bench".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                metrics: vec![gauge, sum, hist, exp],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

const POINTS: usize = 5000;

fn receiver() -> OtlpReceiver {
    let store = Arc::new(PipelineStore::new(
        StoreLimits {
            max_series: 1_000_000,
            max_groups: 100,
            max_labels: 64,
            max_label_value_bytes: 2048,
            max_jobs: 100,
        },
        Arc::new(PipelineMetrics::new()),
    ));
    OtlpReceiver::new(OtlpConfig::default(), store)
}

/// Points per second over `iters` runs of `f`.
fn rate(iters: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let e = start.elapsed().max(Duration::from_nanos(1));
    (iters * POINTS) as f64 / e.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let req = request();
    let proto = req.encode_to_vec();
    let json = serde_json::to_vec(&req).expect("encode json");
    let recv = receiver();
    let json_recv = receiver();
    // Warm up: the first ingest creates every series.
    recv.ingest(
        &decode(&proto, Encoding::Protobuf).expect("decode"),
        Instant::now(),
    );
    json_recv.ingest(
        &decode(&json, Encoding::Json).expect("decode"),
        Instant::now(),
    );
    let rounds = 7;
    let iters = 20;
    let (mut base, mut full, mut full_json) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        base.push(rate(iters, || {
            let r = decode(&proto, Encoding::Protobuf).expect("decode");
            std::hint::black_box(r);
        }));
        full.push(rate(iters, || {
            let r = decode(&proto, Encoding::Protobuf).expect("decode");
            let (_, rejected, _) = recv.ingest(&r, Instant::now());
            assert_eq!(rejected, 0);
        }));
        full_json.push(rate(iters, || {
            let r = decode(&json, Encoding::Json).expect("decode");
            let (_, rejected, _) = json_recv.ingest(&r, Instant::now());
            assert_eq!(rejected, 0);
        }));
    }
    let (b, f, j) = (median(base), median(full), median(full_json));
    println!(
        "otlp_ingest: {POINTS} data points per request, protobuf {} bytes, JSON {} bytes, {rounds} rounds x {iters} requests, one core",
        proto.len(),
        json.len()
    );
    println!("  baseline protobuf decode only       {:>12.0} points/s", b);
    println!(
        "  ingest protobuf (decode+convert+store) {:>9.0} points/s  ratio to baseline {:.3}",
        f,
        f / b
    );
    println!(
        "  ingest JSON (decode+convert+store)  {:>12.0} points/s  ratio to baseline {:.3}",
        j,
        j / b
    );
}
