use std::fs::{self, OpenOptions};
use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::Path;

use super::*;

fn weigh_first_byte(p: &[u8]) -> u64 {
    u64::from(p.first().copied().unwrap_or(0))
}

const CFG: QueueConfig = QueueConfig {
    max_bytes: 64 * 1024,
    segment_bytes: 4 * 1024,
};

fn open(dir: &Path) -> (Segments, OpenReport) {
    Segments::open(dir, CFG, weigh_first_byte).expect("open queue")
}

fn rec(i: u32, len: usize) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend_from_slice(&i.to_le_bytes());
    v.resize(len, 0xab);
    v
}

fn id_of(p: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&p[1..5]);
    u32::from_le_bytes(b)
}

fn read_all(q: &Segments) -> (Vec<u32>, Cursor, u64) {
    let mut cur = Cursor::default();
    let mut ids = Vec::new();
    let mut skipped = 0;
    for _ in 0..10_000 {
        let b = q.read(cur, 7, 3000).expect("read");
        skipped += b.skipped_bytes;
        if b.records.is_empty() {
            return (ids, b.next, skipped);
        }
        ids.extend(b.records.iter().map(|r| id_of(r)));
        cur = b.next;
    }
    panic!("read did not end");
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_read_ack_and_restart_resumes_at_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, rep) = open(dir.path());
    assert_eq!(rep.pending_records, 0);
    for i in 0..100 {
        q.append(&[rec(i, 200)]).expect("append");
    }
    assert!(q.segment_count() > 3, "rolled over segments");
    assert_eq!(q.pending_weight(), 100);
    let b = q.read(Cursor::default(), 40, u64::MAX).expect("read");
    assert_eq!(b.records.len(), 40);
    q.ack(b.next, 40).expect("ack");
    assert_eq!(q.pending_weight(), 60);
    let segs_after_ack = q.segment_count();
    drop(q);
    let (q, rep) = open(dir.path());
    assert_eq!(rep.pending_records, 60);
    assert_eq!(rep.pending_weight, 60);
    assert_eq!(rep.truncated_bytes, 0);
    assert!(q.segment_count() <= segs_after_ack);
    let (ids, _, skipped) = read_all(&q);
    assert_eq!(ids, (40..100).collect::<Vec<_>>());
    assert_eq!(skipped, 0);
}

#[test]
fn segments_behind_the_cursor_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    for i in 0..100 {
        q.append(&[rec(i, 200)]).expect("append");
    }
    let before = segments(dir.path()).len();
    let (ids, end, _) = read_all(&q);
    assert_eq!(ids.len(), 100);
    q.ack(end, 100).expect("ack");
    let after = segments(dir.path()).len();
    assert!(before > 3 && after == 1, "before {before}, after {after}");
    // Acking an older cursor is ignored.
    q.ack(Cursor::default(), 5).expect("ack old");
    assert_eq!(q.ack_cursor(), end);
    // New appends are read after a restart, old ones are not.
    q.append(&[rec(1000, 50)]).expect("append");
    drop(q);
    let (q, rep) = open(dir.path());
    assert_eq!(rep.pending_records, 1);
    assert_eq!(read_all(&q).0, vec![1000]);
}

#[test]
fn torn_tail_is_cut_and_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    for i in 0..5 {
        q.append(&[rec(i, 100)]).expect("append");
    }
    drop(q);
    let last = segments(dir.path()).pop().expect("a segment");
    let good_len = fs::metadata(&last).expect("stat").len();
    // A half-written record: a header promising 100 bytes and 30 of them.
    let mut half = Vec::new();
    segment::frame(&mut half, &rec(99, 100));
    half.truncate(38);
    OpenOptions::new()
        .append(true)
        .open(&last)
        .and_then(|mut f| f.write_all(&half))
        .expect("tear");
    let (mut q, rep) = open(dir.path());
    assert_eq!(rep.truncated_bytes, 38);
    assert_eq!(rep.pending_records, 5);
    assert_eq!(fs::metadata(&last).expect("stat").len(), good_len);
    assert_eq!(read_all(&q).0, vec![0, 1, 2, 3, 4]);
    // Appending after recovery works and is read in order.
    q.append(&[rec(5, 100)]).expect("append");
    assert_eq!(read_all(&q).0, vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn crc_mismatch_at_the_tail_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    for i in 0..3 {
        q.append(&[rec(i, 100)]).expect("append");
    }
    drop(q);
    let last = segments(dir.path()).pop().expect("a segment");
    let len = fs::metadata(&last).expect("stat").len();
    flip(&last, len - 10);
    let (q, rep) = open(dir.path());
    assert_eq!(rep.truncated_bytes, 108);
    assert_eq!(read_all(&q).0, vec![0, 1]);
}

fn flip(path: &Path, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).expect("seek");
    std::io::Read::read_exact(&mut f, &mut b).expect("read");
    b[0] ^= 0x40;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&b).expect("write");
}

