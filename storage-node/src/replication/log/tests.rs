use std::io::Write;

use super::*;

fn rec(i: u64) -> NewRecord<'static> {
    NewRecord {
        bucket: "bkt",
        key: "k",
        version: Version { hlc: i, node: 7 },
        size: 100,
        deleted: i.is_multiple_of(5),
        op: None,
    }
}

fn open(dir: &Path, seg: u64) -> (Arc<ReplLog>, LogOpenReport) {
    let (log, report) = ReplLog::open(dir.to_owned(), seg).expect("open log");
    (Arc::new(log), report)
}

#[test]
fn appends_survive_reopen_and_read_back_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    for i in 1..=50 {
        let r = log.append(rec(i)).expect("append");
        assert_eq!(r.seq, i);
        assert_eq!(r.cum_bytes, i * 100);
    }
    drop(log);
    let (log, report) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(report.records, 50);
    assert_eq!(report.torn_bytes, 0);
    assert_eq!(log.last_seq(), 50);
    assert_eq!(log.last_cum_bytes(), 5000);
    let mut reader = LogReader::new(log.clone(), 11);
    let got = reader.read(1000, u64::MAX).expect("read");
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (11..=50).collect::<Vec<_>>()
    );
    assert_eq!(got[0].version, Version { hlc: 11, node: 7 });
    assert!(reader.read(10, u64::MAX).expect("read").is_empty());
    assert_eq!(log.append(rec(51)).expect("append").seq, 51);
    assert_eq!(reader.read(10, u64::MAX).expect("read").len(), 1);
}

#[test]
fn a_torn_tail_is_cut_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    for i in 1..=10 {
        log.append(rec(i)).expect("append");
    }
    drop(log);
    let seg = dir.path().join(seg_name(1));
    let full = std::fs::metadata(&seg).expect("stat").len();
    // A crash in the middle of an append: half a record at the end.
    let half = encode_record(&LogRecord {
        seq: 11,
        ts_ms: 0,
        bucket: "bkt".into(),
        key: "k".into(),
        version: Version::default(),
        size: 1,
        deleted: false,
        op: None,
        cum_bytes: 1001,
    })
    .expect("encode");
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&half[..half.len() / 2]).expect("write");
    drop(f);
    let (log, report) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(report.records, 10);
    assert_eq!(report.torn_bytes, (half.len() / 2) as u64);
    assert!(!report.damaged);
    assert_eq!(std::fs::metadata(&seg).expect("stat").len(), full);
    assert_eq!(log.append(rec(11)).expect("append").seq, 11);
    let got = LogReader::new(log, 1).read(100, u64::MAX).expect("read");
    assert_eq!(got.len(), 11);
}

#[test]
fn a_flipped_bit_fails_the_crc_and_cuts_the_tail_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    let mut ends = Vec::new();
    for i in 1..=5 {
        log.append(rec(i)).expect("append");
        ends.push(
            std::fs::metadata(dir.path().join(seg_name(1)))
                .expect("stat")
                .len(),
        );
    }
    drop(log);
    let seg = dir.path().join(seg_name(1));
    let mut bytes = std::fs::read(&seg).expect("read");
    // Flip a bit inside the payload of record 4.
    let at = ends[2] as usize + RECORD_HEAD + 3;
    bytes[at] ^= 0x10;
    std::fs::write(&seg, &bytes).expect("write");
    let (log, report) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(report.records, 3);
    assert_eq!(log.last_seq(), 3);
    assert!(decode_record(&bytes[ends[2] as usize..]).is_err());
}

#[test]
fn segments_roll_over_and_truncate_only_below_the_first_needed_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments: a few records each.
    let (log, _) = open(dir.path(), 600);
    for i in 1..=40 {
        log.append(rec(i)).expect("append");
    }
    let segs = log.segment_count();
    assert!(segs > 4, "{segs} segments");
    // Nothing is needed below 1: nothing goes.
    assert!(log.truncate_before(1).expect("truncate").is_empty());
    assert_eq!(log.segment_count(), segs);
    let deletes = log.truncate_before(30).expect("truncate");
    assert!(log.segment_count() < segs);
    assert!(deletes.iter().all(|r| r.deleted && r.seq < 30));
    assert!(!deletes.is_empty());
    // Every record from 30 on is still readable, across segment boundaries.
    let got = LogReader::new(log.clone(), 30)
        .read(1000, u64::MAX)
        .expect("read");
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (30..=40).collect::<Vec<_>>()
    );
    // The current segment is never removed, and numbering continues after a reopen.
    log.truncate_before(u64::MAX).expect("truncate");
    assert_eq!(log.segment_count(), 1);
    drop(got);
    let last_cum = log.last_cum_bytes();
    drop(log);
    let (log, _) = open(dir.path(), 600);
    assert!(log.last_seq() <= 40);
    let r = log.append(rec(41)).expect("append");
    assert_eq!(r.seq, 41);
    assert_eq!(r.cum_bytes, last_cum + 100);
}

