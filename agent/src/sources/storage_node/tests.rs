use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::event::Value;
use crate::sources::Source;

const CAPTURED: &str = r#"# HELP storage_node_op_latency_seconds Latency of S3 operations.
# TYPE storage_node_op_latency_seconds histogram
storage_node_op_latency_seconds_bucket{op="put",outcome="ok",le="0.005"} 3
storage_node_op_latency_seconds_bucket{op="put",outcome="ok",le="0.1"} 9
storage_node_op_latency_seconds_bucket{op="put",outcome="ok",le="+Inf"} 10
storage_node_op_latency_seconds_sum{op="put",outcome="ok"} 0.42
storage_node_op_latency_seconds_count{op="put",outcome="ok"} 10
# HELP storage_node_slow_ops Operations in flight longer than the slow-op threshold.
# TYPE storage_node_slow_ops gauge
storage_node_slow_ops 2
# HELP storage_node_checksum_errors_total Objects whose CRC32C did not match.
# TYPE storage_node_checksum_errors_total counter
storage_node_checksum_errors_total 1
# HELP process_cpu_seconds_total not re-exposed
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 9
"#;

/// Serves `/metrics` and `/admin/status` for a bounded number of connections.
async fn serve(
    status_json: &'static str,
    metrics_text: &'static str,
    conns: usize,
) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let (ct, body) = if req.starts_with("GET /metrics") {
                    ("text/plain; version=0.0.4", metrics_text)
                } else if req.starts_with("GET /admin/status") {
                    ("application/json", status_json)
                } else {
                    ("text/plain", "")
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn scrapes_and_relabels_with_node_id() {
    let addr = serve(
        r#"{"node_id":"node-a","node_name":"alpha","peers":[]}"#,
        CAPTURED,
        8,
    )
    .await;
    let down = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let down_addr = down.local_addr().expect("addr");
    drop(down);
    let cfg = StorageNodeConfig {
        urls: vec![format!("http://{addr}"), format!("http://{down_addr}")],
        ..StorageNodeConfig::default()
    };
    let (mut ctx, _tx) = crate::test_support::build_context(std::path::Path::new("/nonexistent"));
    let src = StorageNodeSource::new(&cfg, &mut ctx).expect("build");
    let fams = src.collect().await.expect("collect");
    let lat = fams
        .iter()
        .find(|f| f.name == "storage_node_op_latency_seconds")
        .expect("latency family");
    assert_eq!(lat.metrics[0].labels.get("node_id"), Some("node-a"));
    assert_eq!(lat.metrics[0].labels.get("node_name"), Some("alpha"));
    assert_eq!(lat.metrics[0].labels.get("op"), Some("put"));
    assert!(matches!(&lat.metrics[0].value, Value::Histogram(h) if h.count == 10.0));
    assert!(
        fams.iter()
            .any(|f| f.name == "storage_node_checksum_errors_total")
    );
    assert!(!fams.iter().any(|f| f.name == "process_cpu_seconds_total"));
    let up = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_storage_node_up")
        .expect("up");
    let ups: Vec<_> = up
        .metrics
        .iter()
        .map(|m| {
            (
                m.labels.get("target").map(str::to_string),
                m.value.as_scalar(),
            )
        })
        .collect();
    assert!(
        ups.contains(&(Some(format!("http://{addr}")), Some(1.0))),
        "{ups:?}"
    );
    assert!(
        ups.contains(&(Some(format!("http://{down_addr}")), Some(0.0))),
        "{ups:?}"
    );
}

#[tokio::test]
async fn bad_exposition_counts_a_parse_error() {
    let addr = serve(r#"{"node_id":"n"}"#, "storage_node_x{oops 1\n", 4).await;
    let cfg = StorageNodeConfig {
        urls: vec![format!("http://{addr}")],
        ..StorageNodeConfig::default()
    };
    let (mut ctx, _tx) = crate::test_support::build_context(std::path::Path::new("/nonexistent"));
    let metrics = Arc::clone(ctx.metrics());
    metrics.register("storage_node");
    let src = StorageNodeSource::new(&cfg, &mut ctx).expect("build");
    let fams = src.collect().await.expect("collect");
    assert_eq!(metrics.parse_errors("storage_node"), 1);
    let up = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_storage_node_up")
        .expect("up");
    assert_eq!(up.metrics[0].value.as_scalar(), Some(0.0));
}

#[test]
fn url_checks() {
    assert!(check_url("http://127.0.0.1:9900").is_ok());
    assert!(check_url("https://127.0.0.1:9900").is_err());
    assert!(check_url("127.0.0.1:9900").is_err());
    assert!(check_url("http://x:1/?a=b").is_err());
}
