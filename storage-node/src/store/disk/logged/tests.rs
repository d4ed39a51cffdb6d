use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;

use super::*;
use crate::metrics::Metrics;
use crate::store::disk::StoreOptions;
use crate::store::{
    ByteStream, FinishHook, ObjectAttrs, ObjectMeta, ObjectStore, VersionQuery, VersioningStatus,
};

fn body(data: Vec<u8>) -> ByteStream {
    Box::pin(futures::stream::iter(
        data.chunks(10_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ))
}

fn ok_hook() -> FinishHook {
    Box::new(|_| Ok(BTreeMap::new()))
}

fn open_opts(dir: &Path, segment: u64) -> (DiskStore, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new(true, "t"));
    let options = StoreOptions {
        small_object_max_bytes: 64 << 10,
        log_segment_bytes: segment,
    };
    let store = DiskStore::open_with(dir.to_owned(), metrics.clone(), "t", options)
        .expect("open")
        .0;
    (store, metrics)
}

fn open(dir: &Path) -> DiskStore {
    open_opts(dir, small_log::SEGMENT_MAX_BYTES).0
}

async fn put(store: &DiskStore, key: &str, data: Vec<u8>) -> ObjectMeta {
    store
        .put_object("bkt", key, ObjectAttrs::default(), body(data), ok_hook())
        .await
        .expect("put")
}

async fn read(store: &DiskStore, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut obj = store.get_object("bkt", key, None).await?;
    let mut out = Vec::new();
    while let Some(c) = obj.stream.next().await {
        out.extend_from_slice(&c.map_err(StoreError::Body)?);
    }
    Ok(out)
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31) ^ seed) as u8)
        .collect()
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("buckets/bkt/.log"))
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn small_objects_go_to_the_log_and_large_ones_to_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    put(&store, "small", data(1, 4096)).await;
    put(&store, "large", data(2, 200_000)).await;
    let (_, small_file) = store.inner.layout.object("bkt", "small");
    let (_, large_file) = store.inner.layout.object("bkt", "large");
    assert!(!small_file.exists() && large_file.exists());
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(read(&store, "small").await.expect("read"), data(1, 4096));
}

#[tokio::test]
async fn a_torn_tail_at_every_byte_of_the_last_record_reopens_with_earlier_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        for i in 0..3u64 {
            put(&store, &format!("k{i}"), data(i, 700)).await;
        }
    }
    let seg = segment_files(dir.path()).pop().expect("a segment");
    let full = std::fs::read(&seg).expect("read segment");
    let recs = small_log::records(&full);
    assert_eq!(recs.len(), 3);
    let last = recs[2].off as usize;
    for cut in last..full.len() {
        std::fs::write(&seg, &full[..cut]).expect("cut");
        let store = open(dir.path());
        for i in 0..2u64 {
            assert_eq!(
                read(&store, &format!("k{i}"))
                    .await
                    .expect("earlier record"),
                data(i, 700),
                "cut at {cut}"
            );
        }
        assert!(
            matches!(read(&store, "k2").await, Err(StoreError::NoSuchKey { .. })),
            "cut at {cut}: a torn record is not an object"
        );
        assert_eq!(
            std::fs::metadata(&seg).expect("segment").len(),
            last as u64,
            "cut at {cut}: truncated back to the last whole record"
        );
        // Appends after the truncation land cleanly.
        put(&store, "after", data(9, 10)).await;
    }
    std::fs::write(&seg, &full).expect("restore");
    let store = open(dir.path());
    assert_eq!(read(&store, "k2").await.expect("whole"), data(2, 700));
}