#[test]
fn read_respects_byte_budget_but_returns_at_least_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    for i in 1..=10 {
        log.append(rec(i)).expect("append");
    }
    let mut reader = LogReader::new(log, 1);
    assert_eq!(reader.read(100, 1).expect("read").len(), 1);
    assert_eq!(reader.read(100, 250).expect("read").len(), 3);
    assert_eq!(reader.next_seq(), 5);
}

#[test]
fn concurrent_appends_get_distinct_sequence_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), 4096);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| log.append(rec(i)).expect("append").seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    let got = LogReader::new(log, 1).read(1000, u64::MAX).expect("read");
    assert_eq!(got.len(), 200);
}

#[test]
fn unsettled_records_are_hidden_from_readers_until_settled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    log.append(rec(1)).expect("append");
    let a = log.append_unsettled(rec(2)).expect("append");
    let b = log.append_unsettled(rec(3)).expect("append");
    assert_eq!(log.last_seq(), 3);
    let mut reader = LogReader::new(log.clone(), 1);
    assert_eq!(reader.read(10, u64::MAX).expect("read").len(), 1);
    // Settling the later one first still hides it behind the earlier one.
    log.settle(b.seq);
    assert!(reader.read(10, u64::MAX).expect("read").is_empty());
    log.settle(a.seq);
    let got = reader.read(10, u64::MAX).expect("read");
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
}

/// A record of writer `w`'s `i`-th append.
fn writer_rec(w: usize, i: u64) -> NewRecord<'static> {
    NewRecord {
        bucket: "bkt",
        key: Box::leak(format!("w{w:03}").into_boxed_str()),
        version: Version { hlc: i, node: 7 },
        size: 10,
        deleted: false,
        op: None,
    }
}

#[test]
fn appends_waiting_on_one_fsync_are_all_made_durable_by_the_next_and_not_acked_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("t", "t"))
        .expect("histogram");
    log.set_appends_per_fsync(h.clone());
    const WRITERS: usize = 32;
    let returned = Arc::new(AtomicU64::new(0));
    // An fsync "in progress": the sync lock is held, so every appender writes its record and waits.
    let held = log.sync_lock.lock().expect("sync lock");
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (log, returned) = (log.clone(), returned.clone());
            std::thread::spawn(move || {
                let r = log.append(writer_rec(w, 1)).expect("append");
                // Acknowledged only once durable.
                assert!(log.last_seq() >= r.seq);
                returned.fetch_add(1, Ordering::SeqCst);
                r.seq
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while log.writer().next_seq <= WRITERS as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "appenders did not write"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(returned.load(Ordering::SeqCst), 0, "acked before an fsync");
    assert_eq!(log.last_seq(), 0);
    assert_eq!(log.fsyncs(), 0);
    drop(held);
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .map(|t| t.join().expect("appender"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=WRITERS as u64).collect::<Vec<_>>());
    // One fsync covered all 32 appends.
    assert_eq!(log.fsyncs(), 1);
    assert_eq!(h.get_sample_count(), 1);
    assert_eq!(h.get_sample_sum(), WRITERS as f64);
    assert_eq!(log.last_seq(), WRITERS as u64);
}

#[test]
fn many_concurrent_appenders_take_fewer_fsyncs_than_appends_and_keep_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments: roll-overs happen under the concurrent appends too.
    let (log, _) = open(dir.path(), 64 * 1024);
    let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("t", "t"))
        .expect("histogram");
    log.set_appends_per_fsync(h.clone());
    const WRITERS: usize = 64;
    const EACH: u64 = 40;
    let start = Arc::new(std::sync::Barrier::new(WRITERS));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (log, start) = (log.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut last = 0;
                for i in 1..=EACH {
                    let r = log.append(writer_rec(w, i)).expect("append");
                    assert!(r.seq > last, "a writer's appends are ordered");
                    assert!(log.last_seq() >= r.seq, "acked before durable");
                    last = r.seq;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender");
    }
    let appends = WRITERS as u64 * EACH;
    assert_eq!(log.last_seq(), appends);
    // Every append is counted by exactly one group commit, and commits were shared.
    assert_eq!(h.get_sample_sum(), appends as f64);
    assert!(
        log.fsyncs() < appends,
        "{} fsyncs for {appends} appends",
        log.fsyncs()
    );
    drop(log);
    // After a reopen, the log reads back in sequence order, each writer's records in its order.
    let (log, report) = open(dir.path(), 64 * 1024);
    assert_eq!(report.records, appends);
    assert!(report.segments > 1);
    let got = LogReader::new(log, 1)
        .read(100_000, u64::MAX)
        .expect("read");
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=appends).collect::<Vec<_>>()
    );
    let mut next = vec![1u64; WRITERS];
    for r in &got {
        let w: usize = r.key[1..].parse().expect("writer key");
        assert_eq!(r.version.hlc, next[w], "writer {w} out of order");
        next[w] += 1;
        assert_eq!(r.cum_bytes, r.seq * 10);
    }
    assert!(next.iter().all(|&n| n == EACH + 1));
}

