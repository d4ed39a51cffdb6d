//! Unit tests: the tailer against real files — rotation (rename+create, copytruncate),
//! truncation, deletion, inode reuse, a last line without newline, the line bound, restarts.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::mpsc;

use super::*;
use crate::logs::{Chunk, FileKey, LogMetrics, Positions};
use crate::sources::files::{FilesConfig, FilesDiscover};
use crate::transforms::parse_json::ParseConfig;

struct H {
    t: Tailer,
    rx: mpsc::Receiver<Chunk>,
    pos: Arc<Positions>,
    metrics: Arc<LogMetrics>,
}

fn tail_cfg() -> TailConfig {
    TailConfig {
        eof_flush_ms: 0,
        rotate_wait_ms: 0,
        ..TailConfig::default()
    }
}

fn harness(dir: &Path, pattern: &str, cfg: TailConfig) -> H {
    let pos = Arc::new(Positions::open(&dir.join("state/positions.json")).expect("ok"));
    let metrics = Arc::new(LogMetrics::default());
    let (tx, rx) = mpsc::channel(10_000);
    let fc = FilesConfig {
        include: vec![dir.join(pattern).display().to_string()],
        ..FilesConfig::default()
    };
    let t = Tailer::new(
        cfg,
        Arc::new(ProcessorConfig {
            source: "files",
            container: None,
            multiline: None,
            parse: ParseConfig::default(),
            telemetry: Default::default(),
        }),
        Box::new(FilesDiscover::new(&fc).expect("ok")),
        Arc::clone(&pos),
        Arc::clone(&metrics),
        tx,
        Arc::new(AtomicU64::new(0)),
        "test",
        64 * 1024,
    );
    H {
        t,
        rx,
        pos,
        metrics,
    }
}

impl H {
    /// One pass; returns the lines read and acknowledges them like a sink that delivered.
    fn step(&mut self, discover: bool) -> Vec<String> {
        self.t.step(discover);
        let mut out = Vec::new();
        while let Ok(c) = self.rx.try_recv() {
            out.extend(c.entries.iter().map(|e| e.line.to_string()));
            for a in c.acks {
                self.pos.ack(a.record, a.offset);
            }
        }
        out
    }
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .expect("ok");
    f.write_all(s.as_bytes()).expect("ok");
}

fn lines(from: usize, to: usize) -> String {
    (from..=to)
        .map(|i| format!("line {i:05} with padding to make fingerprints long enough\n"))
        .collect()
}

fn expect(from: usize, to: usize) -> Vec<String> {
    lines(from, to).lines().map(str::to_string).collect()
}

#[test]
fn reads_lines_and_resumes_after_restart_without_duplicates() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 5));
    let mut h = harness(d.path(), "*.log", tail_cfg());
    assert_eq!(h.step(true), expect(1, 5));
    h.pos.save().expect("ok");
    drop(h);
    append(&f, &lines(6, 7));
    let mut h = harness(d.path(), "*.log", tail_cfg());
    assert_eq!(h.step(true), expect(6, 7));
}

#[test]
fn unacknowledged_lines_are_read_again_after_restart() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 3));
    let mut h = harness(d.path(), "*.log", tail_cfg());
    h.t.step(true); // read, never acknowledged
    h.pos.save().expect("ok");
    drop(h);
    let mut h = harness(d.path(), "*.log", tail_cfg());
    assert_eq!(h.step(true), expect(1, 3));
}

#[test]
fn rename_and_create_rotation() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 3));
    let mut h = harness(d.path(), "a.log*", tail_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    std::fs::rename(&f, d.path().join("a.log.1")).expect("ok");
    append(&d.path().join("a.log.1"), &lines(4, 4)); // the writer's last line to the old file
    append(&f, &lines(5, 6));
    let mut got = h.step(true);
    got.extend(h.step(true));
    got.sort();
    assert_eq!(got, expect(4, 6));
}

#[test]
fn renamed_away_file_is_finished_then_released() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 2));
    let mut h = harness(d.path(), "a.log", tail_cfg());
    assert_eq!(h.step(true), expect(1, 2));
    std::fs::rename(&f, d.path().join("old")).expect("ok");
    append(&d.path().join("old"), &lines(3, 3));
    append(&f, &lines(4, 4));
    let got = h.step(true);
    assert!(
        got.contains(&expect(3, 3)[0]) && got.contains(&expect(4, 4)[0]),
        "{got:?}"
    );
    h.step(false);
    assert_eq!(
        h.t.open_files(),
        1,
        "the renamed-away file is released at its end"
    );
}

