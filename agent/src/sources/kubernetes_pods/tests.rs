//! Unit tests: pod paths, discovery and labels.

use std::path::Path;

use super::*;
use crate::sources::tail::Discover;

#[test]
fn pod_paths_give_namespace_pod_uid_container() {
    let root = Path::new("/var/log/pods");
    let p = parse_pod_path(root, Path::new("/var/log/pods/kube-system_coredns-5d78c9869d-abcde_0b9d7c1e-1111-2222-3333-444455556666/coredns/0.log")).expect("ok");
    assert_eq!(p.namespace, "kube-system");
    assert_eq!(p.pod, "coredns-5d78c9869d-abcde");
    assert_eq!(p.uid, "0b9d7c1e-1111-2222-3333-444455556666");
    assert_eq!(p.container, "coredns");
    assert!(
        parse_pod_path(
            root,
            Path::new("/var/log/pods/ns_pod_uid/c/1.log.20240101-120000")
        )
        .is_some()
    );
    for bad in [
        "/var/log/pods/ns_pod_uid/c/0.log.20240101-120000.gz",
        "/var/log/pods/ns_pod_uid/c/0.log.tmp",
        "/var/log/pods/ns_pod_uid/c/app.log",
        "/var/log/pods/nounderscore/c/0.log",
        "/var/log/pods/ns_pod_uid/0.log",
        "/elsewhere/ns_pod_uid/c/0.log",
    ] {
        assert!(parse_pod_path(root, Path::new(bad)).is_none(), "{bad}");
    }
}

#[test]
fn discovery_labels_each_file_from_its_path() {
    let d = tempfile::tempdir().expect("ok");
    let dir = d.path().join("default_web-0_uid-1/nginx");
    std::fs::create_dir_all(&dir).expect("ok");
    std::fs::write(dir.join("0.log"), "").expect("ok");
    std::fs::write(dir.join("0.log.20240101-000000.gz"), "").expect("ok");
    let mut disc = PodsDiscover::new(d.path().to_path_buf(), "node-a".into(), Default::default());
    let specs = disc.discover();
    assert_eq!(specs.len(), 1);
    assert_eq!(
        specs[0].labels.rendered,
        r#"{container="nginx", namespace="default", node_name="node-a", pod="web-0"}"#
    );
}

#[test]
fn pod_label_keys_become_loki_label_names() {
    assert_eq!(label_name("app"), "app");
    assert_eq!(
        label_name("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(label_name("9lives"), "_9lives");
    let labels: std::collections::HashMap<String, String> = [
        ("app", "web"),
        ("tier", "front"),
        ("app.kubernetes.io/name", "shop"),
        ("empty", ""),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    let wanted = ["app", "app.kubernetes.io/name", "empty", "absent"].map(String::from);
    assert_eq!(
        pick(&wanted, &labels),
        [
            ("app".to_string(), "web".to_string()),
            ("app_kubernetes_io_name".to_string(), "shop".to_string())
        ]
    );
}

#[test]
fn pod_api_settings_are_checked_only_when_enabled() {
    let mut c = PodApiConfig::default();
    assert!(!c.enabled && c.check().is_ok());
    c.enabled = true;
    assert!(c.check().is_ok());
    c.url = "ftp://api".into();
    assert_eq!(c.check().map_err(|e| e.0), Err("api.url"));
    c.url = "http://127.0.0.1:8001".into();
    c.labels.clear();
    assert_eq!(c.check().map_err(|e| e.0), Err("api.labels"));
}

/// A stand-in for the API server on 127.0.0.1 (no kube-apiserver can run here): it answers
/// `GET /api/v1/namespaces/<ns>/pods/<name>` from `pods` (path -> (status, body)) and records the
/// Authorization headers it saw. It serves at most `max` connections and stops.
fn fake_api(
    pods: Vec<(&'static str, u16, String)>,
    max: usize,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::thread::JoinHandle<()>,
) {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = std::sync::Arc::clone(&seen);
    let h = std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut r = std::io::BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut auth = String::new();
            for _ in 0..100 {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:") {
                    auth = h.trim().to_string();
                }
            }
            seen2.lock().expect("lock").push(format!("{path} {auth}"));
            let (status, body) = pods
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, s, b)| (*s, b.clone()))
                .unwrap_or((404, "{}".to_string()));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen, h)
}

