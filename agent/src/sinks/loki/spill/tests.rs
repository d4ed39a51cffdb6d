//! Unit tests: codec, append/read/commit, restart, torn tail, CRC damage, the bound.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::logs::{LogEntry, LogMetrics, StreamLabels};

fn entries(from: usize, n: usize) -> Vec<LogEntry> {
    let s = Arc::new(StreamLabels::new(vec![
        ("namespace".into(), "default".into()),
        ("pod".into(), "p".into()),
    ]));
    (from..from + n)
        .map(|i| LogEntry {
            ts_ns: i as i64,
            line: format!("line {i} é"),
            stream: Arc::clone(&s),
            metadata: if i % 2 == 0 {
                vec![("trace_id".into(), format!("t{i}"))]
            } else {
                Vec::new()
            },
        })
        .collect()
}

fn lines(e: &[LogEntry]) -> Vec<String> {
    e.iter().map(|e| e.line.clone()).collect()
}

#[test]
fn codec_round_trip_and_rejects_garbage() {
    let e = entries(0, 5);
    let back = decode_entries(&encode_entries(&e)).expect("decodes");
    assert_eq!(back, e);
    let mut bad = encode_entries(&e);
    bad.pop();
    assert!(decode_entries(&bad).is_none());
    assert!(decode_entries(&[0xff, 0xff, 0xff, 0xff]).is_none());
}

fn open(dir: &std::path::Path, max: u64) -> (SpillQueue, Arc<LogMetrics>) {
    let m = Arc::new(LogMetrics::default());
    (
        SpillQueue::open(dir, max, Arc::clone(&m), "t_spill").expect("open"),
        m,
    )
}

#[test]
fn records_come_back_in_order_and_survive_a_restart_until_committed() {
    let d = tempfile::tempdir().expect("tmp");
    let stop = AtomicBool::new(false);
    let (q, _) = open(d.path(), 64 << 20);
    q.append(&entries(0, 3), &stop).expect("append");
    q.append(&entries(3, 3), &stop).expect("append");
    let (a, ca) = q.next(Duration::from_millis(10)).expect("first");
    assert_eq!(lines(&a), lines(&entries(0, 3)));
    q.commit(ca).expect("commit");
    let (b, _) = q.next(Duration::from_millis(10)).expect("second");
    assert_eq!(lines(&b), lines(&entries(3, 3)));
    assert!(q.next(Duration::from_millis(10)).is_none());
    drop(q);
    // The second record was read but never committed: it comes back.
    let (q, _) = open(d.path(), 64 << 20);
    let (b2, cb) = q.next(Duration::from_millis(10)).expect("replayed");
    assert_eq!(lines(&b2), lines(&entries(3, 3)));
    q.commit(cb).expect("commit");
    q.append(&entries(6, 1), &stop)
        .expect("append after restart");
    let (c, _) = q.next(Duration::from_millis(10)).expect("third");
    assert_eq!(lines(&c), lines(&entries(6, 1)));
}

fn segment(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment")
}

#[test]
fn a_torn_tail_is_cut_at_open() {
    let d = tempfile::tempdir().expect("tmp");
    let stop = AtomicBool::new(false);
    let (q, _) = open(d.path(), 64 << 20);
    q.append(&entries(0, 2), &stop).expect("append");
    drop(q);
    let seg = segment(d.path());
    let good = std::fs::metadata(&seg).expect("stat").len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, 5]).expect("torn write");
    drop(f);
    let (q, _) = open(d.path(), 64 << 20);
    assert_eq!(std::fs::metadata(&seg).expect("stat").len(), good);
    assert_eq!(
        lines(&q.next(Duration::from_millis(10)).expect("record").0),
        lines(&entries(0, 2))
    );
    assert!(q.next(Duration::from_millis(10)).is_none());
}

#[test]
fn a_damaged_record_is_counted_and_skipped() {
    let d = tempfile::tempdir().expect("tmp");
    let stop = AtomicBool::new(false);
    let (q, _) = open(d.path(), 64 << 20);
    q.append(&entries(0, 2), &stop).expect("append");
    drop(q);
    let seg = segment(d.path());
    let mut bytes = std::fs::read(&seg).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&seg, &bytes).expect("write");
    let (q, m) = open(d.path(), 64 << 20);
    assert!(q.next(Duration::from_millis(10)).is_none());
    let fams = m.families();
    let dropped = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_log_lines_dropped_total")
        .expect("family");
    assert!(dropped.metrics.iter().any(
        |s| s.labels.get("reason") == Some("spill_corrupt") && s.value.as_scalar() == Some(1.0)
    ));
}

#[test]
fn a_full_buffer_waits_until_a_commit_frees_room() {
    let d = tempfile::tempdir().expect("tmp");
    let (q, _) = open(d.path(), 1); // raised to the 1 MiB floor
    let q = Arc::new(q);
    let big: Vec<LogEntry> = entries(0, 1)
        .into_iter()
        .map(|mut e| {
            e.line = "x".repeat(700 * 1024);
            e
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    q.append(&big, &stop).expect("first fits");
    let (q2, big2, stop2) = (Arc::clone(&q), big.clone(), Arc::clone(&stop));
    let t = std::thread::spawn(move || q2.append(&big2, &stop2));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "the second append waits for room");
    let (_, c) = q.next(Duration::from_millis(10)).expect("record");
    q.commit(c).expect("commit");
    // The writer's own segment is kept until the next one starts; the commit lets it through
    // once the bytes are freed, or the stop flag ends the wait.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let r = t.join().expect("thread");
    assert!(r.is_ok() || matches!(r, Err(SpillError::Closed)));
    assert!(q.bytes() <= q.max_bytes());
}
