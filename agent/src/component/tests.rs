use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::buffer::WhenFull;
use crate::config::{Config, parse};
use crate::event::{Family, Labels};
use crate::http_client::HttpClientConfig;
use crate::metrics::AgentMetrics;
use crate::sources::{CollectError, Source};
use crate::store::Store;

fn ctx() -> (BuildContext, Arc<Store>, Arc<AgentMetrics>) {
    let metrics = Arc::new(AgentMetrics::new());
    let store = Arc::new(Store::new(HashMap::new(), 1000, Arc::clone(&metrics)));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let dir = std::path::Path::new("/nonexistent");
    (
        BuildContext::new(dir, Arc::clone(&metrics), Arc::clone(&store), rx),
        store,
        metrics,
    )
}

#[test]
fn every_registered_component_validates_its_defaults_and_ids_are_unique() {
    let c = Config::default();
    let all = c.components();
    assert!(all.len() >= 14, "{}", all.len());
    let mut seen = std::collections::HashSet::new();
    for (kind, id, component) in &all {
        assert!(seen.insert((kind.table(), *id)), "{kind} {id} twice");
        component
            .validate()
            .unwrap_or_else(|e| panic!("{kind} {id}: {e}"));
    }
    // Build order: sources, the sinks transforms feed, transforms, the other sinks.
    let stage = |(k, _, c): &(ComponentKind, &str, &dyn Component)| match k {
        ComponentKind::Source => 0,
        ComponentKind::Sink if c.before_transforms() => 1,
        ComponentKind::Transform => 2,
        ComponentKind::Sink => 3,
    };
    let stages: Vec<u8> = all.iter().map(stage).collect();
    let mut sorted = stages.clone();
    sorted.sort();
    assert_eq!(stages, sorted);
    let pos = |id: &str| {
        all.iter()
            .position(|(_, i, _)| *i == id)
            .expect("registered")
    };
    assert!(pos("alertmanager") < pos("detect") && pos("log_patterns") < pos("loki"));
}

#[test]
fn a_component_error_is_named_under_its_table_with_the_line() {
    let e = parse("[transforms.detect.policy]\nfire_score = 0.5\nresolve_score = 0.8\n")
        .expect_err("resolve above fire");
    let msg = e.to_string();
    assert!(
        msg.contains("transforms.detect.policy.resolve_score") && msg.contains("line 3"),
        "{msg}"
    );
    let e = parse("[transforms.detect.policy]\nmin_samples = 6\nof_samples = 5\n")
        .expect_err("N above M");
    assert!(e.to_string().contains("policy.min_samples"), "{e}");
    let e = parse("[sources.ceph]\nmax_parallel = 0\n").expect_err("zero");
    assert!(
        e.to_string()
            .contains("sources.ceph.max_parallel: must be between 1 and 64"),
        "{e}"
    );
    let e = parse("[[sinks.loki.endpoints]]\nurl = \"http://a/x\"\n[[sinks.loki.endpoints]]\nurl = \"http://b/x\"\nname = \"loki\"\n")
        .expect_err("duplicate names");
    assert!(
        e.to_string().contains("two endpoints are named \"loki\""),
        "{e}"
    );
    assert!(parse("[transforms.detect.policy]\nfire_score = 0.9\nresolve_score = 0.9\n").is_ok());
}

#[test]
fn in_range_names_the_key_and_the_bounds() {
    assert_eq!(in_range("k", 5, 1..=10), Ok(()));
    let e = in_range("k", 11, 1..=10).expect_err("above");
    assert_eq!(e.key, "k");
    assert_eq!(e.to_string(), "k: must be between 1 and 10");
    assert_eq!(ComponentError::whole("boom").to_string(), "boom");
}

#[derive(Debug)]
struct Fixed;

#[async_trait]
impl Source for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let mut f = Family::gauge("fixed_value", "three series");
        for i in 0..3 {
            f.push(Labels::new().with("i", i.to_string()), 1.0);
        }
        Ok(vec![f])
    }
}

#[test]
fn add_source_sets_the_series_limit_and_registers_the_collector() {
    let (mut ctx, store, metrics) = ctx();
    ctx.enter(ComponentKind::Source, "fixed");
    ctx.add_source(Arc::new(Fixed), Schedule::from_config(1, 500), 2);
    assert_eq!(ctx.source_names(), vec!["fixed".to_string()]);
    let families = futures_lite_block(Fixed.collect()).expect("collect");
    let report = store.put("fixed", families, std::time::Duration::from_secs(60));
    assert_eq!(
        (report.kept, report.dropped),
        (2, 1),
        "the limit of 2 applies"
    );
    assert_eq!(metrics.dropped("fixed"), 1);
    let built = ctx.finish();
    assert_eq!(built.sources.len(), 1);
    assert_eq!(
        built.sources[0].1.interval,
        std::time::Duration::from_secs(1)
    );
}

fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn shared_values_are_one_per_type_and_telemetry_is_per_component() {
    let (mut ctx, _store, metrics) = ctx();
    assert!(ctx.get::<String>().is_none());
    ctx.provide(Arc::new("a".to_string()));
    assert_eq!(
        ctx.get::<String>().as_deref().map(String::as_str),
        Some("a")
    );
    let a = ctx.shared::<std::sync::Mutex<u32>>();
    *a.lock().expect("lock") = 7;
    assert_eq!(
        *ctx.shared::<std::sync::Mutex<u32>>().lock().expect("lock"),
        7
    );

    ctx.enter(ComponentKind::Sink, "loki");
    let t = ctx.telemetry();
    t.received(10);
    t.sent(7);
    t.dropped(3);
    t.error();
    ctx.enter(ComponentKind::Source, "loki");
    ctx.telemetry().received(1);
    assert_eq!(t.totals(), (10, 7, 3, 1));
    let fams = metrics.families();
    let received = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_component_received_total")
        .expect("family");
    let sink = received
        .metrics
        .iter()
        .find(|m| m.labels.get("component_kind") == Some("sink"))
        .expect("the sink's series");
    assert_eq!(sink.labels.get("component_id"), Some("loki"));
    assert_eq!(sink.value.as_scalar(), Some(10.0));
    assert_eq!(received.metrics.len(), 2, "one series per (kind, id)");
}

#[test]
fn http_clients_are_one_per_setting() {
    let (mut ctx, _store, _metrics) = ctx();
    let timeout = std::time::Duration::from_secs(1);
    let a = HttpClientConfig::new("http://127.0.0.1:1/a", timeout);
    let one = ctx.http_client(&a).expect("client");
    let again = ctx.http_client(&a.clone()).expect("client");
    assert!(one.same_as(&again), "equal settings share one client");
    let other = ctx
        .http_client(&HttpClientConfig::new("http://127.0.0.1:1/b", timeout))
        .expect("client");
    assert!(!one.same_as(&other), "another URL is another client");
    let e = ctx
        .http_client(&HttpClientConfig::new("ftp://x", timeout))
        .expect_err("scheme");
    assert_eq!(e.key, "url");
}

#[test]
fn a_bad_ca_file_is_the_same_error_naming_the_key_in_every_component() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").expect("write");
    let ca = ca.display().to_string();
    let reason = format!("{ca}: no usable CA certificate in it");
    let cases = [
        (
            format!("[sinks.alertmanager]\nurls = [\"https://am:9093\"]\nca_file = \"{ca}\"\n"),
            "build sinks.alertmanager.ca_file: ",
        ),
        (
            format!(
                "[sinks.prometheus_remote_write]\nurl = \"https://p:9090/api/v1/write\"\ntls_ca_file = \"{ca}\"\n"
            ),
            "build sinks.prometheus_remote_write.tls_ca_file: ",
        ),
        (
            format!(
                "[sources.files]\ninclude = [\"/nonexistent/*.log\"]\n[[sinks.loki.endpoints]]\nurl = \"http://a:3100/x\"\n[[sinks.loki.endpoints]]\nurl = \"https://l:3100/loki/api/v1/push\"\nca_file = \"{ca}\"\n"
            ),
            "build sinks.loki.endpoints[1].ca_file: ",
        ),
        (
            format!(
                "[sources.kubernetes_pods]\nenabled = true\n[sources.kubernetes_pods.api]\nenabled = true\nurl = \"https://k:6443\"\nca_file = \"{ca}\"\n"
            ),
            "build sources.kubernetes_pods.api.ca_file: ",
        ),
    ];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (text, want) in cases {
        let mut config = parse(&format!(
            "data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n[pipeline]\nlisten = \"127.0.0.1:0\"\n[sources.host]\nenabled = false\n[sources.storage_node]\nenabled = false\n[sources.smartctl]\nenabled = false\n{text}",
            dir.path().display()
        ))
        .expect("valid config");
        config.sources.nvml.enabled = crate::sources::nvml::Enabled::Off;
        let e = rt
            .block_on(crate::topology::start(&config))
            .expect_err("bad CA");
        assert_eq!(e.to_string(), format!("{want}{reason}"), "{text}");
    }
}

#[test]
fn a_disk_queue_directory_is_opened_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut ctx, _tx) = crate::test_support::build_context(dir.path());
    let limits = crate::buffer::QueueConfig {
        max_bytes: 1 << 20,
        segment_bytes: 64 * 1024,
    };
    let weigh: crate::buffer::Weigher = |_| 1;
    ctx.enter(ComponentKind::Sink, "a");
    let (q, report) = ctx
        .disk_queue("q", WhenFull::Block, limits, weigh)
        .expect("open");
    assert_eq!((q.bound(), report.pending_weight), (1 << 20, 0));
    assert!(dir.path().join("q").is_dir(), "under the data directory");
    ctx.enter(ComponentKind::Sink, "b");
    let e = ctx
        .disk_queue("q", WhenFull::DropOldest, limits, weigh)
        .expect_err("twice");
    assert!(e.to_string().contains("already used by sinks.a"), "{e}");
}

#[derive(Debug)]
struct Unused;

#[async_trait]
impl Source for Unused {
    fn name(&self) -> &str {
        "unused"
    }
    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        Ok(Vec::new())
    }
}

#[test]
fn add_collected_schedules_a_source_or_passes_its_error_on() {
    let (mut ctx, store, _metrics) = ctx();
    ctx.enter(ComponentKind::Source, "fixed");
    ctx.add_collected(Ok::<_, String>(Fixed), 2, 700, 2)
        .expect("added");
    let e = ctx
        .add_collected(Err::<Unused, _>("no socket"), 1, 500, 1)
        .expect_err("passed on");
    assert_eq!(e, ComponentError::whole("no socket"));
    let families = futures_lite_block(Fixed.collect()).expect("collect");
    assert_eq!(
        store
            .put("fixed", families, std::time::Duration::from_secs(60))
            .kept,
        2
    );
    let built = ctx.finish();
    assert_eq!(built.sources.len(), 1);
    assert_eq!(
        built.sources[0].1,
        Schedule::from_config(2, 700),
        "interval_secs and timeout_ms"
    );
}