#[test]
fn copytruncate_reads_the_copy_tail_once() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 3));
    let mut h = harness(d.path(), "a.log*", tail_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    append(&f, &lines(4, 5)); // written, not read yet
    std::fs::copy(&f, d.path().join("a.log.1")).expect("ok");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&f)
        .expect("ok");
    append(&f, &lines(6, 6));
    let mut got = h.step(true);
    got.extend(h.step(true));
    got.sort();
    assert_eq!(got, expect(4, 6));
}

#[test]
fn truncated_and_rewritten_file_starts_over() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 9));
    let mut h = harness(d.path(), "a.log", tail_cfg());
    assert_eq!(h.step(true).len(), 9);
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&f)
        .expect("ok");
    // Longer than before is noticed by the fingerprint, not only by the size.
    append(&f, &lines(100, 111));
    assert_eq!(h.step(true), expect(100, 111));
}

#[test]
fn deleted_file_is_read_to_its_end_from_the_open_descriptor() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 1));
    let mut h = harness(d.path(), "a.log", tail_cfg());
    assert_eq!(h.step(true), expect(1, 1));
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .expect("ok");
    std::fs::remove_file(&f).expect("ok");
    w.write_all(lines(2, 3).as_bytes()).expect("ok");
    drop(w);
    assert_eq!(h.step(true), expect(2, 3));
    h.step(false);
    assert_eq!(h.t.open_files(), 0);
}

#[test]
fn reused_inode_with_other_content_is_read_from_the_start() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 3));
    let meta = std::fs::metadata(&f).expect("ok");
    let key = FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let mut h = harness(d.path(), "a.log", tail_cfg());
    // A record left by an earlier file with this inode: other first bytes, offset 100.
    let old = h.pos.create(key, "/gone.log", 100, 100, (64, 0xdead_beef));
    h.pos.set_open(old, false);
    assert_eq!(h.step(true), expect(1, 3));
    assert!(h.pos.snapshot().iter().any(|r| r.id == old && r.retired));
}

#[test]
fn last_line_without_newline_is_sent_after_the_idle_delay() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, "complete\npartial");
    let mut h = harness(
        d.path(),
        "a.log",
        TailConfig {
            eof_flush_ms: 3_600_000,
            ..tail_cfg()
        },
    );
    assert_eq!(h.step(true), vec!["complete"]);
    assert_eq!(
        h.step(false),
        Vec::<String>::new(),
        "held while the file may still grow"
    );
    let mut h2 = harness(d.path(), "b.log", tail_cfg());
    append(&d.path().join("b.log"), "no newline");
    let mut got = h2.step(true);
    got.extend(h2.step(false));
    assert_eq!(got, vec!["no newline"]);
}

#[test]
fn long_lines_are_cut_at_the_bound_and_counted() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let big = "x".repeat(300 * 1024);
    append(&f, &format!("0123456789ABCDEF\n{big}\nok\n"));
    let mut h = harness(
        d.path(),
        "a.log",
        TailConfig {
            max_line_bytes: 10,
            ..tail_cfg()
        },
    );
    let mut got = h.step(true);
    // One read (128 KiB) per pass once a chunk is full: a few passes reach the end.
    for _ in 0..5 {
        got.extend(h.step(false));
    }
    assert_eq!(
        got,
        vec!["0123456789".to_string(), "x".repeat(10), "ok".to_string()]
    );
    assert_eq!(h.metrics.malformed_count("files", "line_too_long"), 2);
}

#[test]
fn invalid_utf8_and_binary_lines_are_counted_and_sent() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    std::fs::write(&f, b"ok\n\xff\xfe bad\nnul\x00byte\n").expect("ok");
    let mut h = harness(d.path(), "a.log", tail_cfg());
    let got = h.step(true);
    assert_eq!(
        got,
        vec![
            "ok".to_string(),
            "\u{fffd}\u{fffd} bad".to_string(),
            "nul\0byte".to_string()
        ]
    );
    assert_eq!(h.metrics.malformed_count("files", "invalid_utf8"), 1);
    assert_eq!(h.metrics.malformed_count("files", "binary"), 1);
}

#[test]
fn new_files_are_found_at_discovery() {
    let d = tempfile::tempdir().expect("ok");
    let mut h = harness(d.path(), "*.log", tail_cfg());
    assert!(h.step(true).is_empty());
    let p: PathBuf = d.path().join("late.log");
    append(&p, "hello\n");
    assert!(
        h.step(false).is_empty(),
        "not looked for between discoveries"
    );
    assert_eq!(h.step(true), vec!["hello"]);
}

