use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::sync::watch;

use super::client::{SendOutcome, classify};
use super::encode::{self, families_to_series};
use super::proto::{TimeSeries, WriteRequest};
use super::*;
use crate::component::{BuildContext, Component as _, ComponentKind};
use crate::event::{Family, Histogram, Labels, Metric, MetricKind, Summary, Value};
use crate::metrics::FamilySource as _;

fn names(ts: &TimeSeries) -> Vec<(&str, &str)> {
    ts.labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

#[test]
fn histograms_summaries_and_labels_become_sorted_series() {
    let mut h = Family::new("lat_seconds", "h", MetricKind::Histogram);
    h.metrics.push(Metric {
        labels: Labels::from_pairs([("op", "put")]),
        value: Value::Histogram(Histogram {
            buckets: vec![(0.1, 3.0), (1.0, 5.0)],
            sum: 2.5,
            count: 6.0,
        }),
    });
    let mut s = Family::new("q", "s", MetricKind::Summary);
    s.metrics.push(Metric {
        labels: Labels::new(),
        value: Value::Summary(Summary {
            quantiles: vec![(0.5, 7.0)],
            sum: 9.0,
            count: 2.0,
        }),
    });
    let g = Family::gauge("up_ratio", "g").with(
        Labels::from_pairs([("zone", "a"), ("cluster", "mine")]),
        1.0,
    );
    let ext = vec![
        ("cluster".to_string(), "ext".to_string()),
        ("region".to_string(), "eu".to_string()),
    ];
    let out = families_to_series(&[h, s, g], 1234, &ext);
    assert_eq!(out.len(), 5 + 3 + 1);
    assert_eq!(
        names(&out[0]),
        vec![
            ("__name__", "lat_seconds_bucket"),
            ("cluster", "ext"),
            ("le", "0.1"),
            ("op", "put"),
            ("region", "eu")
        ]
    );
    assert_eq!(names(&out[2])[2], ("le", "+Inf"));
    assert_eq!(out[2].samples[0].value, 6.0);
    assert_eq!(names(&out[3])[0], ("__name__", "lat_seconds_sum"));
    assert_eq!(names(&out[4])[0], ("__name__", "lat_seconds_count"));
    assert_eq!(names(&out[5])[2], ("quantile", "0.5"));
    // A series' own label wins over an external label of the same name.
    assert_eq!(
        names(&out[8]),
        vec![
            ("__name__", "up_ratio"),
            ("cluster", "mine"),
            ("region", "eu"),
            ("zone", "a")
        ]
    );
    assert!(
        out.iter()
            .all(|t| t.samples.len() == 1 && t.samples[0].timestamp == 1234)
    );
}

#[test]
fn wal_records_round_trip_and_carry_their_weight() {
    let g = Family::gauge("a", "a")
        .with(Labels::from_pairs([("x", "1")]), 1.0)
        .with(Labels::from_pairs([("x", "2")]), 2.0);
    let series = families_to_series(&[g], 99, &[]);
    let rec = encode::encode_record(series.clone(), 99).expect("encode");
    assert_eq!(encode::record_samples(&rec), 2);
    assert_eq!(encode::record_timestamp_ms(&rec), Some(99));
    assert_eq!(encode::decode_record(&rec).expect("decode"), series);
    assert!(encode::decode_record(&rec[..5]).is_err());
    assert!(encode::decode_record(&[0u8; 20]).is_err());
    // A request body is snappy over the same protobuf.
    let body = encode::encode_request(&series);
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("snappy");
    let req = WriteRequest::decode(raw.as_slice()).expect("protobuf");
    assert_eq!(req.timeseries, series);
}

#[test]
fn shards_are_stable_and_spread() {
    let g = (0..200).fold(Family::gauge("m", "m"), |f, i| {
        f.with(Labels::from_pairs([("i", i.to_string())]), 0.0)
    });
    let series = families_to_series(&[g], 1, &[]);
    let mut counts = [0usize; 4];
    for s in &series {
        let a = encode::shard_of(s, 4);
        assert_eq!(a, encode::shard_of(s, 4));
        counts[a] += 1;
    }
    assert!(counts.iter().all(|&c| c > 20), "{counts:?}");
}

#[test]
fn answers_are_classified_like_prometheus_does() {
    assert_eq!(
        classify(StatusCode::NO_CONTENT, None, String::new()),
        SendOutcome::Sent
    );
    for s in [500u16, 502, 503, 429] {
        let st = StatusCode::from_u16(s).expect("status");
        assert!(
            matches!(classify(st, None, String::new()), SendOutcome::Retry { .. }),
            "{s}"
        );
    }
    for s in [400u16, 401, 403, 404, 413] {
        let st = StatusCode::from_u16(s).expect("status");
        assert!(
            matches!(
                classify(st, None, String::new()),
                SendOutcome::Refused { .. }
            ),
            "{s}"
        );
    }
}

#[test]
fn config_validation_names_the_key() {
    let mut c = RemoteWriteConfig {
        url: Some("ftp://x".into()),
        ..RemoteWriteConfig::default()
    };
    assert_eq!(c.validate().map_err(|e| e.key), Err("url".into()));
    c.url = Some("http://u:p@host/api/v1/write".into());
    assert_eq!(c.validate().map_err(|e| e.key), Err("url".into()));
    c.url = Some("https://prom.example:9090/api/v1/write".into());
    assert_eq!(c.validate(), Ok(()));
    c.max_shards = 0;
    assert_eq!(c.validate().map_err(|e| e.key), Err("max_shards".into()));
    c.max_shards = 2;
    c.external_labels.insert("__bad".into(), "x".into());
    assert_eq!(
        c.validate().map_err(|e| e.key),
        Err("external_labels".into())
    );
}

// -- A receiver on loopback --------------------------------------------------------------

#[derive(Debug, Default)]
struct Receiver {
    /// Statuses to answer, in order; 204 once empty.
    script: Mutex<VecDeque<u16>>,
    /// Every request's series, in arrival order, and the status it got.
    got: Mutex<Vec<(u16, Vec<TimeSeries>)>>,
    bad_headers: Mutex<Vec<String>>,
}

impl Receiver {
    fn accepted_samples(&self) -> usize {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|(s, _)| *s < 300)
            .map(|(_, ts)| ts.len())
            .sum()
    }
}

