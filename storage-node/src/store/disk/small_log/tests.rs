use std::time::{Duration, Instant};

use super::*;

fn log_in(dir: &std::path::Path) -> (SmallLog, Layout) {
    let layout = Layout::new(dir.to_owned());
    std::fs::create_dir_all(layout.bucket("bkt")).expect("bucket dir");
    let log = SmallLog::new(layout.clone(), Arc::new(Metrics::new(true, "t")));
    (log, layout)
}

#[test]
fn records_round_trip_and_any_flipped_bit_is_refused() {
    let rec = kill_record("a/b", Version { hlc: 7, node: 3 }).expect("encode");
    let (kind, body, total) = decode(&rec).expect("decodes");
    assert_eq!((kind, total), (KIND_KILL, rec.len()));
    assert!(std::str::from_utf8(body).expect("json").contains("a/b"));
    for i in 0..rec.len() {
        for bit in 0..8 {
            let mut bad = rec.clone();
            bad[i] ^= 1 << bit;
            assert!(
                decode(&bad).is_none(),
                "flip of bit {bit} of byte {i} went unnoticed"
            );
        }
    }
    for cut in 0..rec.len() {
        assert!(decode(&rec[..cut]).is_none(), "record cut at {cut} decoded");
    }
    let obj = object_record(b"image bytes").expect("encode");
    let (kind, body, _) = decode(&obj).expect("decodes");
    assert_eq!((kind, body), (KIND_OBJECT, &b"image bytes"[..]));
}

#[test]
fn appends_roll_over_to_new_segments_and_replay_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path().to_owned());
    std::fs::create_dir_all(layout.bucket("bkt")).expect("bucket dir");
    let metrics = Arc::new(Metrics::new(true, "t"));
    let log = SmallLog::with_segment_max(layout.clone(), metrics.clone(), 200);
    let mut locs = Vec::new();
    for i in 0..10u64 {
        let rec = kill_record(&format!("k{i}"), Version { hlc: i, node: 1 }).expect("encode");
        locs.push(log.append("bkt", rec).expect("append"));
    }
    assert!(locs.last().expect("some").seg >= 2, "{locs:?}");
    let again = SmallLog::with_segment_max(layout, metrics, 200);
    let replayed = again.replay("bkt").expect("replay");
    let keys: Vec<String> = replayed
        .into_iter()
        .map(|r| match r {
            Replayed::Kill { key, .. } => key,
            Replayed::Object { .. } => panic!("no object was written"),
        })
        .collect();
    assert_eq!(keys, (0..10).map(|i| format!("k{i}")).collect::<Vec<_>>());
}

/// Holds the writer back until every appender queued, so the batch is known: the first append
/// gets an fsync alone, every other one shares the second.
#[test]
fn group_commit_covers_many_writers_with_one_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = log_in(dir.path());
    let log = Arc::new(log);
    const WRITERS: usize = 32;
    let held = lock(&log.state);
    let mut threads = Vec::new();
    for i in 0..WRITERS {
        let writer = log.clone();
        threads.push(std::thread::spawn(move || {
            let rec = kill_record(&format!("k{i}"), Version { hlc: 1, node: 1 }).expect("encode");
            writer.append("bkt", rec).expect("append")
        }));
        if i == 0 {
            // The first writer becomes the leader and waits for the state lock we hold.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !lock(&log.queue).leader {
                assert!(Instant::now() < deadline, "no leader");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock(&log.queue).pending.len() < WRITERS - 1 {
        assert!(Instant::now() < deadline, "writers did not queue");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(held);
    let mut locs: Vec<LogLoc> = threads
        .into_iter()
        .map(|t| t.join().expect("writer"))
        .collect();
    assert_eq!(log.fsync_count(), 2, "32 writers, two group fsyncs");
    locs.sort_by_key(|l| l.off);
    locs.dedup();
    assert_eq!(locs.len(), WRITERS, "every writer got its own record");
}

#[test]
fn a_failed_append_leaves_nothing_that_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, layout) = log_in(dir.path());
    let ok = log
        .append(
            "bkt",
            kill_record("a", Version { hlc: 1, node: 1 }).expect("encode"),
        )
        .expect("append");
    // The bucket directory vanishes: a new segment cannot be made, the append fails.
    let err = log.append(
        "gone",
        kill_record("b", Version::default()).expect("encode"),
    );
    assert!(err.is_err());
    let again = SmallLog::new(layout, Arc::new(Metrics::new(true, "t")));
    let replayed = again.replay("bkt").expect("replay");
    assert_eq!(replayed.len(), 1);
    assert_eq!(ok.off, 0);
}

/// A record image stored inside an object's data is not taken for a record when the header of
/// the record holding it is damaged: the walk skips to the next real record.
#[test]
fn resync_skips_records_embedded_in_object_data() {
    let k0 = kill_record("k0", Version { hlc: 1, node: 1 }).expect("encode");
    let evil = kill_record(
        "victim",
        Version {
            hlc: u64::MAX,
            node: 1,
        },
    )
    .expect("encode");
    let mut image = b"xx".to_vec();
    image.extend_from_slice(&evil);
    image.extend_from_slice(b"yy");
    let holder = object_record(&image).expect("encode");
    let k2 = kill_record("k2", Version { hlc: 3, node: 1 }).expect("encode");
    let mut data = [k0.clone(), holder.clone(), k2.clone()].concat();
    let start = k0.len();
    let end = start + holder.len();
    for flip in [0usize, 4, 6, 10, 20] {
        let mut bad = data.clone();
        bad[start + flip] ^= 0x81;
        let steps: Vec<String> = walk(&bad)
            .map(|s| match s {
                Step::Record(off, _, _, _) => format!("rec@{off}"),
                Step::Damaged(a, b) => format!("dmg@{a}..{b}"),
                Step::Tail(a) => format!("tail@{a}"),
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                "rec@0".to_owned(),
                format!("dmg@{start}..{end}"),
                format!("rec@{end}")
            ],
            "flip at {flip}"
        );
    }
    // The damaged record last: a tail, nothing after it.
    data.truncate(end);
    data[start] ^= 1;
    let steps: Vec<bool> = walk(&data).map(|s| matches!(s, Step::Tail(_))).collect();
    assert_eq!(steps, vec![false, true]);
}

#[test]
fn a_folded_record_carries_its_fold_before_the_image_under_one_crc() {
    let image = b"object image bytes".repeat(50);
    let fold = Fold {
        seq: 0x0102_0304_0506_0708,
        ts_ms: 1_700_000_000_123,
        cum_bytes: 99,
    };
    let rec = folded_record(&image, fold).expect("encode");
    let (kind, body, total) = decode(&rec).expect("decodes");
    assert_eq!((kind, total), (KIND_FOLDED, rec.len()));
    assert_eq!(body.len(), FOLD_LEN + image.len());
    assert_eq!(&body[..8], &fold.seq.to_le_bytes());
    assert_eq!(&body[8..16], &fold.ts_ms.to_le_bytes());
    assert_eq!(&body[16..24], &fold.cum_bytes.to_le_bytes());
    let (img, got) = object_body(kind, body).expect("object body");
    assert_eq!((img, got), (&image[..], Some(fold)));
    let mut bad = rec.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(decode(&bad).is_none(), "a flipped image bit fails the CRC");
}
