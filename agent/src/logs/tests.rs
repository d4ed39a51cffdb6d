//! Unit tests: timestamps, stream labels, positions.

use std::collections::HashSet;

use super::timestamp::parse_rfc3339_nanos;
use super::{FileKey, LogMetrics, Positions, StreamLabels};

#[test]
fn rfc3339_with_nanos_zones_and_rejects() {
    assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339_nanos("2020-08-19T21:06:24.337499838Z"),
        Some(1_597_871_184_337_499_838)
    );
    // Fewer digits are scaled.
    assert_eq!(
        parse_rfc3339_nanos("2020-08-19T21:06:24.33754077Z"),
        Some(1_597_871_184_337_540_770)
    );
    assert_eq!(
        parse_rfc3339_nanos("2020-08-19T23:06:24+02:00"),
        parse_rfc3339_nanos("2020-08-19T21:06:24Z")
    );
    assert_eq!(
        parse_rfc3339_nanos("2016-03-02T22:58:51.338462311Z"),
        Some(1_456_959_531_338_462_311)
    );
    for bad in [
        "",
        "2020-08-19",
        "2020-13-19T21:06:24Z",
        "2020-08-19T21:06:24",
        "2020-08-19T21:06:24.Z",
        "xxxx-08-19T21:06:24Z",
        "2020-08-19T21:06:24Zjunk",
    ] {
        assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
    }
}

#[test]
fn stream_labels_sorted_escaped_deduplicated() {
    let l = StreamLabels::new(vec![
        ("job".into(), "files".into()),
        ("filename".into(), "/a \"b\"\\c".into()),
        ("job".into(), "override".into()),
    ]);
    assert_eq!(l.rendered, r#"{filename="/a \"b\"\\c", job="override"}"#);
    assert_eq!(
        l.with("level", "info").rendered,
        r#"{filename="/a \"b\"\\c", job="override", level="info"}"#
    );
}

fn key(ino: u64) -> FileKey {
    FileKey { dev: 1, ino }
}

#[test]
fn positions_ack_only_forward_and_survive_reload() {
    let dir = tempfile::tempdir().expect("ok");
    let path = dir.path().join("loki/positions.json");
    let p = Positions::open(&path).expect("ok");
    let id = p.create(key(7), "/x.log", 0, 0, (100, 42));
    p.ack(id, 500);
    p.ack(id, 300);
    assert_eq!(p.acked(id), Some(500));
    p.save().expect("ok");
    assert!(!path.with_extension("tmp").exists());
    let q = Positions::open(&path).expect("ok");
    let r = q.live(key(7)).expect("ok");
    assert_eq!(
        (r.id, r.acked, r.read, r.fp_len, r.fp_crc),
        (id, 500, 500, 100, 42)
    );
    // A new record never reuses an id.
    assert!(q.create(key(8), "/y.log", 0, 0, (0, 0)) > id);
}

#[test]
fn positions_corrupt_file_is_set_aside() {
    let dir = tempfile::tempdir().expect("ok");
    let path = dir.path().join("positions.json");
    std::fs::write(&path, b"{not json").expect("ok");
    let p = Positions::open(&path).expect("ok");
    assert!(p.snapshot().is_empty());
    assert!(path.with_extension("corrupt").exists());
}

#[test]
fn retired_records_are_copy_candidates_and_forgotten_later() {
    let dir = tempfile::tempdir().expect("ok");
    let p = Positions::open(&dir.path().join("p.json")).expect("ok");
    let id = p.create(key(1), "/a.log", 0, 0, (256, 9));
    p.set_read(id, 4096);
    p.ack(id, 4000);
    p.retire(id);
    assert!(p.live(key(1)).is_none());
    let found = p.find_copy_source(key(2), |r| r.fp_crc == 9).expect("ok");
    assert_eq!(
        (found.id, found.read, found.acked, found.retired),
        (id, 4096, 4000, true)
    );
    // Short fingerprints never qualify.
    let short = p.create(key(3), "/b.log", 0, 0, (10, 5));
    p.set_open(short, false);
    assert!(p.find_copy_source(key(2), |r| r.fp_crc == 5).is_none());
    let seen = HashSet::new();
    for _ in 0..=3 {
        p.note_scan(&seen, 3);
    }
    assert!(
        p.snapshot().is_empty(),
        "closed, unseen records are forgotten"
    );
}

#[test]
fn bytes_behind_is_summed_per_source_without_file_paths() {
    let m = LogMetrics::default();
    m.behind("files", "/var/log/a.log", Some(100));
    m.behind("files", "/var/log/b.log", Some(20));
    m.behind("kubernetes_pods", "/pods/x/0.log", Some(5));
    m.behind("files", "/var/log/gone.log", Some(7));
    m.behind("files", "/var/log/gone.log", None);
    let fams = m.families();
    let f = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_file_bytes_behind")
        .expect("family");
    assert_eq!(f.metrics.len(), 2, "one series per source");
    for s in &f.metrics {
        assert_eq!(s.labels.get("filename"), None);
    }
    let files = f
        .metrics
        .iter()
        .find(|s| s.labels.get("source") == Some("files"))
        .expect("files");
    assert_eq!(files.value.as_scalar(), Some(120.0));
}
