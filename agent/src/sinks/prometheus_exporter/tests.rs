use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::event::{Family, Histogram, Labels, Metric, MetricKind, Value};
use crate::exposition::{ParseLimits, parse};
use crate::metrics::AgentMetrics;
use crate::store::Store;

fn sample_families() -> Vec<Family> {
    let mut cpu = Family::counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    cpu.push(Labels::from_pairs([("cpu", "0"), ("mode", "idle")]), 12.5);
    cpu.push(Labels::from_pairs([("cpu", "0"), ("mode", "user")]), 3.0);
    let mut lat = Family::new(
        "storage_node_op_latency_seconds",
        "Op latency \\ with a backslash\nand a newline.",
        MetricKind::Histogram,
    );
    lat.metrics.push(Metric {
        labels: Labels::from_pairs([("op", "put"), ("outcome", "ok")]),
        value: Value::Histogram(Histogram {
            buckets: vec![(0.005, 1.0), (0.1, 4.0)],
            sum: 0.25,
            count: 5.0,
        }),
    });
    let info = Family::gauge("node_uname_info", "uname").with(
        Labels::new().with("version", "#1 SMP \"quoted\" \\ back\nslash"),
        1.0,
    );
    let odd = Family::gauge("weird_values", "specials")
        .with(Labels::new().with("k", "nan"), f64::NAN)
        .with(Labels::new().with("k", "inf"), f64::INFINITY)
        .with(Labels::new().with("k", "big"), 1.7952250263978724e9)
        .with(Labels::new().with("k", "huge"), 2.5e20)
        .with(Labels::new().with("k", "tiny"), 1.5e-7);
    vec![cpu, lat, info, odd]
}

fn promtool_check(text: &str) -> (bool, String) {
    let (code, report) = crate::test_support::promtool_check(text);
    (code == Some(0), report)
}

