use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::*;

fn settings(url: &str) -> HttpClientConfig {
    HttpClientConfig::new(url, Duration::from_secs(5))
}

#[test]
fn urls_are_checked_once_with_a_reason() {
    assert!(check_url("http://127.0.0.1:3100/loki/api/v1/push").is_ok());
    assert!(check_url("https://[::1]:9090/api/v1/write").is_ok());
    assert!(
        check_url("ftp://x/y")
            .expect_err("scheme")
            .contains("scheme")
    );
    assert!(
        check_url("http://u:p@x/y")
            .expect_err("creds")
            .contains("basic_auth")
    );
    assert!(check_url("not a url").is_err());
    let e = HttpClient::new(&settings("ftp://x")).expect_err("scheme");
    assert!(e.to_string().contains("ftp://x"), "{e}");
}

#[test]
fn basic_auth_is_rfc4648_base64() {
    assert_eq!(basic_auth_value("user", "pass"), "Basic dXNlcjpwYXNz");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b""), "");
}

#[test]
fn credentials_and_ca_files_are_checked_when_the_client_is_built() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = settings("http://127.0.0.1:1/x");
    s.auth = Auth::Bearer {
        token_file: dir.path().join("missing"),
    };
    let e = HttpClient::new(&s).expect_err("missing token");
    assert!(e.to_string().contains("bearer_token_file"), "{e}");

    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    let mut s = settings("https://127.0.0.1:1/x");
    s.ca_file = Some(not_pem);
    let e = HttpClient::new(&s).expect_err("no certificate");
    assert!(
        e.to_string().contains("ca_file") && e.to_string().contains("no usable CA"),
        "{e}"
    );
}

/// A one-connection server answering every request with `status` and `body`.
async fn server(status: u16, body: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        async move {
                            let auth = req
                                .headers()
                                .get(http::header::AUTHORIZATION)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let mut r = http::Response::new(http_body_util::Full::new(
                                Bytes::from(if body.is_empty() {
                                    auth.into_bytes()
                                } else {
                                    body
                                }),
                            ));
                            *r.status_mut() = StatusCode::from_u16(status).expect("status");
                            r.headers_mut()
                                .insert(http::header::RETRY_AFTER, "7".parse().expect("value"));
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_post_reads_a_bounded_answer_and_reuses_the_connection() {
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pass\n").expect("write");
    let addr = server(429, Vec::new()).await;
    let url = format!("http://{addr}/push");
    let mut s = settings(&url);
    s.auth = Auth::Basic {
        username: "user".into(),
        password_file: pw,
    };
    let c = HttpClient::new(&s).expect("client");
    let mut conn = None;
    let a = c
        .post(&mut conn, HeaderMap::new(), Bytes::from_static(b"x"), 1024)
        .await
        .expect("answer");
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.retry_after.as_deref(), Some("7"));
    assert_eq!(a.body, b"Basic dXNlcjpwYXNz", "the password file is read");
    assert!(a.complete);
    assert!(conn.is_some(), "kept for the next request");

    let addr = server(400, vec![b'e'; 5000]).await;
    let url = format!("http://{addr}/push");
    let c = HttpClient::new(&settings(&url)).expect("client");
    let mut conn = None;
    let a = c
        .post(&mut conn, HeaderMap::new(), Bytes::new(), 100)
        .await
        .expect("answer");
    assert_eq!(a.body.len(), 100);
    assert!(!a.complete);
    assert!(
        conn.is_none(),
        "a connection with unread answer bytes is dropped"
    );
}

#[tokio::test]
async fn an_unreachable_receiver_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url = format!("http://{addr}/push");
    let mut s = settings(&url);
    s.timeout = Duration::from_secs(2);
    let c = HttpClient::new(&s).expect("client");
    let mut conn = None;
    let e = c
        .post(&mut conn, HeaderMap::new(), Bytes::new(), 10)
        .await
        .expect_err("refused");
    assert!(e.contains("connect"), "{e}");
    assert!(conn.is_none());
}

#[tokio::test]
async fn requests_append_their_path_and_reuse_pooled_connections() {
    // A server that answers with the request's target and counts connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&conns);
    tokio::spawn(async move {
        for _ in 0..8 {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let target = format!("{} {}", req.method(), req.uri());
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(Bytes::from(target)),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let c = HttpClient::new(&settings(&format!("http://{addr}/prefix/"))).expect("client");
    for _ in 0..3 {
        let a = c
            .get("/api/v1/query?query=up", HeaderMap::new(), 1024)
            .await
            .expect("answer");
        assert_eq!(a.body, b"GET /prefix/api/v1/query?query=up");
    }
    let a = c
        .request(
            http::Method::POST,
            "/api/v2/alerts",
            HeaderMap::new(),
            Bytes::from_static(b"[]"),
            1024,
        )
        .await
        .expect("answer");
    assert_eq!(a.body, b"POST /prefix/api/v2/alerts");
    assert_eq!(
        conns.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one connection, kept in the pool between requests"
    );
    let a = c.get("/x", HeaderMap::new(), 4).await.expect("answer");
    assert!(!a.complete, "a longer answer is cut at the bound");
}

#[tokio::test]
async fn a_timeout_is_its_own_error() {
    // Accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let held = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(held);
    });
    let mut s = settings(&format!("http://{addr}"));
    s.timeout = Duration::from_millis(200);
    let c = HttpClient::new(&s).expect("client");
    let e = c.get("/", HeaderMap::new(), 10).await.expect_err("timeout");
    assert_eq!(e, RequestError::Timeout(Duration::from_millis(200)));
    assert_eq!(e.to_string(), "no answer within 200 ms");
}
