use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::*;
use crate::event::{Family, Labels};
use crate::sources::{CollectError, Source};

#[derive(Debug)]
struct Sleepy {
    started: AtomicUsize,
}

#[async_trait]
impl Source for Sleepy {
    fn name(&self) -> &str {
        "sleepy"
    }
    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(vec![
            Family::gauge("sleepy_value", "never").with(Labels::new(), 1.0),
        ])
    }
}

#[derive(Debug)]
struct Quick {
    runs: AtomicUsize,
}

#[async_trait]
impl Source for Quick {
    fn name(&self) -> &str {
        "quick"
    }
    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(vec![
            Family::gauge("quick_runs", "runs").with(Labels::new(), n as f64),
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_source_blocks_neither_other_sources_nor_the_scrape() {
    let metrics = Arc::new(AgentMetrics::new());
    metrics.register("sleepy");
    metrics.register("quick");
    let store = Arc::new(Store::new(HashMap::new(), 1000, Arc::clone(&metrics)));
    let (tx, rx) = watch::channel(false);
    let sleepy = Arc::new(Sleepy {
        started: AtomicUsize::new(0),
    });
    let quick = Arc::new(Quick {
        runs: AtomicUsize::new(0),
    });
    let fast = Schedule::new(Duration::from_millis(50), Duration::from_millis(40));
    let slow = Schedule::new(Duration::from_millis(100), Duration::from_millis(150));
    let h1 = spawn_source(
        sleepy.clone(),
        slow,
        Arc::clone(&store),
        Arc::clone(&metrics),
        rx.clone(),
    );
    let h2 = spawn_source(
        quick.clone(),
        fast,
        Arc::clone(&store),
        Arc::clone(&metrics),
        rx,
    );

    // Within a bounded wait, the quick source runs many times while sleepy is stuck.
    let mut waited = 0;
    while quick.runs.load(Ordering::SeqCst) < 10 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert!(
        quick.runs.load(Ordering::SeqCst) >= 10,
        "quick source starved"
    );

    // A scrape right now answers fast and has quick's data, not sleepy's.
    let start = std::time::Instant::now();
    let resp = crate::sinks::prometheus_exporter::respond(&store, &metrics, None, None, false);
    assert!(start.elapsed() < Duration::from_millis(500));
    let body = String::from_utf8(resp.body).expect("utf8");
    assert!(body.contains("quick_runs "), "{body}");
    assert!(!body.contains("sleepy_value"), "{body}");

    // The sleepy source timed out, was reported as failed and was not started twice at once.
    let mut waited = 0;
    while metrics.last_success("sleepy") != Some(false) && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(metrics.last_success("sleepy"), Some(false));
    assert_eq!(metrics.last_success("quick"), Some(true));
    assert!(
        body.contains("nodewatch_agent_collector_success{collector=\"quick\"} 1"),
        "{body}"
    );
    let body2 = String::from_utf8(
        crate::sinks::prometheus_exporter::respond(&store, &metrics, None, None, false).body,
    )
    .expect("utf8");
    assert!(
        body2.contains("nodewatch_agent_collector_timeouts_total{collector=\"sleepy\"}"),
        "{body2}"
    );
    assert!(
        !body2.contains("nodewatch_agent_collector_timeouts_total{collector=\"sleepy\"} 0\n"),
        "{body2}"
    );

    let _ = tx.send(true);
    for h in [h1, h2] {
        tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .expect("source task stops on shutdown")
            .expect("no panic");
    }
}

#[tokio::test]
async fn whole_agent_serves_metrics_and_healthz_on_an_ephemeral_port() {
    let mut cfg = Config::default();
    cfg.api.listen = "127.0.0.1:0".parse().expect("addr");
    // Every listener on an ephemeral port: the pipeline's default, 127.0.0.1:4318, may be taken.
    cfg.pipeline.listen = "127.0.0.1:0".parse().expect("addr");
    let state = tempfile::tempdir().expect("tempdir");
    cfg.data_dir = state.path().to_owned();
    cfg.sources.smartctl.enabled = Some(false);
    cfg.sources.storage_node.enabled = false;
    cfg.sources.host.interval_secs = 1;
    cfg.sources.host.timeout_ms = 1000;
    let running = start(&cfg).await.expect("start");
    let addr = running.addr;
    let mut body = String::new();
    for _ in 0..50 {
        body = http_get(addr, "/metrics").await;
        if body.contains("node_load1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body.contains("node_load1"), "{body}");
    assert!(
        body.contains("nodewatch_agent_collector_success{collector=\"host\"} 1"),
        "{body}"
    );
    assert!(http_get(addr, "/healthz").await.contains("ok"));
    assert!(http_get(addr, "/nope").await.contains("404"));
    running.stop().await;
}

/// A minimal HTTP/1.0 GET returning the whole response (status line included).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}
