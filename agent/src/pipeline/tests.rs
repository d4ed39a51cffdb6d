use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::event::{Family, Labels};
use crate::sinks::prometheus_exporter::{Format, render};
use crate::store::Provider as _;

fn limits(max_series: usize) -> StoreLimits {
    StoreLimits {
        max_series,
        max_groups: 100,
        max_labels: 8,
        max_label_value_bytes: 64,
        max_jobs: 2,
    }
}

fn otlp_key(job: &str) -> GroupKey {
    GroupKey {
        origin: Origin::Otlp,
        labels: Labels::new().with("job", job),
    }
}

fn gauge(name: &str, n: usize) -> Family {
    let mut f = Family::gauge(name, "help");
    for i in 0..n {
        f.push(Labels::new().with("i", i.to_string()), i as f64);
    }
    f
}

#[test]
fn otlp_series_expire_one_by_one_and_pushgateway_groups_whole() {
    let s = PipelineStore::new(limits(100), Arc::new(PipelineMetrics::new()));
    let t0 = Instant::now();
    let ttl = Some(Duration::from_secs(10));
    s.push(
        otlp_key("a"),
        "a",
        vec![gauge("x", 3)],
        Mode::Upsert,
        ttl,
        t0,
    )
    .expect("upsert");
    // Five seconds later only series i=0 is refreshed.
    let mut one = Family::gauge("x", "help");
    one.push(Labels::new().with("i", "0"), 7.0);
    s.push(
        otlp_key("a"),
        "a",
        vec![one],
        Mode::Upsert,
        ttl,
        t0 + Duration::from_secs(5),
    )
    .expect("upsert");
    let pg = GroupKey {
        origin: Origin::Pushgateway,
        labels: Labels::new().with("job", "batch"),
    };
    s.push(
        pg.clone(),
        "batch",
        vec![gauge("y", 2)],
        Mode::Replace,
        ttl,
        t0,
    )
    .expect("replace");
    assert_eq!(s.series(), 5);
    assert_eq!(s.reap(t0 + Duration::from_secs(9)), 0);
    assert_eq!(s.reap(t0 + Duration::from_secs(11)), 4);
    assert_eq!(s.series(), 1);
    assert!(!s.has_group(&pg));
    assert_eq!(s.metrics().expired(), 4);
    assert_eq!(s.reap(t0 + Duration::from_secs(16)), 1);
    assert_eq!(s.groups(), 0);
    // A group with no expiry stays.
    s.push(
        pg.clone(),
        "batch",
        vec![gauge("y", 1)],
        Mode::Replace,
        None,
        t0,
    )
    .expect("replace");
    assert_eq!(s.reap(t0 + Duration::from_secs(1_000_000)), 0);
    assert!(s.has_group(&pg));
}

#[test]
fn the_cardinality_guard_drops_and_counts() {
    let s = PipelineStore::new(limits(10), Arc::new(PipelineMetrics::new()));
    let now = Instant::now();
    let out = s
        .push(
            otlp_key("a"),
            "a",
            vec![gauge("x", 25)],
            Mode::Upsert,
            None,
            now,
        )
        .expect("upsert");
    assert_eq!(out.kept, 10);
    assert_eq!(out.dropped.get(&DropReason::SeriesLimit), Some(&15));
    assert_eq!(
        s.metrics().dropped(Origin::Otlp, DropReason::SeriesLimit),
        15
    );
    // Updating a kept series still works at the limit.
    let out = s
        .push(
            otlp_key("a"),
            "a",
            vec![gauge("x", 1)],
            Mode::Upsert,
            None,
            now,
        )
        .expect("upsert");
    assert_eq!(out.kept, 1);
    // Per-series bounds: too many labels, a long value, a bad name.
    let mut bad = Family::gauge("y", "");
    bad.push(
        Labels::from_pairs((0..9).map(|i| (format!("l{i}"), "v"))),
        1.0,
    );
    bad.push(Labels::new().with("v", "x".repeat(65)), 1.0);
    let out = s
        .push(otlp_key("b"), "b", vec![bad], Mode::Upsert, None, now)
        .expect("upsert");
    assert_eq!(out.kept, 0);
    assert_eq!(out.dropped.get(&DropReason::TooManyLabels), Some(&1));
    assert_eq!(out.dropped.get(&DropReason::LabelValueTooLong), Some(&1));
    // A Pushgateway push over the total is refused whole.
    let pg = GroupKey {
        origin: Origin::Pushgateway,
        labels: Labels::new().with("job", "p"),
    };
    let err = s
        .push(pg, "p", vec![gauge("z", 2)], Mode::Replace, None, now)
        .expect_err("over the limit");
    assert_eq!(err, (DropReason::SeriesLimit, 2));
    // Freshness keeps at most max_jobs jobs.
    let fams: Vec<Family> = s
        .snapshot()
        .iter()
        .flat_map(|b| b.iter().cloned())
        .collect();
    let fresh = fams
        .iter()
        .find(|f| f.name == "nodewatch_pipeline_last_push_timestamp_seconds")
        .expect("freshness");
    assert!(fresh.metrics.len() <= 2);
}