#[tokio::test]
async fn a_damaged_record_is_refused_on_read_and_found_by_scrub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, metrics) = open_opts(dir.path(), small_log::SEGMENT_MAX_BYTES);
    store.create_bucket("bkt").await.expect("bucket");
    put(&store, "a", data(1, 5000)).await;
    put(&store, "b", data(2, 5000)).await;
    let seg = segment_files(dir.path()).pop().expect("segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[small_log::HEADER_LEN + 100] ^= 0x40; // inside the first record's data
    std::fs::write(&seg, &bytes).expect("damage");
    assert!(matches!(
        read(&store, "a").await,
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(read(&store, "b").await.expect("intact"), data(2, 5000));
    let state = crate::store::scrub::ScrubState::default();
    let pass = crate::store::scrub::scrub_pass(&store, &metrics, 1 << 30, &state);
    assert_eq!((pass.last_errors, pass.last_objects), (1, 1));
    let text = String::from_utf8(metrics.render()).expect("utf8");
    assert!(text.contains("storage_node_scrub_errors_total 1"), "{text}");
}

#[tokio::test]
async fn overwrites_and_deletes_across_log_and_files_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        put(&store, "s2l", data(1, 100)).await;
        put(&store, "s2l", data(2, 300_000)).await;
        put(&store, "l2s", data(3, 300_000)).await;
        put(&store, "l2s", data(4, 100)).await;
        put(&store, "gone", data(5, 100)).await;
        store.delete_object("bkt", "gone").await.expect("delete");
        put(&store, "back", data(6, 100)).await;
        store.delete_object("bkt", "back").await.expect("delete");
        put(&store, "back", data(7, 100)).await;
        // A collected tombstone must not bring the older record back.
        put(&store, "gc", data(8, 100)).await;
        store.delete_object("bkt", "gc").await.expect("delete");
        let (v, _) = store.version_of("bkt", "gc").expect("tombstone");
        assert!(store.gc_tombstone("bkt", "gc", v).await.expect("gc"));
        assert_eq!(read(&store, "l2s").await.expect("read"), data(4, 100));
        assert!(!store.inner.layout.object("bkt", "l2s").1.exists());
    }
    let store = open(dir.path());
    assert_eq!(read(&store, "s2l").await.expect("s2l"), data(2, 300_000));
    assert_eq!(read(&store, "l2s").await.expect("l2s"), data(4, 100));
    assert_eq!(read(&store, "back").await.expect("back"), data(7, 100));
    for gone in ["gone", "gc"] {
        assert!(
            matches!(read(&store, gone).await, Err(StoreError::NoSuchKey { .. })),
            "{gone} came back"
        );
    }
    assert_eq!(store.stats().objects, 3);
}