#[test]
fn text_output_passes_promtool_and_round_trips() {
    let fams = sample_families();
    let mut out = String::new();
    let report = render(fams.iter(), Format::Text, &mut out);
    assert_eq!(report.series, 2 + 5 + 1 + 5);
    let (ok, msg) = promtool_check(&out);
    // promtool lints (e.g. missing unit suffix) exit 3; parse errors exit 1. Our names follow
    // the conventions, so the output must be clean.
    assert!(ok, "promtool check metrics failed:\n{msg}\n---\n{out}");
    let parsed = parse(&out, &ParseLimits::default()).expect("our parser reads our output");
    let lat = parsed
        .iter()
        .find(|f| f.name == "storage_node_op_latency_seconds")
        .expect("histogram");
    match &lat.metrics[0].value {
        Value::Histogram(h) => {
            assert_eq!(h.buckets.len(), 3, "+Inf bucket added");
            assert_eq!(h.count, 5.0);
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(lat.help, "Op latency \\ with a backslash\nand a newline.");
    let info = parsed
        .iter()
        .find(|f| f.name == "node_uname_info")
        .expect("info");
    assert_eq!(
        info.metrics[0].labels.get("version"),
        Some("#1 SMP \"quoted\" \\ back\nslash")
    );
}

#[test]
fn openmetrics_output_has_eof_and_counter_family_names() {
    let fams = sample_families();
    let mut out = String::new();
    render(fams.iter(), Format::OpenMetrics, &mut out);
    assert!(out.ends_with("# EOF\n"), "{out}");
    assert!(out.contains("# TYPE node_cpu_seconds counter\n"), "{out}");
    assert!(
        out.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"),
        "{out}"
    );
    assert!(out.contains("le=\"+Inf\""), "{out}");
    assert!(out.contains("le=\"0.005\""), "{out}");
}

/// The sample names (the part before `{` or the space) of an exposition, without comments.
fn sample_names(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn openmetrics_keeps_every_sample_name_of_the_text_format() {
    // Ceph's counters (ceph-exporter and the mgr type them `counter` without `_total`), a
    // dcgm-exporter counter, and the `_total` kinds the other exporters use.
    let mut fams = sample_families();
    fams.push(
        Family::counter("ceph_osd_op_w", "Client write operations")
            .with(Labels::new().with("ceph_daemon", "osd.0"), 12546.0),
    );
    fams.push(
        Family::counter(
            "ceph_osd_op_w_latency_sum",
            "Latency of write operation (including queue time) Total",
        )
        .with(Labels::new().with("ceph_daemon", "osd.0"), 204.06),
    );
    fams.push(
        Family::counter("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "energy")
            .with(Labels::new().with("gpu", "0"), 1e6),
    );
    let mut text = String::new();
    render(fams.iter(), Format::Text, &mut text);
    let mut om = String::new();
    render(fams.iter(), Format::OpenMetrics, &mut om);
    assert_eq!(sample_names(&text), sample_names(&om), "{om}");
    assert!(om.contains("# TYPE ceph_osd_op_w unknown\n"), "{om}");
    assert!(
        om.contains("ceph_osd_op_w{ceph_daemon=\"osd.0\"} 12546\n"),
        "{om}"
    );
    assert!(!om.contains("_sum_total"), "{om}");
    assert!(om.contains("# TYPE node_cpu_seconds counter\n"), "{om}");
    assert!(text.contains("# TYPE ceph_osd_op_w counter\n"), "{text}");
}

#[test]
fn negotiation() {
    assert_eq!(Format::negotiate(None), Format::Text);
    assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    assert_eq!(
        Format::negotiate(Some(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
        )),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0,text/plain")),
        Format::Text
    );
    assert!(accepts_gzip(Some("gzip, deflate")));
    assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
    assert!(!accepts_gzip(Some("gzip;q=0")));
    assert!(!accepts_gzip(Some("identity")));
    assert!(!accepts_gzip(None));
}

#[test]
fn gzip_when_accepted_and_merges_sources() {
    let metrics = Arc::new(AgentMetrics::new());
    let store = Store::new(HashMap::new(), 1000, Arc::clone(&metrics));
    // Two sources emitting the same family, one overlapping series and one type clash.
    store.put(
        "a",
        vec![Family::gauge("shared", "h").with(Labels::new().with("s", "1"), 1.0)],
        Duration::from_secs(60),
    );
    store.put(
        "b",
        vec![
            Family::gauge("shared", "h")
                .with(Labels::new().with("s", "1"), 9.0)
                .with(Labels::new().with("s", "2"), 2.0),
        ],
        Duration::from_secs(60),
    );
    store.put(
        "c",
        vec![Family::counter("shared", "h").with(Labels::new().with("s", "3"), 3.0)],
        Duration::from_secs(60),
    );
    let r = respond(&store, &metrics, None, Some("gzip"), true);
    assert_eq!(r.content_encoding, Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert_eq!(text.matches("# TYPE shared ").count(), 1, "{text}");
    assert!(text.contains("shared{s=\"1\"} 1\n"), "{text}");
    assert!(!text.contains("shared{s=\"1\"} 9"), "{text}");
    assert!(text.contains("shared{s=\"2\"} 2\n"), "{text}");
    assert!(!text.contains("s=\"3\""), "{text}");
    let (ok, msg) = promtool_check(&text);
    assert!(ok, "{msg}\n{text}");
    let plain = respond(&store, &metrics, None, Some("gzip"), false);
    assert_eq!(plain.content_encoding, None);
    assert!(
        String::from_utf8(plain.body)
            .expect("utf8")
            .contains("nodewatch_agent_render_conflicts_total 2")
    );
}

#[test]
fn render_10k_series() {
    let mut fams = Vec::new();
    for f in 0..100 {
        let mut fam = Family::counter(format!("bench_family_{f}_total"), "bench");
        for i in 0..100 {
            fam.push(
                Labels::from_pairs([("device", format!("dev{i}")), ("mode", "x".to_string())]),
                i as f64 * 1.5,
            );
        }
        fams.push(fam);
    }
    // Speed is measured by benchmarks, not asserted here; this checks that 10k series render whole.
    let mut out = String::with_capacity(1 << 20);
    let r = render(fams.iter(), Format::Text, &mut out);
    assert_eq!(r.series, 10_000);
    assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 10_000);
}
