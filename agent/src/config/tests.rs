use super::*;

#[test]
fn empty_file_is_the_embedded_defaults() {
    let c = parse("").expect("empty config");
    assert_eq!(c, Config::default());
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:9464");
    assert!(c.sources.host.enabled);
    assert_eq!(c.sources.smartctl.enabled, None, "SMART is auto by default");
    assert_eq!(
        c.sources.storage_node.urls,
        vec!["http://127.0.0.1:9900".to_string()]
    );
    assert_eq!(c.sinks.prometheus_exporter.path, "/metrics");
}

#[test]
fn unknown_key_names_its_line() {
    let text = "log_level = \"info\"\n\n[sources.host]\ninterval_secs = 10\nintervall_secs = 5\n";
    match parse(text) {
        Err(ConfigError::Syntax { line, message, .. }) => {
            assert_eq!(line, 5, "{message}");
            assert!(message.contains("intervall_secs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_type_names_its_line() {
    let text = "[api]\nlisten = 9464\n";
    match parse(text) {
        Err(ConfigError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn semantic_errors_name_key_and_line() {
    let text = "[sources.storage_node]\nurls = [\"https://x:1\"]\n";
    let e = parse(text).expect_err("https refused");
    let msg = e.to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains("sources.storage_node.urls"), "{msg}");

    let text = "[sources.host]\ninterval_secs = 5\ntimeout_ms = 6000\n";
    let msg = parse(text).expect_err("timeout over interval").to_string();
    assert!(
        msg.contains("line 3") && msg.contains("timeout_ms"),
        "{msg}"
    );

    let text = "[sources.host]\nnetdev_device_exclude = \"(\"\n";
    assert!(
        parse(text)
            .expect_err("bad regex")
            .to_string()
            .contains("netdev_device_exclude")
    );

    let text = "[[sources.smartctl.devices]]\nname = \"-x\"\n";
    assert!(parse(text).is_err());
}

#[test]
fn full_file_parses() {
    let text = r#"
data_dir = "/tmp/na"
log_level = "agent=debug,info"
[api]
listen = "127.0.0.1:19464"
[sources.host]
collectors = ["cpu", "meminfo"]
procfs_path = "/host/proc"
[sources.smartctl]
enabled = true
smartctl_path = "/usr/sbin/smartctl"
devices = [{ name = "/dev/bus/6", device_type = "megaraid,14" }]
[sources.storage_node]
urls = ["http://127.0.0.1:9900", "http://127.0.0.1:9901"]
[sinks.prometheus_exporter]
gzip = false
"#;
    let c = parse(text).expect("parse");
    assert_eq!(c.sources.host.collectors.len(), 2);
    assert_eq!(
        c.sources.smartctl.devices[0].device_type.as_deref(),
        Some("megaraid,14")
    );
    assert!(!c.sinks.prometheus_exporter.gzip);
}

#[test]
fn flags_override_the_file() {
    let mut c =
        parse("[api]\nlisten = \"127.0.0.1:1\"\n[sources.storage_node]\nurls = [\"http://a:1\"]\n")
            .expect("parse");
    c.apply(&Overrides {
        listen: Some("127.0.0.1:2".parse().expect("addr")),
        data_dir: Some("/d".into()),
        storage_nodes: vec!["http://b:2".into(), "http://c:3".into()],
        smartctl_path: Some("/x/smartctl".into()),
        log_level: Some("debug".into()),
        ..Overrides::default()
    });
    assert_eq!(c.api.listen.port(), 2);
    assert_eq!(c.data_dir, std::path::PathBuf::from("/d"));
    assert_eq!(c.sources.storage_node.urls.len(), 2);
    assert_eq!(
        c.sources.smartctl.smartctl_path,
        std::path::PathBuf::from("/x/smartctl")
    );
    assert_eq!(c.log_level, "debug");
    // Flags that are not given leave the file alone.
    let before = c.clone();
    c.apply(&Overrides::default());
    assert_eq!(c, before);
}

#[test]
fn check_config_reads_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("a.toml");
    std::fs::write(&p, "[api]\nlisten = \"127.0.0.1:9464\"\nbogus = 1\n").expect("write");
    let e = check_config(&p).expect_err("bogus key");
    assert!(e.to_string().contains("line 3"), "{e}");
    assert!(check_config(&dir.path().join("missing.toml")).is_err());
}

#[test]
fn log_flags_and_tables() {
    let mut c = parse(
        r#"
[sources.files]
include = ["/var/log/app/*.log"]
labels = { env = "prod" }
parse = { format = "json", timestamp_field = "timestamp" }
multiline = { start_pattern = "^\\d{4}-" }

[sources.kubernetes_pods]
enabled = true
root = "/pods"

[[sinks.loki.endpoints]]
url = "http://loki:3100/loki/api/v1/push"
tenant_id = "team-a"
encoding = "json"
"#,
    )
    .expect("valid");
    assert_eq!(c.sources.files.include, vec!["/var/log/app/*.log"]);
    assert_eq!(
        c.sinks.loki.endpoints[0].tenant_id.as_deref(),
        Some("team-a")
    );
    c.apply(&Overrides {
        loki_urls: vec![
            "http://a/loki/api/v1/push".into(),
            "https://b/loki/api/v1/push".into(),
        ],
        log_paths: vec!["/x/*.log".into()],
        pod_logs_dir: Some("/other".into()),
        ..Overrides::default()
    });
    assert_eq!(c.sinks.loki.endpoints.len(), 2);
    assert_eq!(c.sources.files.include, vec!["/x/*.log"]);
    assert_eq!(
        c.sources.kubernetes_pods.root,
        std::path::PathBuf::from("/other")
    );
    assert_eq!(c.sinks.loki.sink_names(), vec!["loki", "loki_1"]);
    // Unknown keys and bad values are named.
    let e = parse("[sinks.loki]\nendpoint = []\n")
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("endpoint"), "{e}");
    let e = parse("[[sinks.loki.endpoints]]\nurl = \"ftp://x\"\n")
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("scheme"), "{e}");
    let e = parse("[sources.files]\ninclude = [\"/a\"]\nmultiline = { start_pattern = \"(\" }\n")
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("start_pattern"), "{e}");
}