#[test]
fn pod_labels_from_the_api_join_the_path_labels_and_failures_do_not_hold_logs_back() {
    let d = tempfile::tempdir().expect("ok");
    for pod_dir in [
        "shop_web-0_uid-web/nginx",
        "shop_db-0_uid-db/postgres",
        "shop_old-0_uid-gone/app",
    ] {
        let dir = d.path().join(pod_dir);
        std::fs::create_dir_all(&dir).expect("ok");
        std::fs::write(dir.join("0.log"), "").expect("ok");
    }
    let pod = |uid: &str, labels: &str| {
        format!(r#"{{"kind":"Pod","metadata":{{"name":"x","uid":"{uid}","labels":{{{labels}}}}}}}"#)
    };
    let (url, seen, server) = fake_api(
        vec![
            (
                "/api/v1/namespaces/shop/pods/web-0",
                200,
                pod(
                    "uid-web",
                    r#""app":"web","app.kubernetes.io/name":"shop","pod":"spoof","team":"x""#,
                ),
            ),
            ("/api/v1/namespaces/shop/pods/db-0", 500, "oops".to_string()),
            // Same name, another UID: the pod was replaced; its labels are not the old pod's.
            (
                "/api/v1/namespaces/shop/pods/old-0",
                200,
                pod("uid-new", r#""app":"new""#),
            ),
        ],
        3,
    );
    let token = d.path().join("token");
    std::fs::write(&token, "s3cr3t\n").expect("ok");
    let metrics = std::sync::Arc::new(crate::logs::LogMetrics::default());
    let cfg = PodApiConfig {
        enabled: true,
        url,
        token_file: Some(token),
        ca_file: None,
        labels: ["app", "app.kubernetes.io/name", "pod"]
            .map(String::from)
            .into(),
        timeout_ms: 2000,
    };
    cfg.check().expect("valid");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mut ctx, _tx) = crate::test_support::build_context(d.path());
    let http = ctx.http_client(&cfg.client_config()).expect("client");
    let api = PodApi::new(cfg, std::sync::Arc::clone(&metrics), http, rt.handle().clone());
    let mut disc = PodsDiscover::new(d.path().to_path_buf(), "node-a".into(), Default::default())
        .with_api(api);
    let specs = disc.discover();
    let rendered: Vec<&str> = specs.iter().map(|s| s.labels.rendered.as_str()).collect();
    assert_eq!(
        rendered,
        [
            r#"{container="postgres", namespace="shop", node_name="node-a", pod="db-0"}"#,
            r#"{container="app", namespace="shop", node_name="node-a", pod="old-0"}"#,
            // The path's `pod` wins over a pod label of the same name; `team` was not asked for.
            r#"{app="web", app_kubernetes_io_name="shop", container="nginx", namespace="shop", node_name="node-a", pod="web-0"}"#,
        ]
    );
    // Discovery again: answers are cached, the failure is not retried at once.
    assert_eq!(disc.discover().len(), 3);
    server.join().expect("server");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter().all(|s| s
            .to_ascii_lowercase()
            .ends_with("authorization: bearer s3cr3t")),
        "{seen:?}"
    );
    let fams = metrics.families();
    let errors = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_pod_api_errors_total")
        .expect("family");
    let count = |reason: &str| {
        errors
            .metrics
            .iter()
            .find(|m| m.labels.get("reason") == Some(reason))
            .map(|m| m.value.clone())
    };
    assert_eq!(count("http_status"), Some(crate::event::Value::Scalar(1.0)));
    assert_eq!(
        count("connect"),
        Some(crate::event::Value::Scalar(0.0)),
        "the series exists from the start"
    );
}