#[test]
fn pushed_series_and_self_metrics_render_and_pass_promtool() {
    let s = PipelineStore::new(limits(1000), Arc::new(PipelineMetrics::new()));
    let now = Instant::now();
    let pg = GroupKey {
        origin: Origin::Pushgateway,
        labels: Labels::new().with("job", "etl").with("instance", "a"),
    };
    let mut runs = Family::counter("pipeline_runs_total", "Runs.");
    runs.push(
        Labels::new()
            .with("job", "etl")
            .with("instance", "a")
            .with("status", "success"),
        3.0,
    );
    s.push(pg, "etl", vec![runs], Mode::Replace, None, now)
        .expect("push");
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/otlp/opentelemetry-proto-examples-metrics.json"
    ))
    .expect("fixture");
    let store = Arc::new(s);
    let recv = crate::sources::otlp::OtlpReceiver::new(
        crate::sources::otlp::OtlpConfig::default(),
        Arc::clone(&store),
    );
    // The upstream example's names contain their types ("my.counter"), which promtool's lint
    // refuses; rename them, keep everything else.
    let mut req =
        crate::sources::otlp::decode(&body, crate::sources::otlp::Encoding::Json).expect("decode");
    for (m, name) in req.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter_mut()
        .zip([
            "etl.records",
            "etl.queue.depth",
            "etl.batch.size",
            "etl.latency",
        ])
    {
        m.name = name.to_string();
    }
    use prost::Message as _;
    let reply = recv.handle(
        Some("application/x-protobuf"),
        Ok(req.encode_to_vec().into()),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let batches = store.snapshot();
    let mut text = String::new();
    render(
        batches.iter().flat_map(|b| b.iter()),
        Format::Text,
        &mut text,
    );
    for want in [
        "pipeline_runs_total{instance=\"a\",job=\"etl\",status=\"success\"} 3",
        "push_time_seconds{instance=\"a\",job=\"etl\"} ",
        "push_failure_time_seconds{instance=\"a\",job=\"etl\"} 0",
        "etl_records_total{job=\"my.service\",my_counter_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\"} 5",
        "etl_queue_depth_ratio{job=\"my.service\",my_gauge_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\"} 10",
        "etl_batch_size_bucket{job=\"my.service\",my_histogram_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\",le=\"1\"} 1",
        "etl_latency_bucket{job=\"my.service\",my_exponential_histogram_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\",le=\"8\"} 3",
        "nodewatch_pipeline_last_push_timestamp_seconds{job=\"etl\"} ",
        "nodewatch_pipeline_last_push_timestamp_seconds{job=\"my.service\"} ",
        "nodewatch_agent_otlp_datapoints_received_total 4",
        "nodewatch_agent_otlp_requests_total{code=\"200\"} 1",
        "nodewatch_agent_pipeline_series 12",
        "nodewatch_agent_pipeline_expired_series_total 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let (code, report) = crate::test_support::promtool_check(&text);
    assert_eq!(code, Some(0), "{report}\n{text}");
}

#[test]
fn config_tables_and_the_flag() {
    let c = crate::config::parse(
        "[pipeline]\nlisten = \"127.0.0.1:5000\"\nmax_series = 50\n[sources.otlp]\nexpire_secs = 30\n[sources.pushgateway]\nexpire_secs = 0\n",
    )
    .expect("parse");
    assert_eq!(c.pipeline.listen.port(), 5000);
    assert_eq!(c.pipeline.max_series, 50);
    assert_eq!(c.sources.otlp.expire_secs, 30);
    assert_eq!(c.sources.pushgateway.expire_secs, 0);
    let e = crate::config::parse("[pipeline]\nbogus = 1\n").expect_err("unknown key");
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = crate::config::parse("[pipeline]\nmax_series = 0\n").expect_err("zero");
    assert!(e.to_string().contains("pipeline.max_series"), "{e}");
    let e = crate::config::parse("\n[sources.otlp]\nexpire_secs = 0\n").expect_err("zero");
    assert!(e.to_string().contains("line 3"), "{e}");
    let mut c = crate::config::Config::default();
    assert_eq!(c.pipeline.listen.port(), 4318);
    c.apply(&crate::config::Overrides {
        otlp_listen: Some("127.0.0.1:6000".parse().expect("addr")),
        ..Default::default()
    });
    assert_eq!(c.pipeline.listen.port(), 6000);
}

async fn http(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{head}\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write head");
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_answers_otlp_and_pushgateway_and_survives_hostile_input() {
    use prost::Message as _;
    let mut config = crate::config::Config::default();
    config.api.listen = "127.0.0.1:0".parse().expect("addr");
    config.pipeline.listen = "127.0.0.1:0".parse().expect("addr");
    config.pipeline.max_body_bytes = 64 * 1024;
    config.sources.host.enabled = false;
    config.sources.smartctl.enabled = Some(false);
    config.sources.storage_node.enabled = false;
    let running = crate::topology::start(&config).await.expect("start");
    let p = running.pipeline_addr.expect("pipeline listener");

    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/otlp/opentelemetry-proto-examples-metrics.json"
    ))
    .expect("fixture");
    let req =
        crate::sources::otlp::decode(&body, crate::sources::otlp::Encoding::Json).expect("decode");
    let proto = req.encode_to_vec();
    let (code, resp) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/x-protobuf",
        &proto,
    )
    .await;
    assert_eq!(code, 200);
    let decoded =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse::decode(
            &resp[..],
        )
        .expect("a protobuf ExportMetricsServiceResponse");
    assert_eq!(decoded.partial_success, None);

    // Hostile: truncated protobuf, wrong content type, oversize, gzip bomb, bad gzip.
    let (code, resp) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/x-protobuf",
        &proto[..proto.len() / 2],
    )
    .await;
    assert_eq!(code, 400);
    let status = crate::sources::otlp::RpcStatus::decode(&resp[..]).expect("a google.rpc.Status");
    assert!(status.message.contains("decode"), "{}", status.message);
    let (code, _) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: text/plain",
        b"x",
    )
    .await;
    assert_eq!(code, 415);
    let (code, _) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/json",
        &vec![b' '; 100 * 1024],
    )
    .await;
    assert_eq!(code, 413);
    let bomb = {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 10 * 1024 * 1024]).expect("gzip");
        enc.finish().expect("gzip")
    };
    let (code, _) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip",
        &bomb,
    )
    .await;
    assert_eq!(code, 413);
    let (code, _) = http(
        p,
        "POST /v1/metrics HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip",
        b"nope",
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = http(p, "GET /v1/metrics HTTP/1.1", b"").await;
    assert_eq!(code, 405);

    // Pushgateway.
    let (code, _) = http(
        p,
        "PUT /metrics/job/etl/instance/a HTTP/1.1",
        b"# TYPE pipeline_records_processed_total counter\npipeline_records_processed_total 42\n",
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = http(p, "PUT /metrics/job/etl HTTP/1.1", b"bad{ 1\n").await;
    assert_eq!(code, 400);

    // /metrics on the API listener shows everything.
    let (code, body) = http(running.addr, "GET /metrics HTTP/1.1", b"").await;
    assert_eq!(code, 200);
    let text = String::from_utf8_lossy(&body).to_string();
    for want in [
        "pipeline_records_processed_total{instance=\"a\",job=\"etl\"} 42",
        "my_gauge_ratio{job=\"my.service\",my_gauge_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\"} 10",
        "nodewatch_agent_otlp_requests_total{code=\"400\"} 2",
        "nodewatch_agent_otlp_requests_total{code=\"413\"} 2",
        "nodewatch_agent_otlp_requests_total{code=\"415\"} 1",
        "nodewatch_agent_otlp_requests_total{code=\"405\"} 1",
        "nodewatch_agent_pushgateway_requests_total{code=\"400\",method=\"PUT\"} 1",
        "nodewatch_agent_pipeline_series_dropped_total{reason=\"invalid_point\",source=\"pushgateway\"} 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    running.stop().await;
}