// A line the writer has not finished (no newline yet) when the tailer reads, across rotation,
// truncation and restarts: it arrives once, whole, never as two fragments.

/// A tail config that holds a line without newline (as a running writer's line is).
fn holding_cfg() -> TailConfig {
    TailConfig {
        eof_flush_ms: 3_600_000,
        ..tail_cfg()
    }
}

/// Lines 1..=3 whole, then the first half of line 4 (as a writer's `write` caught mid-way).
fn with_partial_line_4(f: &Path) -> (String, String) {
    append(f, &lines(1, 3));
    let l4 = lines(4, 4);
    let (a, b) = l4.split_at(7);
    append(f, a);
    (a.to_string(), b.to_string())
}

fn copytruncate(f: &Path, to: &Path) {
    std::fs::copy(f, to).expect("ok");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(f)
        .expect("ok");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn partial_line_at_copytruncate_arrives_whole_from_the_copy_truncation_seen_first() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    // The writer finishes line 4; the file is copied and truncated; the writer goes on.
    append(&f, &rest);
    copytruncate(&f, &d.path().join("a.log.1"));
    append(&f, &lines(5, 6));
    // The tailer sees the truncation before it finds the copy.
    let mut got = h.step(false);
    got.extend(h.step(true));
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(4, 6));
}

#[test]
fn partial_line_at_copytruncate_arrives_whole_from_the_copy_copy_found_first() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    append(&f, &rest);
    copytruncate(&f, &d.path().join("a.log.1"));
    append(&f, &lines(5, 6));
    // Discovery (which finds the copy) runs before the original's truncation is seen.
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(4, 6));
}

#[test]
fn partial_line_at_copytruncate_across_a_restart_arrives_whole() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    h.pos.save().expect("ok");
    drop(h); // kill -9: the half line was read, never sent
    append(&f, &rest);
    copytruncate(&f, &d.path().join("a.log.1"));
    append(&f, &lines(5, 6));
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(4, 6));
}

#[test]
fn partial_line_at_copytruncate_without_the_copy_is_never_sent_as_a_fragment() {
    // The copy is not tailed: the rest of the line (like everything not yet read) is only in the
    // copy. A fragment of it would be a corrupted line, so none is sent.
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    append(&f, &rest);
    copytruncate(&f, &d.path().join("old"));
    append(&f, &lines(5, 6));
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(got, expect(5, 6));
}

#[test]
fn partial_line_at_rename_rotation_arrives_whole_from_the_renamed_file() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    let rotated = d.path().join("a.log.1");
    std::fs::rename(&f, &rotated).expect("ok");
    append(&rotated, &rest);
    append(&f, &lines(5, 6));
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(4, 6));
}

#[test]
fn partial_line_at_rename_rotation_across_a_restart_arrives_whole() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    h.pos.save().expect("ok");
    drop(h);
    let rotated = d.path().join("a.log.1");
    std::fs::rename(&f, &rotated).expect("ok");
    append(&rotated, &rest);
    append(&f, &lines(5, 6));
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(4, 6));
}

#[test]
fn checkpoint_never_covers_a_partial_line() {
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    let (_, rest) = with_partial_line_4(&f);
    let mut h = harness(d.path(), "a.log", holding_cfg());
    assert_eq!(h.step(true), expect(1, 3));
    let whole = lines(1, 3).len() as u64;
    let acked: Vec<u64> = h.pos.snapshot().iter().map(|r| r.acked).collect();
    assert_eq!(
        acked,
        vec![whole],
        "the saved position stops at the last newline"
    );
    h.pos.save().expect("ok");
    drop(h); // kill -9 with the half line read
    append(&f, &rest);
    append(&f, &lines(5, 5));
    let mut h = harness(d.path(), "a.log", holding_cfg());
    assert_eq!(h.step(true), expect(4, 5));
}

#[test]
fn unsent_lines_at_a_kill_before_copytruncate_are_read_from_the_copy() {
    // Read and shipped but never acknowledged (kill -9 between ship and checkpoint), then the
    // file is copied and truncated while the agent is down.
    let d = tempfile::tempdir().expect("ok");
    let f = d.path().join("a.log");
    append(&f, &lines(1, 2));
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    assert_eq!(h.step(true), expect(1, 2));
    h.pos.save().expect("ok");
    append(&f, &lines(3, 5));
    h.t.step(false); // lines 3-5 shipped, no ack
    h.pos.save().expect("ok");
    drop(h);
    copytruncate(&f, &d.path().join("a.log.1"));
    append(&f, &lines(6, 6));
    let mut h = harness(d.path(), "a.log*", holding_cfg());
    let mut got = h.step(true);
    got.extend(h.step(false));
    assert_eq!(sorted(got), expect(3, 6));
}

