//! Unit tests: protobuf and JSON encoding, batching order, retry classification and backoff,
//! and the sink against a scripted HTTP server (retries, rejections, acknowledgements).

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use tokio::sync::{mpsc, watch};

use super::proto;
use super::*;
use crate::logs::{Chunk, LogEntry, LogMetrics, Metadata, Positions, StreamLabels};

fn entry(stream: &Arc<StreamLabels>, ts: i64, line: &str) -> LogEntry {
    LogEntry {
        ts_ns: ts,
        line: line.into(),
        stream: Arc::clone(stream),
        metadata: Metadata::new(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Arc<StreamLabels> {
    Arc::new(StreamLabels::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

fn sample_batch() -> Batch {
    let a = labels(&[("job", "files"), ("filename", "/a.log")]);
    let b = labels(&[("job", "files"), ("filename", "/b.log")]);
    let mut c = Chunk::default();
    c.push(entry(&a, 3_000_000_001, "a3"));
    c.push(entry(&b, 5, "b1"));
    c.push(entry(&a, 1_000_000_000, "a1"));
    let mut e = entry(&a, 2_000_000_000, "a2 é");
    e.metadata = Metadata::from_vec(vec![
        ("trace_id".into(), "t1".into()),
        ("request_id".into(), "r1".into()),
    ]);
    c.push(e);
    c.ack(1, 10);
    c.ack(2, 20);
    c.ack(1, 15);
    let mut batch = Batch::default();
    batch.add(c);
    batch
}

#[test]
fn protobuf_encoding_decodes_with_prost_and_orders_each_stream() {
    let batch = sample_batch();
    assert_eq!(
        batch
            .acks
            .iter()
            .map(|a| (a.record, a.offset))
            .collect::<Vec<_>>(),
        vec![(1, 15), (2, 20)]
    );
    let streams = batch.streams();
    let mut raw = Vec::new();
    encode_protobuf(&streams, &mut raw);
    let req = proto::PushRequest::decode(raw.as_slice()).expect("ok");
    assert_eq!(req.streams.len(), 2);
    let s0 = &req.streams[0];
    assert_eq!(s0.labels, r#"{filename="/a.log", job="files"}"#);
    let lines: Vec<_> = s0.entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, vec!["a1", "a2 é", "a3"]);
    assert_eq!(
        s0.entries[0].timestamp,
        Some(proto::Timestamp {
            seconds: 1,
            nanos: 0
        })
    );
    assert_eq!(
        s0.entries[2].timestamp,
        Some(proto::Timestamp {
            seconds: 3,
            nanos: 1
        })
    );
    assert_eq!(
        s0.entries[1].structured_metadata,
        vec![
            proto::LabelPairAdapter {
                name: "trace_id".into(),
                value: "t1".into()
            },
            proto::LabelPairAdapter {
                name: "request_id".into(),
                value: "r1".into()
            }
        ]
    );
    assert_eq!(
        req.streams[1].entries[0].timestamp,
        Some(proto::Timestamp {
            seconds: 0,
            nanos: 5
        })
    );
    // Byte-identical to prost's own encoding of the same message.
    assert_eq!(raw, req.encode_to_vec());
}

#[test]
fn json_encoding_is_lokis_shape() {
    let batch = sample_batch();
    let v: serde_json::Value = serde_json::from_slice(&encode_json(&batch.streams())).expect("ok");
    let s0 = &v["streams"][0];
    assert_eq!(s0["stream"]["filename"], "/a.log");
    assert_eq!(s0["values"][0][0], "1000000000");
    assert_eq!(s0["values"][1][1], "a2 é");
    assert_eq!(s0["values"][1][2]["trace_id"], "t1");
    assert_eq!(v["streams"][1]["values"][0], serde_json::json!(["5", "b1"]));
}

#[test]
fn retry_classification() {
    assert_eq!(classify(204), Class::Delivered);
    assert_eq!(classify(200), Class::Delivered);
    for s in [429, 500, 502, 503, 504] {
        assert_eq!(classify(s), Class::Retry, "{s}");
    }
    for s in [400, 401, 403, 404, 413, 301] {
        assert_eq!(classify(s), Class::Reject, "{s}");
    }
    assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
}

#[test]
fn backoff_doubles_with_jitter_caps_and_honours_retry_after() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
    let d: Vec<Duration> = (0..6).map(|_| b.next(None)).collect();
    for (i, x) in d.iter().enumerate() {
        let full = Duration::from_millis((100u64 << i).min(1000));
        assert!(
            *x >= full / 2 && *x <= full,
            "attempt {i}: {x:?} not in [{:?}, {full:?}]",
            full / 2
        );
    }
    assert!(b.next(Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    assert!(b.next(Some(Duration::from_secs(3600))) <= Duration::from_secs(300));
    b.reset();
    assert!(b.next(None) <= Duration::from_millis(100));
}

/// A server that answers each push with the next scripted status and records bodies.
async fn scripted(
    script: Vec<(u16, Option<&'static str>)>,
) -> (String, Arc<Mutex<Vec<(http::HeaderMap, Bytes)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("ok");
    let addr = listener.local_addr().expect("ok");
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let script = Arc::clone(&script);
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let script = Arc::clone(&script);
                        let seen = Arc::clone(&seen);
                        async move {
                            let h = req.headers().clone();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            seen.lock().expect("ok").push((h, body));
                            let (status, ra) = script
                                .lock()
                                .expect("ok")
                                .pop_front()
                                .unwrap_or((204, None));
                            let mut r =
                                hyper::Response::new(Full::new(Bytes::from_static(b"scripted")));
                            *r.status_mut() = hyper::StatusCode::from_u16(status).expect("ok");
                            if let Some(ra) = ra {
                                r.headers_mut()
                                    .insert("retry-after", ra.parse().expect("ok"));
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/loki/api/v1/push"), seen)
}

struct SinkRun {
    metrics: Arc<LogMetrics>,
    _dir: tempfile::TempDir,
}

async fn run_sink(cfg: LokiEndpointConfig, chunks: Vec<Chunk>) -> SinkRun {
    let dir = tempfile::tempdir().expect("ok");
    let positions = Arc::new(Positions::open(&dir.path().join("p.json")).expect("ok"));
    let metrics = Arc::new(LogMetrics::default());
    let client = LokiClient::new(cfg.clone()).expect("ok");
    let sink = LokiSink::new(
        "t",
        cfg,
        client,
        Arc::clone(&metrics),
        Arc::clone(&positions),
        Arc::new(AtomicU64::new(0)),
    );
    let (tx, rx) = mpsc::channel(16);
    let (_stop_tx, stop_rx) = watch::channel(false);
    for c in chunks {
        tx.send(c).await.expect("ok");
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(20), sink.run(rx, stop_rx))
        .await
        .expect("sink finishes");
    SinkRun { metrics, _dir: dir }
}

fn fast(url: &str) -> LokiEndpointConfig {
    LokiEndpointConfig {
        min_backoff_ms: 10,
        max_backoff_ms: 50,
        batch_wait_ms: 10,
        tenant_id: Some("t1".into()),
        ..LokiEndpointConfig::with_url(url)
    }
}

fn chunk_for(positions_record: u64, n: usize) -> Chunk {
    let l = labels(&[("job", "files")]);
    let mut c = Chunk::default();
    for i in 0..n {
        c.push(entry(&l, i as i64, &format!("line {i}")));
    }
    c.ack(positions_record, 1000);
    c
}

#[tokio::test]
async fn retries_5xx_and_429_then_acknowledges() {
    let (url, seen) = scripted(vec![(500, None), (429, Some("0")), (503, None)]).await;
    let dir2 = tempfile::tempdir().expect("ok");
    let positions = Arc::new(Positions::open(&dir2.path().join("p.json")).expect("ok"));
    let id = positions.create(crate::logs::FileKey { dev: 1, ino: 1 }, "/a", 0, 0, (0, 0));
    let metrics = Arc::new(LogMetrics::default());
    let cfg = fast(&url);
    let sink = LokiSink::new(
        "t",
        cfg.clone(),
        LokiClient::new(cfg).expect("ok"),
        Arc::clone(&metrics),
        Arc::clone(&positions),
        Arc::new(AtomicU64::new(0)),
    );
    let (tx, rx) = mpsc::channel(4);
    let (_s, stop) = watch::channel(false);
    tx.send(chunk_for(id, 3)).await.expect("ok");
    drop(tx);
    tokio::time::timeout(Duration::from_secs(20), sink.run(rx, stop))
        .await
        .expect("ok");
    assert_eq!(positions.acked(id), Some(1000));
    assert_eq!(metrics.sent_count("t"), 3);
    let bodies = seen.lock().expect("ok");
    assert_eq!(bodies.len(), 4, "three failures, one success");
    let (h, body) = &bodies[3];
    assert_eq!(h.get("x-scope-orgid").expect("ok"), "t1");
    assert_eq!(h.get("content-type").expect("ok"), "application/x-protobuf");
    let raw = snap::raw::Decoder::new().decompress_vec(body).expect("ok");
    let req = proto::PushRequest::decode(raw.as_slice()).expect("ok");
    assert_eq!(req.streams[0].entries.len(), 3);
    let fams = metrics.families();
    let retried = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_lines_retried_total")
        .expect("ok");
    assert_eq!(retried.metrics[0].value.as_scalar(), Some(9.0));
}

#[tokio::test]
async fn other_4xx_is_rejected_not_retried_and_still_acknowledged() {
    let (url, seen) = scripted(vec![(400, None)]).await;
    let dir = tempfile::tempdir().expect("ok");
    let positions = Arc::new(Positions::open(&dir.path().join("p.json")).expect("ok"));
    let id = positions.create(crate::logs::FileKey { dev: 1, ino: 1 }, "/a", 0, 0, (0, 0));
    let metrics = Arc::new(LogMetrics::default());
    let cfg = LokiEndpointConfig {
        encoding: Encoding::Json,
        ..fast(&url)
    };
    let sink = LokiSink::new(
        "t",
        cfg.clone(),
        LokiClient::new(cfg).expect("ok"),
        Arc::clone(&metrics),
        Arc::clone(&positions),
        Arc::new(AtomicU64::new(0)),
    );
    let (tx, rx) = mpsc::channel(4);
    let (_s, stop) = watch::channel(false);
    tx.send(chunk_for(id, 2)).await.expect("ok");
    drop(tx);
    tokio::time::timeout(Duration::from_secs(20), sink.run(rx, stop))
        .await
        .expect("ok");
    assert_eq!(seen.lock().expect("ok").len(), 1);
    assert_eq!(
        seen.lock().expect("ok")[0]
            .0
            .get("content-encoding")
            .expect("ok"),
        "gzip"
    );
    assert_eq!(positions.acked(id), Some(1000));
    let fams = metrics.families();
    let rejected = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_lines_rejected_total")
        .expect("ok");
    assert_eq!(rejected.metrics[0].labels.get("reason"), Some("http_400"));
    assert_eq!(rejected.metrics[0].value.as_scalar(), Some(2.0));
}

#[tokio::test]
async fn stream_limit_drops_new_streams_and_counts_them() {
    let (url, seen) = scripted(vec![]).await;
    let mut c = Chunk::default();
    for i in 0..5 {
        let l = labels(&[("job", "files"), ("n", &i.to_string())]);
        c.push(entry(&l, 1, "x"));
    }
    let cfg = LokiEndpointConfig {
        max_streams: 2,
        ..fast(&url)
    };
    let run = run_sink(cfg, vec![c]).await;
    let body = seen.lock().expect("ok")[0].1.clone();
    let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("ok");
    assert_eq!(
        proto::PushRequest::decode(raw.as_slice())
            .expect("ok")
            .streams
            .len(),
        2
    );
    let fams = run.metrics.families();
    let dropped = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_lines_dropped_total")
        .expect("ok");
    assert_eq!(dropped.metrics[0].value.as_scalar(), Some(3.0));
}

#[test]
fn a_partial_accept_counts_only_what_loki_refused() {
    use super::read_partial;
    // Loki 3.x's distributor: validation errors grouped by text (`util.GroupedErrors`); the rest
    // of the push is stored.
    let body = "entry for stream '{app=\"x\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-29T00:00:00Z\n";
    assert_eq!(
        read_partial(body, true, 10),
        vec![("greater_than_max_sample_age", 1)]
    );
    let body = "3 errors like: entry for stream '{app=\"x\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-29T00:00:00Z; \
1 errors like: entry for stream '{app=\"x\"}' has timestamp too new: 2030-01-01T00:00:00Z; \
1 errors like: Max entry size '256' bytes exceeded for stream '{app=\"x\"}' while adding an entry with length '300' bytes\n";
    assert_eq!(
        read_partial(body, true, 10),
        vec![
            ("greater_than_max_sample_age", 3),
            ("too_far_in_future", 1),
            ("line_too_long", 1)
        ]
    );
    // The ingester's summary per stream (with and without the tenant, by Loki version).
    let body = "entry with timestamp 2026-12-05 10:00:00 +0000 UTC ignored, reason: 'entry out of order',\n\
user 'fake', total ignored: 3 out of 7 for stream: {app=\"x\"}";
    assert_eq!(read_partial(body, true, 10), vec![("out_of_order", 3)]);
    assert_eq!(
        read_partial("total ignored: 1 out of 3 for stream: {a=\"b\"}", true, 10),
        vec![("out_of_order", 1)]
    );
    // Nothing countable (a whole-request error), or a cut body: the whole push was refused.
    assert_eq!(
        read_partial("error parsing labels", true, 10),
        vec![("http_400", 10)]
    );
    assert_eq!(read_partial(body, false, 10), vec![("http_400", 10)]);
    // Never more than the push held.
    assert_eq!(
        read_partial("total ignored: 50 out of 50", true, 10),
        vec![("out_of_order", 10)]
    );
}

/// The spill buffer: codec, append/read/commit, restart, torn tail, CRC damage, the bound.
mod spill_buffer {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use crate::buffer::WhenFull;
    use crate::logs::{LogEntry, LogMetrics, Metadata, StreamLabels};
    use crate::sinks::loki::chunk_codec::{decode_entries, encode_entries};
    use crate::sinks::loki::spill::*;

    fn entries(from: usize, n: usize) -> Vec<LogEntry> {
        let s = Arc::new(StreamLabels::new(vec![
            ("namespace".into(), "default".into()),
            ("pod".into(), "p".into()),
        ]));
        (from..from + n)
            .map(|i| LogEntry {
                ts_ns: i as i64,
                line: format!("line {i} é").into(),
                stream: Arc::clone(&s),
                metadata: if i % 2 == 0 {
                    Metadata::from_vec(vec![("trace_id".into(), format!("t{i}").into())])
                } else {
                    Metadata::new()
                },
            })
            .collect()
    }

    fn lines(e: &[LogEntry]) -> Vec<String> {
        e.iter().map(|e| e.line.to_string()).collect()
    }

    #[test]
    fn codec_round_trip_and_rejects_garbage() {
        let e = entries(0, 5);
        let back = decode_entries(&encode_entries(&e)).expect("decodes");
        assert_eq!(back, e);
        let mut bad = encode_entries(&e);
        bad.pop();
        assert!(decode_entries(&bad).is_none());
        assert!(decode_entries(&[0xff, 0xff, 0xff, 0xff]).is_none());
    }

    fn open(dir: &std::path::Path, max: u64) -> (SpillQueue, Arc<LogMetrics>) {
        let m = Arc::new(LogMetrics::default());
        (
            SpillQueue::open(dir, max, WhenFull::Block, Arc::clone(&m), "t_spill").expect("open"),
            m,
        )
    }

    #[test]
    fn records_come_back_in_order_and_survive_a_restart_until_committed() {
        let d = tempfile::tempdir().expect("tmp");
        let stop = AtomicBool::new(false);
        let (q, _) = open(d.path(), 64 << 20);
        q.append(&entries(0, 3), &stop).expect("append");
        q.append(&entries(3, 3), &stop).expect("append");
        let (a, ca) = q.next(Duration::from_millis(10)).expect("first");
        assert_eq!(lines(&a), lines(&entries(0, 3)));
        q.commit(ca).expect("commit");
        let (b, _) = q.next(Duration::from_millis(10)).expect("second");
        assert_eq!(lines(&b), lines(&entries(3, 3)));
        assert!(q.next(Duration::from_millis(10)).is_none());
        drop(q);
        // The second record was read but never committed: it comes back.
        let (q, _) = open(d.path(), 64 << 20);
        let (b2, cb) = q.next(Duration::from_millis(10)).expect("replayed");
        assert_eq!(lines(&b2), lines(&entries(3, 3)));
        q.commit(cb).expect("commit");
        q.append(&entries(6, 1), &stop)
            .expect("append after restart");
        let (c, _) = q.next(Duration::from_millis(10)).expect("third");
        assert_eq!(lines(&c), lines(&entries(6, 1)));
    }

    fn segment(dir: &std::path::Path) -> std::path::PathBuf {
        std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "seg"))
            .expect("a segment")
    }

    #[test]
    fn a_torn_tail_is_cut_at_open() {
        let d = tempfile::tempdir().expect("tmp");
        let stop = AtomicBool::new(false);
        let (q, _) = open(d.path(), 64 << 20);
        q.append(&entries(0, 2), &stop).expect("append");
        drop(q);
        let seg = segment(d.path());
        let good = std::fs::metadata(&seg).expect("stat").len();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .expect("open");
        std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, 5]).expect("torn write");
        drop(f);
        let (q, _) = open(d.path(), 64 << 20);
        assert_eq!(std::fs::metadata(&seg).expect("stat").len(), good);
        assert_eq!(
            lines(&q.next(Duration::from_millis(10)).expect("record").0),
            lines(&entries(0, 2))
        );
        assert!(q.next(Duration::from_millis(10)).is_none());
    }

    #[test]
    fn a_damaged_record_is_counted_and_skipped() {
        let d = tempfile::tempdir().expect("tmp");
        let stop = AtomicBool::new(false);
        let (q, _) = open(d.path(), 64 << 20);
        q.append(&entries(0, 2), &stop).expect("append");
        drop(q);
        let seg = segment(d.path());
        let mut bytes = std::fs::read(&seg).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        std::fs::write(&seg, &bytes).expect("write");
        let (q, m) = open(d.path(), 64 << 20);
        assert!(q.next(Duration::from_millis(10)).is_none());
        let fams = m.families();
        let dropped = fams
            .iter()
            .find(|f| f.name == "nodewatch_agent_log_lines_dropped_total")
            .expect("family");
        assert!(
            dropped
                .metrics
                .iter()
                .any(|s| s.labels.get("reason") == Some("spill_corrupt")
                    && s.value.as_scalar() == Some(1.0))
        );
    }

    #[test]
    fn a_full_buffer_waits_until_a_commit_frees_room() {
        let d = tempfile::tempdir().expect("tmp");
        let (q, _) = open(d.path(), 1); // raised to the 1 MiB floor
        let q = Arc::new(q);
        let big: Vec<LogEntry> = entries(0, 1)
            .into_iter()
            .map(|mut e| {
                e.line = "x".repeat(700 * 1024).into();
                e
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        q.append(&big, &stop).expect("first fits");
        let (q2, big2, stop2) = (Arc::clone(&q), big.clone(), Arc::clone(&stop));
        let t = std::thread::spawn(move || q2.append(&big2, &stop2));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!t.is_finished(), "the second append waits for room");
        let (_, c) = q.next(Duration::from_millis(10)).expect("record");
        q.commit(c).expect("commit");
        // The writer's own segment is kept until the next one starts; the commit lets it through
        // once the bytes are freed, or the stop flag ends the wait.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let r = t.join().expect("thread");
        assert!(r.is_ok() || matches!(r, Err(SpillError::Closed)));
        assert!(q.bytes() <= q.max_bytes());
    }
}

/// Pseudo-random text with repeats (snappy finds matches and literals), `n` bytes.
fn text_like(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "level=info ", "msg=\"request done\" ", "path=/api/v1/push ", "status=200 ", "took=",
        "ms ", "user=", "error ", "\n", "\u{e9}t\u{e9} ",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 32);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            out.extend_from_slice(format!("{} ", x % 100_000).as_bytes());
        } else {
            out.extend_from_slice(WORDS[(x % WORDS.len() as u64) as usize].as_bytes());
        }
    }
    out.truncate(n);
    out
}

#[test]
fn snappy_writer_matches_snap_on_the_whole_input_for_any_pieces() {
    let sizes = [
        0usize,
        1,
        16,
        17,
        1000,
        65_535,
        65_536,
        65_537,
        131_072,
        3 * 65_536 + 5,
        1_100_000,
    ];
    let mut w = SnappyWriter::default();
    for (i, &n) in sizes.iter().enumerate() {
        let input = text_like(n, i as u64 + 7);
        let want = snap::raw::Encoder::new()
            .compress_vec(&input)
            .expect("compress");
        // Pieces of varied lengths, including ones longer than a block.
        for piece in [1usize, 7, 300, 65_536, 200_000] {
            w.begin(n).expect("begin");
            let mut x = piece as u64 + 3;
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let take = (1 + (x >> 33) as usize % piece).min(rest.len());
                w.put(&rest[..take]);
                rest = &rest[take..];
            }
            let got = w.finish().expect("finish");
            assert_eq!(got, want, "{n} bytes in pieces of up to {piece}");
            assert_eq!(
                snap::raw::Decoder::new().decompress_vec(&got).expect("valid"),
                input
            );
            w.give_back(got);
        }
    }
}

#[test]
fn snappy_writer_refuses_a_body_of_another_length_than_announced() {
    let mut w = SnappyWriter::default();
    w.begin(10).expect("begin");
    w.put(b"123456789");
    assert_eq!(
        w.finish(),
        Err(SnappyError::Length {
            announced: 10,
            taken: 9
        })
    );
    w.begin(10).expect("begin");
    w.put(b"12345678901");
    assert!(matches!(w.finish(), Err(SnappyError::Length { .. })));
    // Over a block boundary too.
    w.begin(70_000).expect("begin");
    w.put(&text_like(140_000, 1));
    assert!(matches!(w.finish(), Err(SnappyError::Length { .. })));
    // And it is usable again afterwards.
    w.begin(3).expect("begin");
    w.put(b"abc");
    let body = w.finish().expect("finish");
    assert_eq!(
        snap::raw::Decoder::new().decompress_vec(&body).expect("valid"),
        b"abc"
    );
}

#[test]
fn protobuf_written_through_snappy_equals_the_plain_encoding_compressed() {
    // Long lines (several 64 KiB blocks), short ones, metadata of every length, odd times.
    let a = labels(&[("job", "files"), ("filename", "/a.log")]);
    let b = labels(&[("job", "files"), ("filename", "/b.log")]);
    let mut c = Chunk::default();
    for i in 0..3000i64 {
        let n = match i % 500 {
            0 => 150_000,
            1 => 0,
            _ => 40 + (i as usize * 37) % 400,
        };
        let line = String::from_utf8(text_like(n, i as u64)).unwrap_or_default();
        let s = if i % 3 == 0 { &b } else { &a };
        let mut e = entry(s, i * 999_999_937 - 5_000_000_000, &line);
        if i % 2 == 0 {
            e.metadata = Metadata::from_vec(vec![
                ("pattern".into(), format!("{:016x}", i * 7919).into()),
                ("trace_id".into(), "x".repeat((i % 70) as usize).into()),
            ]);
        }
        c.push(e);
    }
    let mut batch = Batch::default();
    batch.add(c);
    let streams = batch.streams();
    let mut raw = Vec::new();
    encode_protobuf(&streams, &mut raw);
    assert!(raw.len() > 3 * 65_536);
    let plan = Plan::of(&streams);
    assert_eq!(plan.total, raw.len());
    let mut w = SnappyWriter::default();
    w.begin(plan.total).expect("begin");
    write_protobuf(&streams, &plan, &mut w);
    let body = w.finish().expect("finish");
    assert_eq!(
        body,
        snap::raw::Encoder::new().compress_vec(&raw).expect("compress")
    );
    let req = proto::PushRequest::decode(
        snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("valid")
            .as_slice(),
    )
    .expect("protobuf");
    assert_eq!(
        req.streams.iter().map(|s| s.entries.len()).sum::<usize>(),
        3000
    );
}
