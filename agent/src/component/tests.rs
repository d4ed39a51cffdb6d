use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::config::{Config, parse};
use crate::event::{Family, Labels};
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