#[tokio::test]
async fn old_versions_of_small_objects_move_to_versions_and_stay_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first;
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        first = put(&store, "k", data(1, 100)).await;
        store
            .put_versioning("bkt", VersioningStatus::Enabled)
            .await
            .expect("versioning");
        put(&store, "k", data(2, 100)).await;
        let old = store
            .get_object_version("bkt", "k", &first.version_id(), None)
            .await
            .expect("old version");
        assert_eq!(old.meta.version, first.version);
    }
    let store = open(dir.path());
    let page = store
        .list_object_versions(
            "bkt",
            VersionQuery {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2, "{page:?}");
    assert_eq!(read(&store, "k").await.expect("current"), data(2, 100));
    store
        .delete_object_version("bkt", "k", Some(&first.version_id()))
        .await
        .expect("purge old");
    let page = store
        .list_object_versions(
            "bkt",
            VersionQuery {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn purging_a_logged_null_version_stays_purged_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        put(&store, "k", data(1, 100)).await;
        store
            .put_versioning("bkt", VersioningStatus::Suspended)
            .await
            .expect("versioning");
        store
            .delete_object_version("bkt", "k", Some("null"))
            .await
            .expect("purge");
        assert!(matches!(
            read(&store, "k").await,
            Err(StoreError::NoSuchKey { .. })
        ));
    }
    let store = open(dir.path());
    assert!(matches!(
        read(&store, "k").await,
        Err(StoreError::NoSuchKey { .. })
    ));
}

/// Writers overwrite and delete keys while readers read and compaction runs over small segments:
/// a reader never sees a generation older than the last one acknowledged before its read began,
/// and after a reopen every key holds its last acknowledged state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_during_reads_writes_and_deletes_loses_nothing_and_serves_nothing_stale() {
    const KEYS: u64 = 12;
    const ROUNDS: u64 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, metrics) = open_opts(dir.path(), 8 << 10);
    store.create_bucket("bkt").await.expect("bucket");
    // Per key: the last acknowledged generation (0: deleted).
    let acked: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..KEYS)
            .map(|_| std::sync::atomic::AtomicU64::new(u64::MAX))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let content = |k: u64, g: u64| {
        let mut d = format!("key{k}-gen{g:06}-").into_bytes();
        d.extend(data(k * 1000 + g, 200 + (g as usize * 37) % 900));
        d
    };
    let mut writers = Vec::new();
    for k in 0..KEYS {
        let (store, acked) = (store.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for g in 1..=ROUNDS {
                if g % 7 == 0 {
                    store
                        .delete_object("bkt", &format!("k{k}"))
                        .await
                        .expect("delete");
                    acked[k as usize].store(0, Ordering::SeqCst);
                } else {
                    put(&store, &format!("k{k}"), content(k, g)).await;
                    acked[k as usize].store(g, Ordering::SeqCst);
                }
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let k = (reads + r) % KEYS;
                let before = acked[k as usize].load(Ordering::SeqCst);
                match read(&store, &format!("k{k}")).await {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes[..16.min(bytes.len())]);
                        let g: u64 = text
                            .split("-gen")
                            .nth(1)
                            .and_then(|t| t.get(..6))
                            .and_then(|t| t.parse().ok())
                            .expect("generation in body");
                        assert_eq!(bytes, content(k, g), "a read returned damaged bytes");
                        if before != u64::MAX && before != 0 {
                            assert!(
                                g >= before,
                                "k{k}: read gen {g} after gen {before} was acked"
                            );
                        }
                    }
                    Err(StoreError::NoSuchKey { .. }) => {
                        assert!(
                            before == u64::MAX || before == 0 || before % 7 == 6,
                            "k{k}: missing after gen {before} was acked"
                        );
                    }
                    Err(e) => panic!("read failed: {e}"),
                }
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let compactor = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut runs = CompactReport::default();
            while !stop.load(Ordering::SeqCst) {
                let r = store.compact_log(1 << 20, 0.3).expect("compact");
                runs.segments += r.segments;
                runs.moved_records += r.moved_records;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            runs
        })
    };
    for w in writers {
        w.await.expect("writer");
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.await.expect("reader") > 0);
    }
    let runs = compactor.await.expect("compactor");
    assert!(runs.segments > 0, "compaction never ran: {runs:?}");
    let text = String::from_utf8(metrics.render()).expect("utf8");
    assert!(text.contains("storage_node_small_log_compaction_runs_total"));
    let check = |store: DiskStore, acked: Arc<Vec<std::sync::atomic::AtomicU64>>| async move {
        for k in 0..KEYS {
            let g = acked[k as usize].load(Ordering::SeqCst);
            let got = read(&store, &format!("k{k}")).await;
            if g == 0 {
                assert!(matches!(got, Err(StoreError::NoSuchKey { .. })), "k{k}");
            } else {
                assert_eq!(got.expect("live key"), content(k, g), "k{k}");
            }
        }
    };
    check(store.clone(), acked.clone()).await;
    drop(store);
    let (store, _) = open_opts(dir.path(), 8 << 10);
    check(store, acked).await;
}

#[tokio::test]
async fn threshold_zero_keeps_every_object_in_its_own_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = Arc::new(Metrics::new(true, "t"));
    let options = StoreOptions {
        small_object_max_bytes: 0,
        ..Default::default()
    };
    let store = DiskStore::open_with(dir.path().to_owned(), metrics, "t", options)
        .expect("open")
        .0;
    store.create_bucket("bkt").await.expect("bucket");
    put(&store, "empty", Vec::new()).await;
    put(&store, "small", data(1, 100)).await;
    for key in ["empty", "small"] {
        assert!(store.inner.layout.object("bkt", key).1.exists(), "{key}");
    }
    assert!(!dir.path().join("buckets/bkt/.log").exists());
    // An empty part of an upload is a file too.
    let up = store
        .create_upload("bkt", "mp", ObjectAttrs::default(), None)
        .await
        .expect("upload");
    store
        .upload_part("bkt", "mp", &up.upload_id, 1, body(Vec::new()), ok_hook())
        .await
        .expect("empty part");
    assert_eq!(
        read(&store, "empty").await.expect("empty"),
        Vec::<u8>::new()
    );
}

fn replicator(store: &DiskStore) -> (Arc<crate::replication::Replicator>, u64) {
    let (rep, report) = crate::replication::Replicator::open(
        "t".into(),
        "secret".into(),
        crate::replication::config::ReplicationConfig::default(),
        store.clone(),
        crate::replication::metrics::ReplicationMetrics::new(None),
    )
    .expect("open replication");
    let rep = Arc::new(rep);
    store.set_write_log(rep.clone());
    (rep, report.restored_folded)
}