async fn handle(req: Request<Incoming>, rx: Arc<Receiver>) -> Response<Full<Bytes>> {
    let h = req.headers();
    let check = |name: &str, want: &str| {
        let got = h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        (got != want).then(|| format!("{name}: {got:?}"))
    };
    let bad: Vec<String> = [
        check("content-encoding", "snappy"),
        check("content-type", "application/x-protobuf"),
        check("x-prometheus-remote-write-version", "0.1.0"),
    ]
    .into_iter()
    .flatten()
    .collect();
    rx.bad_headers.lock().expect("lock").extend(bad);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let series = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .ok()
        .and_then(|raw| WriteRequest::decode(raw.as_slice()).ok())
        .map(|r| r.timeseries)
        .unwrap_or_default();
    let status = rx.script.lock().expect("lock").pop_front().unwrap_or(204);
    rx.got.lock().expect("lock").push((status, series));
    let mut r = Response::new(Full::new(Bytes::from_static(b"scripted answer")));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r
}

async fn receiver(script: &[u16]) -> (String, Arc<Receiver>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let rx = Arc::new(Receiver {
        script: Mutex::new(script.iter().copied().collect()),
        ..Receiver::default()
    });
    let r2 = Arc::clone(&rx);
    tokio::spawn(async move {
        for _ in 0..1000 {
            let Ok((s, _)) = l.accept().await else { return };
            let r3 = Arc::clone(&r2);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let r4 = Arc::clone(&r3);
                    async move { Ok::<_, Infallible>(handle(req, r4).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/api/v1/write"), rx)
}

fn cfg(url: &str) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: Some(url.to_string()),
        max_shards: 3,
        max_samples_per_send: 7,
        batch_send_deadline_ms: 20,
        min_backoff_ms: 5,
        max_backoff_ms: 20,
        timeout_ms: 2_000,
        wal_segment_bytes: 64 * 1024,
        wal_max_bytes: 1024 * 1024,
        ..RemoteWriteConfig::default()
    }
}

fn batch(n: usize, v: f64) -> Arc<Vec<Family>> {
    let f = (0..n).fold(Family::gauge("rw_test_value", "t"), |f, i| {
        f.with(Labels::from_pairs([("i", i.to_string())]), v)
    });
    Arc::new(vec![f])
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The context the topology would build the sink with, over `dir`.
fn context(dir: &std::path::Path, shutdown: watch::Receiver<bool>) -> BuildContext {
    let mut ctx = BuildContext::standalone(dir, shutdown);
    ctx.enter(ComponentKind::Sink, "prometheus_remote_write");
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_every_sample_with_the_right_headers_and_retries_5xx_and_429() {
    let (url, rx) = receiver(&[503, 429, 500]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_tx, sd) = watch::channel(false);
    let (rw, _tasks) =
        RemoteWrite::start(&cfg(&url), &mut context(dir.path(), sd)).expect("start");
    for k in 0..5 {
        rw.enqueue(batch(20, f64::from(k)), 1_000 + i64::from(k));
    }
    until("100 samples delivered", || rx.accepted_samples() == 100).await;
    until("pending drained", || rw.pending() == 0).await;
    let [sent, retried, failed, dropped] = rw.counts();
    assert_eq!(sent, 100);
    assert!(retried >= 3, "retried {retried}");
    assert_eq!((failed, dropped), (0, 0));
    assert!(rx.bad_headers.lock().expect("lock").is_empty());
    // Every series' samples arrived in timestamp order.
    let got = rx.got.lock().expect("lock");
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for (status, series) in got.iter().filter(|(s, _)| *s < 300) {
        assert!(series.len() <= 7, "max_samples_per_send, status {status}");
        for ts in series {
            let key = format!("{:?}", ts.labels);
            let t = ts.samples[0].timestamp;
            assert!(last.get(&key).is_none_or(|&p| p < t), "out of order {key}");
            last.insert(key, t);
        }
    }
    drop(got);
    let fams = rw.families();
    let sent_fam = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_remote_write_samples_sent_total")
        .expect("sent family");
    assert_eq!(sent_fam.metrics[0].labels.get("url"), Some(url.as_str()));
    assert_eq!(sent_fam.metrics[0].value.as_scalar(), Some(100.0));
    assert_eq!(fams.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_counted_and_not_retried() {
    let (url, rx) = receiver(&[400; 50]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_tx, sd) = watch::channel(false);
    let (rw, _tasks) =
        RemoteWrite::start(&cfg(&url), &mut context(dir.path(), sd)).expect("start");
    rw.enqueue(batch(10, 1.0), 5);
    until("10 samples failed", || rw.counts()[2] == 10).await;
    until("pending drained", || rw.pending() == 0).await;
    let [sent, retried, _, _] = rw.counts();
    assert_eq!((sent, retried), (0, 0));
    let got = rx.got.lock().expect("lock");
    let total: usize = got.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(total, 10, "each sample was sent exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_restart_lose_nothing() {
    // The receiver is down (connection refused) while the first sink runs.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let down_url = format!("http://{}/api/v1/write", probe.local_addr().expect("addr"));
    drop(probe);
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, sd) = watch::channel(false);
    let (rw, tasks) =
        RemoteWrite::start(&cfg(&down_url), &mut context(dir.path(), sd)).expect("start");
    for k in 0..6 {
        rw.enqueue(batch(15, f64::from(k)), 10_000 + i64::from(k));
    }
    until("90 samples in the WAL", || rw.pending() == 90).await;
    until("a retry", || rw.counts()[1] > 0).await;
    tx.send(true).expect("shutdown");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .expect("stops")
            .expect("join");
    }
    // A new sink on the same WAL delivers everything to the receiver once it is up.
    let (url, rx) = receiver(&[]).await;
    let (_tx2, sd2) = watch::channel(false);
    let (rw2, _tasks2) =
        RemoteWrite::start(&cfg(&url), &mut context(dir.path(), sd2)).expect("restart");
    assert_eq!(rw2.pending(), 90);
    until("90 samples delivered", || rx.accepted_samples() == 90).await;
    until("pending drained", || rw2.pending() == 0).await;
    assert_eq!(rw2.counts()[0], 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_read_from_its_file() {
    let (url, _rx) = receiver(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").expect("write");
    let mut c = cfg(&url);
    c.basic_auth = Some(BasicAuthConfig {
        username: "agent".into(),
        password_file: pw,
    });
    let mut ctx = context(dir.path(), watch::channel(false).1);
    assert!(ctx.http_client(&c.client_config()).is_ok());
    c.basic_auth = Some(BasicAuthConfig {
        username: "agent".into(),
        password_file: dir.path().join("missing"),
    });
    let err = ctx.http_client(&c.client_config()).expect_err("missing file");
    assert!(err.to_string().contains("password_file"), "{err}");
}

#[test]
fn the_toml_table_parses_and_the_flag_overrides_it() {
    let text = "[sinks.prometheus_remote_write]\nurl = \"http://a:9090/api/v1/write\"\nmax_shards = 2\n[sinks.prometheus_remote_write.external_labels]\ncluster = \"c1\"\n";
    let mut c = crate::config::parse(text).expect("parse");
    let rw = &c.sinks.prometheus_remote_write;
    assert_eq!(rw.max_shards, 2);
    assert_eq!(
        rw.external_labels.get("cluster").map(String::as_str),
        Some("c1")
    );
    c.apply(&crate::config::Overrides {
        remote_write_url: Some("http://b:9090/api/v1/write".into()),
        ..Default::default()
    });
    assert_eq!(
        c.sinks.prometheus_remote_write.url.as_deref(),
        Some("http://b:9090/api/v1/write")
    );
    let e = crate::config::parse("[sinks.prometheus_remote_write]\nurl = \"x\"\nbogus = 1\n")
        .expect_err("unknown key");
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = crate::config::parse("[sinks.prometheus_remote_write]\nmax_shards = 0\n")
        .expect_err("bad value");
    assert!(
        e.to_string().contains("max_shards") && e.to_string().contains("line 2"),
        "{e}"
    );
}
