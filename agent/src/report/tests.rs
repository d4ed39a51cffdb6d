use super::compute::check_period;
use super::prom::form_encode;
use super::*;

const SPEC: &str = r#"
version: 1
slos:
  - name: storage-availability
    description: Non-5xx S3 requests.
    alert: StorageAvailabilityBudgetBurn
    objective: 0.999
    window: 30d
    sli:
      type: ratio
      total: storage_node_op_latency_seconds_count
      bad: storage_node_op_latency_seconds_count{outcome="server_error"}
  - name: storage-latency
    description: Fast enough.
    alert: StorageLatencyBudgetBurn
    objective: 0.99
    window: 30d
    sli:
      type: latency
      histogram: storage_node_op_latency_seconds
      matchers: op=~"get|put", outcome="success"
      threshold_seconds: "0.25"
  - name: replication-freshness
    description: Lag under 60 s.
    alert: ReplicationFreshnessBudgetBurn
    objective: 0.99
    window: 30d
    sli:
      type: threshold
      metric: storage_node_replication_lag_seconds
      below: 60
"#;

#[test]
fn parses_the_shared_spec_schema() {
    let f = parse_spec(SPEC, "slos.yaml").expect("valid spec");
    assert_eq!(f.slos.len(), 3);
    assert_eq!(f.slos[0].sli.kind(), "ratio");
    assert!(
        matches!(&f.slos[1].sli, Sli::Latency { threshold_seconds, .. } if threshold_seconds == "0.25")
    );
    assert!(matches!(&f.slos[2].sli, Sli::Threshold { below, .. } if *below == 60.0));
}

#[test]
fn refuses_bad_specs_with_a_reason() {
    let cases = [
        (
            SPEC.replace(
                "window: 30d\n    sli:\n      type: ratio",
                "window: 30d\n    extra: 1\n    sli:\n      type: ratio",
            ),
            "unknown field",
        ),
        (
            SPEC.replace("objective: 0.999", "objective: 1.5"),
            "objective",
        ),
        (
            SPEC.replace("      bad: storage", "      good: x\n      bad: storage"),
            "exactly one",
        ),
        (
            SPEC.replace("name: storage-latency", "name: Storage Latency"),
            "lower-case",
        ),
        (
            SPEC.replace("name: storage-latency", "name: storage-availability"),
            "twice",
        ),
        (SPEC.replace("version: 1", "version: 2"), "version"),
        (
            SPEC.replace("type: threshold", "type: ratioo"),
            "unknown variant",
        ),
        (
            SPEC.replace("alert: StorageLatencyBudgetBurn", "alert: \"a\\\"b\""),
            "alert",
        ),
        ("slos: [".to_string(), ""),
    ];
    for (text, want) in cases {
        let e = parse_spec(&text, "f.yaml").expect_err(want).to_string();
        assert!(
            e.starts_with("slo spec f.yaml: ") && e.contains(want),
            "{e} (want {want})"
        );
    }
}

#[test]
fn dates_round_trip_and_bad_dates_are_refused() {
    assert_eq!(parse_time("1970-01-01").ok(), Some(0));
    assert_eq!(parse_time("2026-10-01").ok(), Some(1_790_812_800));
    assert_eq!(parse_time("2024-02-29T23:59:59Z").ok(), Some(1_709_251_199));
    assert_eq!(format_ts(1_709_251_199), "2024-02-29 23:59:59Z");
    assert_eq!(format_day(1_790_812_800 + 86_399), "2026-10-01");
    for bad in [
        "2023-02-29",
        "2026-13-01",
        "2026-1-01",
        "2026-10-01T10:00:00",
        "2026-10-01T25:00:00Z",
        "yesterday",
        "",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

#[test]
fn period_must_be_whole_days_and_step_must_divide_a_day() {
    assert_eq!(check_period(0, 86_400 * 30, 60).ok(), Some(30));
    assert!(check_period(0, 86_400 + 1, 60).is_err());
    assert!(check_period(86_400, 0, 60).is_err());
    assert!(check_period(0, 86_400, 7).is_err());
    assert!(check_period(0, 86_400, 1).is_err()); // 86400 points per query: over the API's limit
    assert!(check_period(0, 86_400 * 500, 60).is_err());
}

#[test]
fn form_encoding_escapes_promql() {
    assert_eq!(
        form_encode(r#"sum by (a) (x{b="c d"}[1d])"#),
        "sum%20by%20%28a%29%20%28x%7Bb%3D%22c%20d%22%7D%5B1d%5D%29"
    );
    assert_eq!(form_encode("a+b&c=é"), "a%2Bb%26c%3D%C3%A9");
}

#[test]
fn formats_parse() {
    assert_eq!("html".parse::<Format>().ok(), Some(Format::Html));
    assert_eq!("md".parse::<Format>().ok(), Some(Format::Md));
    assert!("pdf".parse::<Format>().is_err());
}

#[test]
fn prometheus_url_must_be_http() {
    assert!(PromClient::new("http://127.0.0.1:9090").is_ok());
    assert!(PromClient::new("ftp://x").is_err());
    assert!(PromClient::new("not a url").is_err());
}