/// A small write's replication record rides in its small-object log record: when a crash loses the
/// replication log's unsynced tail, start-up appends those records back from the store's log.
#[tokio::test]
async fn folded_replication_records_come_back_from_the_small_log_after_a_lost_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let (rep, restored) = replicator(&store);
    assert_eq!(restored, 0);
    // Not folded (a file): its record is fsynced in the replication log.
    put(&store, "large", data(1, 100_000)).await;
    let synced = rep.log.synced_seq();
    assert_eq!(synced, rep.log.last_seq());
    let seg = std::fs::read_dir(dir.path().join("replication/log"))
        .expect("list")
        .map(|e| e.expect("entry").path())
        .max()
        .expect("a segment");
    let synced_len = std::fs::metadata(&seg).expect("stat").len();
    let log_fsyncs = rep.log.fsyncs();
    for i in 0..20u64 {
        put(&store, &format!("k{i}"), data(i, 4096)).await;
    }
    put(&store, "k0", data(99, 2048)).await;
    assert_eq!(
        rep.log.fsyncs(),
        log_fsyncs,
        "folded writes fsync only the small-object log"
    );
    assert_eq!(rep.log.last_seq(), synced + 21);
    let written: Vec<crate::replication::log::LogRecord> =
        crate::replication::log::LogReader::new(rep.log.clone(), synced + 1)
            .read(100, u64::MAX)
            .expect("read");
    assert_eq!(written.len(), 21);
    drop((rep, store));
    // The crash: the replication log keeps only what was fsynced.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(synced_len)
        .expect("cut");
    let store = open(dir.path());
    let (rep, restored) = replicator(&store);
    assert_eq!(restored, 21);
    assert_eq!(rep.log.last_seq(), synced + 21);
    let back = crate::replication::log::LogReader::new(rep.log.clone(), synced + 1)
        .read(100, u64::MAX)
        .expect("read");
    assert_eq!(
        back, written,
        "the same records: seq, time, key, version, size, cum_bytes"
    );
    // Reopening again restores nothing: the log has them now.
    drop((rep, store));
    let store = open(dir.path());
    assert_eq!(replicator(&store).1, 0);
    assert_eq!(read(&store, "k0").await.expect("read"), data(99, 2048));
}

#[test]
fn the_fold_tail_keeps_only_the_last_window_of_sequence_numbers() {
    use crate::replication::log::FOLD_REPLAY_SEQS;
    let mut tail = FoldTail::default();
    let meta = ObjectMeta {
        key: "k".into(),
        size: 1,
        etag: String::new(),
        last_modified_ms: 0,
        attrs: ObjectAttrs::default(),
        checksums: BTreeMap::new(),
        parts: 0,
        version: Version::default(),
        deleted: false,
        versioned: false,
        delete_marker: false,
    };
    let n = FOLD_REPLAY_SEQS * 5;
    for seq in 1..=n {
        let fold = small_log::Fold {
            seq,
            ts_ms: seq,
            cum_bytes: seq,
        };
        tail.add("bkt", &meta, fold);
        assert!(tail.by_seq.len() as u64 <= 2 * FOLD_REPLAY_SEQS + 1);
    }
    // An old one met late (another bucket) is out of the window.
    tail.add(
        "other",
        &meta,
        small_log::Fold {
            seq: 3,
            ts_ms: 0,
            cum_bytes: 0,
        },
    );
    let writes = tail.into_writes();
    assert_eq!(writes.len() as u64, FOLD_REPLAY_SEQS);
    assert_eq!(writes[0].fold.seq, n - FOLD_REPLAY_SEQS + 1);
    assert_eq!(writes.last().map(|w| w.fold.seq), Some(n));
}

