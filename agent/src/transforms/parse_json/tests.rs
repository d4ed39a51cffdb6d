//! Unit tests: JSON and logfmt extraction.

use super::*;

fn json_cfg() -> ParseConfig {
    ParseConfig {
        format: ParseFormat::Json,
        timestamp_field: Some("timestamp".into()),
        ..ParseConfig::default()
    }
}

#[test]
fn storage_node_style_json_line() {
    let line = r#"{"timestamp":"2026-11-21T02:03:04.5Z","level":"INFO","message":"request","op":"PutObject","request_id":"abc123","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
    let p = parse_line(&json_cfg(), line).expect("ok");
    assert_eq!(p.level, Some("info"));
    assert_eq!(
        p.metadata.to_vec(),
        vec![
            ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()),
            ("request_id".into(), "abc123".into())
        ]
    );
    assert_eq!(
        p.ts_ns,
        crate::logs::timestamp::parse_rfc3339_nanos("2026-11-21T02:03:04.5Z")
    );
}

#[test]
fn nested_span_fields_and_missing_timestamp_config() {
    let line = r#"{"level":"WARN","span":{"request_id":"r1"},"fields":{"message":"x"}}"#;
    let p = parse_line(
        &ParseConfig {
            format: ParseFormat::Json,
            ..ParseConfig::default()
        },
        line,
    )
    .expect("ok");
    assert_eq!(p.level, Some("warn"));
    assert_eq!(
        p.metadata.to_vec(),
        vec![("request_id".into(), "r1".into())]
    );
    assert_eq!(p.ts_ns, None);
}

#[test]
fn not_json_is_an_error_reason() {
    assert_eq!(
        parse_line(&json_cfg(), "plain text").expect_err("must fail"),
        "json"
    );
    assert_eq!(
        parse_line(&json_cfg(), "[1,2]").expect_err("must fail"),
        "json"
    );
}

#[test]
fn logfmt_pairs_quotes_and_levels() {
    let c = ParseConfig {
        format: ParseFormat::Logfmt,
        timestamp_field: Some("ts".into()),
        ..ParseConfig::default()
    };
    let p = parse_line(
        &c,
        r#"ts=2026-01-01T00:00:00Z level=error msg="disk \"sda\" failed" request_id=r-9 flag"#,
    )
    .expect("ok");
    assert_eq!(p.level, Some("error"));
    assert_eq!(
        p.metadata.to_vec(),
        vec![("request_id".into(), "r-9".into())]
    );
    assert_eq!(p.ts_ns, Some(1_767_225_600_000_000_000));
    assert_eq!(
        parse_line(&c, r#"msg="unterminated"#).expect_err("must fail"),
        "logfmt"
    );
}

#[test]
fn levels_map_to_a_fixed_set() {
    for (i, o) in [
        ("INFO", "info"),
        ("Warning", "warn"),
        ("ERR", "error"),
        ("dbug", "debug"),
        ("CRITICAL", "fatal"),
        ("verbose-ish", "unknown"),
    ] {
        assert_eq!(normalize_level(i), o);
    }
}
