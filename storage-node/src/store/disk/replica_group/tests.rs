use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::*;
use crate::metrics::Metrics;
use crate::replication::hlc::Version;
use crate::store::disk::StoreOptions;
use crate::store::{ObjectAttrs, ObjectStore, VersioningStatus};

fn open(dir: &Path) -> DiskStore {
    let options = StoreOptions {
        small_object_max_bytes: 64 << 10,
        log_segment_bytes: small_log::SEGMENT_MAX_BYTES,
    };
    DiskStore::open_with(
        dir.to_owned(),
        Arc::new(Metrics::new(true, "t")),
        "t",
        options,
    )
    .expect("open")
    .0
}

fn v(hlc: u64) -> Version {
    Version { hlc, node: 9 }
}

fn replica(key: &str, data: &[u8], version: Version, deleted: bool) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size: data.len() as u64,
        etag: if deleted {
            String::new()
        } else {
            hex::encode(<md5::Md5 as md5::Digest>::digest(data))
        },
        last_modified_ms: 1,
        attrs: ObjectAttrs::default(),
        checksums: BTreeMap::new(),
        parts: 0,
        version,
        deleted,
        versioned: false,
        delete_marker: false,
    }
}

fn item(key: &str, data: &[u8], version: Version) -> ReplicaItem {
    (
        "rbk".to_owned(),
        replica(key, data, version, false),
        Bytes::copy_from_slice(data),
    )
}

fn tombstone(key: &str, version: Version) -> ReplicaItem {
    (
        "rbk".to_owned(),
        replica(key, b"", version, true),
        Bytes::new(),
    )
}

async fn read(store: &DiskStore, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut obj = store.get_object("rbk", key, None).await?;
    let mut out = Vec::new();
    while let Some(c) = obj.stream.next().await {
        out.extend_from_slice(&c.map_err(StoreError::Body)?);
    }
    Ok(out)
}

fn applied(results: &[Result<bool, StoreError>]) -> Vec<bool> {
    results
        .iter()
        .map(|r| *r.as_ref().expect("applied without error"))
        .collect()
}

#[tokio::test]
async fn a_batch_of_small_replicas_costs_one_fsync_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("rbk").await.expect("bucket");
    let items: Vec<ReplicaItem> = (0..40u64)
        .map(|i| {
            let d = vec![i as u8; 1000 + i as usize];
            item(&format!("k{i}"), &d, v(100 + i))
        })
        .collect();
    let before = store.small_log().fsync_count();
    let results = store.apply_replicas(items).await;
    assert_eq!(applied(&results), vec![true; 40]);
    assert_eq!(
        store.small_log().fsync_count() - before,
        1,
        "one fsync for the batch"
    );
    // The group commit histogram saw one batch of all 40 writes.
    let text = String::from_utf8(store.inner.metrics.render()).expect("utf-8");
    assert!(
        text.lines().any(
            |l| l.starts_with("storage_node_group_commit_batch_size_count") && l.ends_with(" 1")
        ),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("storage_node_group_commit_batch_size_sum") && l.ends_with(" 40")
        ),
        "{text}"
    );
    // Applying the same batch again is harmless: every item is stale, nothing is written.
    let again: Vec<ReplicaItem> = (0..40u64)
        .map(|i| {
            let d = vec![i as u8; 1000 + i as usize];
            item(&format!("k{i}"), &d, v(100 + i))
        })
        .collect();
    assert_eq!(applied(&store.apply_replicas(again).await), vec![false; 40]);
    assert_eq!(store.small_log().fsync_count() - before, 1);
    drop(store);
    let store = open(dir.path());
    for i in 0..40u64 {
        assert_eq!(
            read(&store, &format!("k{i}")).await.expect("read"),
            vec![i as u8; 1000 + i as usize]
        );
        assert_eq!(
            store.version_of("rbk", &format!("k{i}")),
            Some((v(100 + i), false))
        );
    }
}

#[tokio::test]
async fn overwrites_and_deletes_of_one_key_within_a_batch_keep_the_last_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // The bucket is created by the batch itself.
    let results = store
        .apply_replicas(vec![
            item("a", b"a1", v(10)),
            item("a", b"a2", v(11)),
            item("b", b"b1", v(12)),
            tombstone("b", v(13)),
            item("c", b"c1", v(14)),
            tombstone("c", v(15)),
            item("c", b"c3", v(16)),
            // Shipped out of order after a restart: older than what the batch holds.
            item("a", b"a0", v(9)),
            item("d", &vec![7u8; 200_000], v(17)),
            item("d", b"d2", v(18)),
        ])
        .await;
    // Log-bound objects are placed first, the rest after them in frame order: "d"'s large
    // version is placed after its newer small one and loses, as the newest must win.
    assert_eq!(
        applied(&results),
        vec![true, true, true, true, true, true, true, false, false, true]
    );
    assert_eq!(read(&store, "a").await.expect("a"), b"a2");
    assert!(matches!(
        read(&store, "b").await,
        Err(StoreError::NoSuchKey { .. })
    ));
    assert_eq!(store.version_of("rbk", "b"), Some((v(13), true)));
    assert_eq!(read(&store, "c").await.expect("c"), b"c3");
    assert_eq!(read(&store, "d").await.expect("d"), b"d2");
    // Stale versions of the batch's keys arriving later change nothing.
    let results = store
        .apply_replicas(vec![item("a", b"a1", v(10)), item("b", b"b1", v(12))])
        .await;
    assert_eq!(applied(&results), vec![false, false]);
    drop(store);
    let store = open(dir.path());
    assert_eq!(read(&store, "a").await.expect("a"), b"a2");
    assert!(matches!(
        read(&store, "b").await,
        Err(StoreError::NoSuchKey { .. })
    ));
    assert_eq!(read(&store, "c").await.expect("c"), b"c3");
    assert_eq!(read(&store, "d").await.expect("d"), b"d2");
}

#[tokio::test]
async fn bad_items_fail_alone_and_versioned_buckets_keep_their_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("rbk").await.expect("bucket");
    let mut bad = item("bad", b"good", v(20));
    bad.2 = Bytes::from_static(b"g00d");
    let results = store
        .apply_replicas(vec![item("x", b"x1", v(21)), bad, item("y", b"y1", v(22))])
        .await;
    assert!(matches!(results[0], Ok(true)));
    assert!(
        matches!(results[1], Err(StoreError::BadDigest(_))),
        "{:?}",
        results[1]
    );
    assert!(matches!(results[2], Ok(true)));
    assert!(matches!(
        read(&store, "bad").await,
        Err(StoreError::NoSuchKey { .. })
    ));
    // In a versioned bucket the replaced version is kept as noncurrent.
    store
        .put_versioning("rbk", VersioningStatus::Enabled)
        .await
        .expect("versioning");
    let mut m = replica("x", b"x2", v(30), false);
    m.versioned = true;
    let results = store
        .apply_replicas(vec![("rbk".to_owned(), m, Bytes::from_static(b"x2"))])
        .await;
    assert_eq!(applied(&results), vec![true]);
    assert_eq!(read(&store, "x").await.expect("x"), b"x2");
    assert_eq!(store.noncurrent_versions("rbk", "x").len(), 1);
}
