//! Unit tests: a Java stack trace into one event, timeout, bounds.

use std::time::{Duration, Instant};

use super::*;
use crate::transforms::parse_cri::parse_cri;

const CRI: &str = include_str!("../../../tests/data/logs/cri-java-stacktrace-hdfs.derived.log");

fn cfg(pattern: &str) -> MultilineConfig {
    MultilineConfig {
        start_pattern: pattern.into(),
        timeout_ms: 1000,
        max_bytes: 64 * 1024,
        max_lines: 500,
    }
}

#[test]
fn stack_trace_is_one_event() {
    let mut m = Multiline::<()>::new(&cfg("^[A-Za-z]+: ")).expect("ok");
    let now = Instant::now();
    let mut out = Vec::new();
    let msgs: Vec<String> = CRI
        .lines()
        .map(|l| parse_cri(l).expect("ok").msg.into_owned())
        .collect();
    for (i, msg) in msgs.iter().enumerate() {
        m.push(i as i64, (), msg.clone(), i as u64 * 100, now, &mut out);
    }
    assert!(out.is_empty());
    assert_eq!(m.pending_start(), Some(0));
    m.push(99, (), "next: event".into(), 5000, now, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].msg, msgs.join("\n"));
    assert_eq!(out[0].ts_ns, 0);
    assert!(!out[0].cut);
    assert_eq!(m.pending_start(), Some(5000));
}

#[test]
fn timeout_emits_the_pending_event() {
    let mut m = Multiline::<()>::new(&cfg("^start")).expect("ok");
    let t0 = Instant::now();
    let mut out = Vec::new();
    m.push(1, (), "start a".into(), 0, t0, &mut out);
    m.push(2, (), "  more".into(), 8, t0, &mut out);
    m.flush_expired(t0 + Duration::from_millis(999), &mut out);
    assert!(out.is_empty());
    m.flush_expired(t0 + Duration::from_millis(1000), &mut out);
    assert_eq!(out[0].msg, "start a\n  more");
    assert_eq!(m.pending_start(), None);
}

#[test]
fn bounds_cut_events() {
    let mut c = cfg("^start");
    c.max_lines = 2;
    let mut m = Multiline::<()>::new(&c).expect("ok");
    let now = Instant::now();
    let mut out = Vec::new();
    for l in ["start", "a", "b", "c"] {
        m.push(0, (), l.into(), 0, now, &mut out);
    }
    m.flush(&mut out);
    let got: Vec<_> = out.iter().map(|o| (o.msg.as_str(), o.cut)).collect();
    assert_eq!(got, vec![("start\na", true), ("b\nc", false)]);
}

#[test]
fn a_bad_pattern_is_an_error() {
    assert!(Multiline::<()>::new(&cfg("(unclosed")).is_err());
}
