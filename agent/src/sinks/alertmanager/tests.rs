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

/// The TLS fixtures: a test CA and a server certificate for 127.0.0.1 it signed.
fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// An HTTPS server with the fixture certificate that records `METHOD PATH BODY` of every request
/// and answers 200; at most 16 connections.
async fn https_alertmanager() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use http_body_util::BodyExt as _;
    let pem = std::fs::read(tls_fixture("server.pem")).expect("server.pem");
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = std::fs::read(tls_fixture("server.key")).expect("server.key");
    let key = rustls_pemfile::private_key(&mut key.as_slice())
        .expect("pem")
        .expect("a key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, recorded) = (acceptor.clone(), std::sync::Arc::clone(&recorded));
            tokio::spawn(async move {
                // A client that does not trust the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let recorded = std::sync::Arc::clone(&recorded);
                        async move {
                            let line = format!("{} {}", req.method(), req.uri().path());
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let body = String::from_utf8_lossy(&body).into_owned();
                            recorded.lock().expect("lock").push(format!("{line} {body}"));
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_an_https_alertmanager_trusted_through_its_ca_file_only() {
    use crate::component::{Component as _, ComponentKind};
    let (addr, seen) = https_alertmanager().await;
    let url = format!("https://127.0.0.1:{}", addr.port());
    let dir = tempfile::tempdir().expect("tmp");
    let book = std::sync::Arc::new(AlertBook::new());
    book.fire(Alert {
        labels: BTreeMap::from([("alertname".to_string(), "TlsTest".to_string())]),
        annotations: BTreeMap::new(),
        starts_at: UNIX_EPOCH + Duration::from_secs(1_000_000),
        ends_at: None,
        value: 1.0,
    });
    // Delivery with the CA file, and with the system bundle, which does not hold the test CA.
    let mut delivered = Vec::new();
    for ca_file in [Some(tls_fixture("ca.pem")), None] {
        let (mut ctx, stop) = crate::test_support::build_context(dir.path());
        ctx.enter(ComponentKind::Sink, "alertmanager");
        let config = AlertmanagerConfig {
            urls: vec![url.clone()],
            ca_file,
            ..Default::default()
        };
        config.validate().expect("https is allowed");
        let stats = std::sync::Arc::new(SinkStats::new(ctx.telemetry()));
        let sink = AlertmanagerSink::new(
            config,
            std::sync::Arc::clone(&book),
            std::sync::Arc::clone(&stats),
            &mut ctx,
        )
        .expect("sink");
        let task = tokio::spawn(sink.run(ctx.shutdown()));
        let outcome = || stats.snapshot().get(&url).copied().unwrap_or_default();
        for _ in 0..200 {
            if outcome().sent > 0 || outcome().failures > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops")
            .expect("join");
        delivered.push(outcome());
    }
    assert_eq!(
        (delivered[0].sent, delivered[0].failures),
        (1, 0),
        "with ca_file"
    );
    assert_eq!(
        (delivered[1].sent, delivered[1].failures.min(1)),
        (0, 1),
        "the system bundle does not trust the test CA"
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("POST /api/v2/alerts [") && seen[0].contains("\"TlsTest\""),
        "{seen:?}"
    );
}