/// One record in the middle of a segment is damaged (its data, or its header so that its length
/// is unknown): start-up loses only that record, counts it, and every other object still reads
/// back byte-identical, in sealed segments and in the active one; compaction then drops it.
#[tokio::test]
async fn a_damaged_middle_record_loses_only_itself_on_replay() {
    const N: u64 = 24;
    // (which segment, byte of the record to flip: 0 = magic, 6 = length, else inside the data)
    for (which, flip) in [
        (0usize, 200usize),
        (0, 0),
        (1, 6),
        (usize::MAX, 300),
        (usize::MAX, 6),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, _) = open_opts(dir.path(), 4000);
            store.create_bucket("bkt").await.expect("bucket");
            for i in 0..N {
                put(&store, &format!("k{i}"), data(i, 700 + i as usize)).await;
            }
        }
        let segs = segment_files(dir.path());
        assert!(segs.len() >= 3, "{segs:?}");
        let seg = if which == usize::MAX {
            segs.last().expect("active").clone()
        } else {
            segs[which].clone()
        };
        let mut bytes = std::fs::read(&seg).expect("read");
        let recs = small_log::records(&bytes);
        assert!(recs.len() >= 3, "{} records", recs.len());
        let victim = &recs[recs.len() / 2];
        let small_log::Content::Object(lost_key) = &victim.content else {
            panic!("an object record")
        };
        let lost_key = lost_key.clone();
        let at = victim.off as usize + flip;
        bytes[at] ^= 0x5a;
        std::fs::write(&seg, &bytes).expect("damage");

        let (store, metrics) = open_opts(dir.path(), 4000);
        let case = format!("segment {which}, byte {flip}");
        assert!(
            matches!(
                read(&store, &lost_key).await,
                Err(StoreError::NoSuchKey { .. })
            ),
            "{case}: the damaged record is lost, not served"
        );
        for i in 0..N {
            let key = format!("k{i}");
            if key == lost_key {
                continue;
            }
            assert_eq!(
                read(&store, &key).await.expect("intact record"),
                data(i, 700 + i as usize),
                "{case}: {key}"
            );
        }
        assert_eq!(store.small_log().damaged_records(), 1, "{case}");
        let text = String::from_utf8(metrics.render()).expect("utf8");
        assert!(
            text.contains("storage_node_scrub_errors_total 1"),
            "{case}: {text}"
        );
        assert!(
            text.contains("storage_node_checksum_errors_total 1"),
            "{case}: {text}"
        );
        assert_eq!(
            std::fs::metadata(&seg).expect("segment").len(),
            bytes.len() as u64,
            "{case}: nothing after the damage was cut off"
        );

        // Overwrites make every sealed segment dead enough to compact; the damaged bytes go and
        // nothing else is lost.
        for i in 0..N / 2 {
            put(&store, &format!("k{i}"), data(100 + i, 600)).await;
        }
        store.compact_log(u64::MAX, 0.0).expect("compact");
        drop(store);
        let (store, _) = open_opts(dir.path(), 4000);
        for i in 0..N {
            let key = format!("k{i}");
            let want = if i < N / 2 {
                data(100 + i, 600)
            } else if key == lost_key {
                continue;
            } else {
                data(i, 700 + i as usize)
            };
            assert_eq!(
                read(&store, &key).await.expect("after compaction"),
                want,
                "{case}: {key}"
            );
        }
    }
}

/// Damage that appears while the node runs is not dropped by compaction: the key whose record it
/// hit keeps answering a checksum error (not "no such key"), and the segment stays as it is.
#[tokio::test]
async fn compaction_leaves_a_segment_damaged_since_start_up_alone() {
    const N: u64 = 24;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open_opts(dir.path(), 4000);
    store.create_bucket("bkt").await.expect("bucket");
    for i in 0..N {
        put(&store, &format!("k{i}"), data(i, 700)).await;
    }
    let seg = segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&seg).expect("read");
    let recs: Vec<(u32, String)> = small_log::records(&bytes)
        .into_iter()
        .filter_map(|r| match r.content {
            small_log::Content::Object(k) => Some((r.off, k)),
            small_log::Content::Kill => None,
        })
        .collect();
    let (victim_off, lost_key) = recs[recs.len() / 2].clone();
    bytes[victim_off as usize + 300] ^= 0x5a;
    std::fs::write(&seg, &bytes).expect("damage");
    let others: Vec<String> = recs
        .into_iter()
        .map(|(_, k)| k)
        .filter(|k| *k != lost_key)
        .collect();
    // Every other key of that segment is overwritten: the segment is mostly dead.
    for k in &others {
        put(&store, k, data(500, 650)).await;
    }
    store.compact_log(u64::MAX, 0.0).expect("compact");
    assert!(seg.exists(), "the damaged segment was not rewritten");
    assert_eq!(store.small_log().damaged_records(), 1);
    assert!(matches!(
        read(&store, &lost_key).await,
        Err(StoreError::Corrupt { .. })
    ));
    for k in &others {
        assert_eq!(read(&store, k).await.expect("overwritten"), data(500, 650));
    }
}
