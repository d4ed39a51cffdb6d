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