/// A pod-log line processor whose joined lines are at most `max` bytes.
fn cri_processor(max: usize, metrics: &Arc<LogMetrics>) -> LineProcessor {
    use crate::transforms::parse_cri::{ContainerFormat, ParseCriConfig};
    LineProcessor::new(
        Arc::new(ProcessorConfig {
            source: "kubernetes_pods",
            container: Some(ParseCriConfig {
                format: ContainerFormat::Cri,
                max_line_bytes: max,
            }),
            multiline: None,
            parse: ParseConfig::default(),
            telemetry: Default::default(),
        }),
        Arc::new(crate::logs::StreamLabels::new(Vec::new())),
        Arc::clone(metrics),
    )
    .expect("ok")
}

#[test]
fn over_long_joined_line_is_counted_the_same_whether_ended_by_a_line_or_by_the_flush() {
    let now = std::time::Instant::now();
    let ts = "2024-05-01T10:00:00.000000000Z";
    let feed = |p: &mut LineProcessor, line: &str, out: &mut Vec<crate::logs::LogEntry>| {
        p.line(line.as_bytes(), None, 0, 0, now, out);
    };
    // Ended by its `F` fragment (the read path).
    let metrics = Arc::new(LogMetrics::default());
    let mut p = cri_processor(10, &metrics);
    let mut out = Vec::new();
    feed(&mut p, &format!("{ts} stdout P 0123456789abc"), &mut out);
    feed(&mut p, &format!("{ts} stdout F def"), &mut out);
    let got: Vec<String> = out.iter().map(|e| e.line.to_string()).collect();
    assert_eq!(got, vec!["0123456789", "abcdef"]);
    assert_eq!(
        metrics.malformed_count("kubernetes_pods", "line_too_long"),
        1
    );
    // Still open when the file went idle or closed (the flush): counted the same.
    let metrics = Arc::new(LogMetrics::default());
    let mut p = cri_processor(10, &metrics);
    let mut out = Vec::new();
    feed(&mut p, &format!("{ts} stdout P 0123456789abc"), &mut out);
    feed(&mut p, &format!("{ts} stdout P def"), &mut out);
    p.flush(now, &mut out);
    let got: Vec<String> = out.iter().map(|e| e.line.to_string()).collect();
    assert_eq!(got, vec!["0123456789", "abcdef"]);
    assert_eq!(
        metrics.malformed_count("kubernetes_pods", "line_too_long"),
        1
    );
}

#[test]
fn whole_cri_lines_share_the_read_block_and_partials_still_join() {
    let metrics = Arc::new(LogMetrics::default());
    let mut p = cri_processor(1024, &metrics);
    let now = std::time::Instant::now();
    let ts = "2024-05-01T10:00:00.000000000Z";
    let raw = format!(
        "{ts} stdout F one\n{ts} stderr P two-\n{ts} stdout F three\n{ts} stderr F two\n{ts} stdout F four\n"
    );
    let block = crate::logs::Text::from(raw.as_str());
    let mut out = Vec::new();
    let mut pos = 0;
    for l in raw.split_inclusive('\n') {
        let line = &block.as_str().as_bytes()[pos..pos + l.len() - 1];
        p.line(line, Some(&block), pos as u64, 0, now, &mut out);
        pos += l.len();
    }
    let got: Vec<(String, Option<String>)> = out
        .iter()
        .map(|e| {
            let stream = e.stream.pairs.iter().find(|(k, _)| k == "stream");
            (e.line.to_string(), stream.map(|(_, v)| v.clone()))
        })
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), Some(b.to_string()));
    assert_eq!(
        got,
        vec![
            s("one", "stdout"),
            s("three", "stdout"),
            s("two-two", "stderr"),
            s("four", "stdout"),
        ]
    );
    let range = block.as_str().as_bytes().as_ptr_range();
    assert!(
        range.contains(&out[0].line.as_str().as_ptr()),
        "a whole line is a slice of the block it was read in"
    );
    assert_eq!(
        metrics.malformed_count("kubernetes_pods", "line_too_long"),
        0
    );
}