#[test]
fn a_log_cut_at_every_byte_of_its_last_record_reopens_with_every_earlier_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = dir.path().join(seg_name(1));
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    let mut originals = Vec::new();
    for i in 1..=4 {
        originals.push(log.append(rec(i)).expect("append"));
    }
    let before_last = std::fs::metadata(&seg).expect("stat").len();
    originals.push(log.append(rec(5)).expect("append"));
    drop(log);
    let full = std::fs::read(&seg).expect("read");
    assert!(full.len() as u64 > before_last + RECORD_HEAD as u64);
    for cut in before_last..full.len() as u64 {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join(seg_name(1)), &full[..cut as usize]).expect("write");
        let (log, report) = open(d.path(), DEFAULT_SEGMENT_BYTES);
        assert_eq!(report.records, 4, "cut at {cut}");
        assert_eq!(report.torn_bytes, cut - before_last, "cut at {cut}");
        assert!(!report.damaged, "cut at {cut}");
        assert_eq!(log.last_seq(), 4);
        assert_eq!(log.last_cum_bytes(), originals[3].cum_bytes);
        let got = LogReader::new(log.clone(), 1)
            .read(100, u64::MAX)
            .expect("read");
        assert_eq!(got, originals[..4], "cut at {cut}");
        // Appends go on right after the last good record, and survive another reopen.
        let again = log.append(rec(5)).expect("append");
        assert_eq!(again.seq, 5);
        drop(log);
        let (log, report) = open(d.path(), DEFAULT_SEGMENT_BYTES);
        assert_eq!((report.records, report.torn_bytes), (5, 0), "cut at {cut}");
        let got = LogReader::new(log, 1).read(100, u64::MAX).expect("read");
        assert_eq!(got[..4], originals[..4]);
        assert_eq!(got[4].seq, 5);
    }
}

#[test]
fn a_folded_record_is_unreadable_until_settled_and_not_fsynced_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    log.append(rec(1)).expect("append");
    let fsyncs = log.fsyncs();
    let r = log.append_folded(rec(2)).expect("append folded");
    assert_eq!(r.seq, 2);
    assert_eq!(
        log.fsyncs(),
        fsyncs,
        "a folded append does not fsync this log"
    );
    assert_eq!(log.synced_seq(), 1);
    assert_eq!(log.last_seq(), 1, "not durable until the store settles it");
    assert_eq!(
        log.readable_seq(),
        1,
        "unreadable until the store settles it"
    );
    let mut reader = LogReader::new(log.clone(), 1);
    assert_eq!(reader.read(10, u64::MAX).expect("read").len(), 1);
    log.settle(2);
    assert_eq!(log.readable_seq(), 2);
    assert_eq!(log.last_seq(), 2);
    let got = reader.read(10, u64::MAX).expect("read");
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2]);
    // A synced append after it covers it.
    log.append(rec(3)).expect("append");
    assert_eq!(log.synced_seq(), 3);
}

#[test]
fn folded_appends_fsync_once_the_unsynced_stretch_passes_the_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    let n = FOLD_SYNC_SEQS * 3;
    for i in 1..=n {
        let r = log.append_folded(rec(i)).expect("append folded");
        log.settle(r.seq);
        assert!(
            log.last_seq() - log.synced_seq() <= FOLD_SYNC_SEQS,
            "at most FOLD_SYNC_SEQS unsynced after seq {i}"
        );
    }
    let fsyncs = log.fsyncs();
    assert!(
        (2..=3).contains(&fsyncs),
        "{fsyncs} fsyncs for {n} folded appends"
    );
}

#[test]
fn restore_folded_appends_the_lost_tail_in_order_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    for i in 1..=10 {
        log.append(rec(i)).expect("append");
    }
    let seg = dir.path().join(seg_name(1));
    let synced_len = std::fs::metadata(&seg).expect("stat").len();
    let mut folded = Vec::new();
    for i in 11..=15 {
        let r = log.append_folded(rec(i)).expect("append folded");
        log.settle(r.seq);
        folded.push(r);
    }
    drop(log);
    // A crash lost what was written after the last fsync.
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(synced_len)
        .expect("cut");
    let (log, report) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(report.records, 10);
    assert_eq!(log.last_seq(), 10);
    // The store hands back its folded records (some older ones too, out of order).
    let mut handed: Vec<LogRecord> = folded.iter().rev().cloned().collect();
    handed.push(LogRecord {
        seq: 4,
        ..folded[0].clone()
    });
    assert_eq!(log.restore_folded(handed.clone()).expect("restore"), 5);
    assert_eq!(log.last_seq(), 15);
    assert_eq!(log.synced_seq(), 15);
    assert_eq!(log.last_cum_bytes(), folded[4].cum_bytes);
    let got = LogReader::new(log.clone(), 1)
        .read(100, u64::MAX)
        .expect("read");
    assert_eq!(got.len(), 15);
    assert_eq!(
        &got[10..],
        &folded[..],
        "restored byte for byte: seq, time, cum_bytes"
    );
    assert_eq!(log.restore_folded(handed).expect("restore again"), 0);
    assert_eq!(log.append(rec(16)).expect("append").seq, 16);
    drop(log);
    let (log, report) = open(dir.path(), DEFAULT_SEGMENT_BYTES);
    assert_eq!(report.records, 16);
    assert_eq!(log.last_seq(), 16);
}