#[test]
fn corruption_in_the_middle_is_skipped_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    for i in 0..60 {
        q.append(&[rec(i, 200)]).expect("append");
    }
    drop(q);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    // Damage the third record of the first (sealed) segment.
    flip(&segs[0], 2 * 208 + 8 + 50);
    let (q, rep) = open(dir.path());
    assert_eq!(
        rep.truncated_bytes, 0,
        "only the newest segment is cut at open"
    );
    let (ids, _, skipped) = read_all(&q);
    assert!(skipped > 0);
    // Records 0 and 1 come out, the damaged one and the rest of its segment do not, and the
    // following segments are read in full.
    let per_seg = (CFG.segment_bytes / 208 + 1) as u32;
    assert_eq!(&ids[..2], &[0, 1]);
    assert_eq!(ids[2], per_seg, "resumes at the next segment");
    assert_eq!(*ids.last().expect("ids"), 59);
    assert!(!ids.contains(&2));
}

#[test]
fn the_byte_bound_drops_the_oldest_and_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    let mut dropped = 0u64;
    let mut dropped_w = 0u64;
    for i in 0..1000 {
        let r = q.append(&[rec(i, 200)]).expect("append");
        dropped += r.dropped_records;
        dropped_w += r.dropped_weight;
        assert!(q.total_bytes() <= CFG.max_bytes);
    }
    assert!(dropped > 0);
    assert_eq!(dropped, dropped_w);
    let (ids, _, _) = read_all(&q);
    assert_eq!(
        ids.len() as u64 + dropped,
        1000,
        "every record is read or counted"
    );
    assert_eq!(*ids.last().expect("ids"), 999, "the newest are kept");
    assert_eq!(q.pending_weight(), ids.len() as u64);
    // The drop moved the saved cursor: after a restart the dropped ones stay gone.
    drop(q);
    let (q, rep) = open(dir.path());
    assert_eq!(rep.pending_records, ids.len() as u64);
    assert_eq!(read_all(&q).0, ids);
}

#[test]
fn a_batch_over_the_bound_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    let err = q.append(&[vec![1u8; 40 * 1024]]).expect_err("too large");
    assert!(matches!(err, BufferError::RecordTooLarge { .. }), "{err}");
    assert_eq!(q.total_bytes(), 0);
}

#[test]
fn a_damaged_cursor_file_means_redelivery_not_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    for i in 0..10 {
        q.append(&[rec(i, 100)]).expect("append");
    }
    let b = q.read(Cursor::default(), 4, u64::MAX).expect("read");
    q.ack(b.next, 4).expect("ack");
    drop(q);
    flip(&dir.path().join("cursor"), 3);
    let (q, rep) = open(dir.path());
    assert_eq!(rep.pending_records, 10);
    assert_eq!(read_all(&q).0, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_record_larger_than_the_read_window_is_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut q, _) = open(dir.path());
    q.append(&[rec(1, 3500), rec(2, 10)]).expect("append");
    let b = q.read(Cursor::default(), 10, 100).expect("read");
    assert_eq!(b.records.len(), 1);
    assert_eq!(b.records[0].len(), 3500);
    let b = q.read(b.next, 10, 100).expect("read");
    assert_eq!(
        b.records.iter().map(|r| id_of(r)).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn the_block_policy_waits_for_an_ack_and_stops_on_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::{DiskQueue, WhenFull};
    let d = tempfile::tempdir().expect("tmp");
    let (q, _) = DiskQueue::open(d.path(), 4096, 1024, WhenFull::Block, |_| 1).expect("open");
    let q = Arc::new(q);
    let stop = Arc::new(AtomicBool::new(false));
    let rec = vec![7u8; 3000];
    q.append(std::slice::from_ref(&rec), &stop, || {})
        .expect("fits");
    let (q2, stop2, rec2) = (Arc::clone(&q), Arc::clone(&stop), rec.clone());
    let full = Arc::new(AtomicBool::new(false));
    let full2 = Arc::clone(&full);
    let t = std::thread::spawn(move || {
        q2.append(&[rec2], &stop2, || full2.store(true, Ordering::Relaxed))
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "waits while the bound is reached");
    assert!(full.load(Ordering::Relaxed), "told once that it waits");
    let n = q
        .next(Duration::from_millis(10))
        .expect("read")
        .expect("a record");
    assert_eq!(n.record, rec);
    q.ack(n.cursor, 1).expect("ack");
    let r = t.join().expect("thread");
    assert!(r.is_ok(), "{r:?}");
    assert!(q.pending_bytes() <= q.bound());
    // Nothing is dropped under Block; a stopped producer gets Closed.
    let stop = AtomicBool::new(true);
    let e = q
        .append(std::slice::from_ref(&rec), &stop, || {})
        .expect_err("closed");
    assert!(matches!(e, BufferError::Closed), "{e}");
    let n = q
        .next(Duration::from_millis(10))
        .expect("read")
        .expect("the second record");
    assert_eq!(n.record.len(), 3000);
}

#[test]
fn a_damaged_whole_record_at_the_tail_is_told_apart_from_a_torn_one() {
    let d = tempfile::tempdir().expect("tmp");
    {
        let (mut q, _) = open(d.path());
        q.append(&[vec![1u8; 100], vec![2u8; 100]]).expect("append");
    }
    let seg = std::fs::read_dir(d.path())
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("segment");
    let mut b = std::fs::read(&seg).expect("read");
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(&seg, &b).expect("write");
    let (_, report) = open(d.path());
    assert!(report.damaged_tail);
    assert_eq!(report.pending_records, 1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1]).expect("torn");
    drop(f);
    let (_, report) = open(d.path());
    assert!(!report.damaged_tail);
    assert!(report.truncated_bytes > 0);
}
