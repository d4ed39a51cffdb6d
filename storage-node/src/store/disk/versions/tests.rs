use super::*;

fn e(hlc: u64, versioned: bool, marker: bool) -> Entry {
    Entry {
        version: Version { hlc, node: 1 },
        versioned,
        marker,
        ..Default::default()
    }
}

#[test]
fn unversioned_writes_replace_and_lose_by_version() {
    let cur = e(5, false, false);
    assert_eq!(
        place(Some((cur, false)), &[], &e(6, false, false), false),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(4, false, false), false),
        Placement::Stale
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(5, false, false), false),
        Placement::Stale
    );
    // A tombstone replaces without keeping anything; an older tombstone loses.
    assert_eq!(
        place(Some((cur, false)), &[], &e(6, false, false), true),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    assert_eq!(
        place(Some((cur, false)), &[], &e(4, false, false), true),
        Placement::Stale
    );
}

#[test]
fn versioned_writes_keep_what_they_replace_in_any_order() {
    let null = e(5, false, false);
    let v6 = e(6, true, false);
    // Enabling versioning keeps the null version under the first versioned write.
    assert_eq!(
        place(Some((null, false)), &[], &v6, false),
        Placement::Current {
            archive: Some(null),
            drop_null: None
        }
    );
    // An older versioned write arriving late is kept as noncurrent.
    assert_eq!(
        place(
            Some((e(9, true, false), false)),
            &[v6],
            &e(7, true, false),
            false
        ),
        Placement::Noncurrent { replaces: None }
    );
    // A delete marker becomes current and keeps the object.
    let marker = e(10, true, true);
    assert_eq!(
        place(Some((v6, false)), &[null], &marker, true),
        Placement::Current {
            archive: Some(v6),
            drop_null: None
        }
    );
}

#[test]
fn a_suspended_bucket_keeps_one_null_version() {
    let v6 = e(6, true, false);
    let old_null = e(5, false, false);
    // A null write over a versioned current keeps it and drops the older null.
    assert_eq!(
        place(Some((v6, false)), &[old_null], &e(7, false, false), false),
        Placement::Current {
            archive: Some(v6),
            drop_null: Some(old_null)
        }
    );
    // A null write over a null current replaces it.
    assert_eq!(
        place(
            Some((e(7, false, false), false)),
            &[v6],
            &e(8, false, true),
            true
        ),
        Placement::Current {
            archive: None,
            drop_null: None
        }
    );
    // A late null older than the noncurrent null loses; a newer one replaces it.
    let cur = e(9, true, false);
    assert_eq!(
        place(
            Some((cur, false)),
            &[e(6, false, false)],
            &e(5, false, false),
            false
        ),
        Placement::Stale
    );
    assert_eq!(
        place(
            Some((cur, false)),
            &[e(6, false, false)],
            &e(7, false, false),
            false
        ),
        Placement::Noncurrent {
            replaces: Some(e(6, false, false))
        }
    );
}

mod on_disk {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::metrics::Metrics;
    use crate::store::disk::DiskStore;
    use crate::store::disk::layout::key_hash;
    use crate::store::{
        ByteStream, FinishHook, ObjectAttrs, ObjectStore, VersionQuery, VersioningStatus,
    };

    fn open(dir: &std::path::Path) -> DiskStore {
        DiskStore::open(dir.to_owned(), Arc::new(Metrics::new(true, "t")))
            .expect("open")
            .0
    }

    fn body(data: &[u8]) -> ByteStream {
        let b = Bytes::copy_from_slice(data);
        Box::pin(futures::stream::once(async move { Ok(b) }))
    }

    fn ok() -> FinishHook {
        Box::new(|_| Ok(BTreeMap::new()))
    }

    async fn ids(store: &DiskStore) -> Vec<(String, bool, bool)> {
        let q = VersionQuery {
            max_keys: 1000,
            ..Default::default()
        };
        let page = store.list_object_versions("bkt", q).await.expect("list");
        page.items
            .into_iter()
            .map(|i| (i.version_id, i.is_latest, i.delete_marker))
            .collect()
    }

    #[tokio::test]
    async fn versions_survive_reopen_and_a_crash_between_link_and_rename_leaves_no_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before;
        {
            let store = open(dir.path());
            store.create_bucket("bkt").await.expect("bucket");
            let attrs = ObjectAttrs::default;
            store
                .put_object("bkt", "k", attrs(), body(b"null"), ok())
                .await
                .expect("put");
            store
                .put_versioning("bkt", VersioningStatus::Enabled)
                .await
                .expect("enable");
            for d in [b"one".as_slice(), b"two"] {
                store
                    .put_object("bkt", "k", attrs(), body(d), ok())
                    .await
                    .expect("put");
            }
            store
                .delete_object_version("bkt", "k", None)
                .await
                .expect("marker");
            before = ids(&store).await;
            assert_eq!(before.len(), 4);
            assert!(before[0].1, "the newest version is the latest");
            assert!(before[0].2, "the current version is the delete marker");
            assert_eq!(before[3].0, "null");
            // A crash after the current file was linked into .versions, before the new file
            // replaced it: the link is a copy of the current version.
            let h = key_hash("k");
            let current = dir.path().join("buckets/bkt").join(&h[..2]).join(&h);
            let (vdir, vfile) = store.inner.layout.version("bkt", "k", &before[0].0);
            std::fs::create_dir_all(&vdir).expect("dir");
            std::fs::hard_link(&current, &vfile).expect("link");
        }
        let store = open(dir.path());
        assert_eq!(ids(&store).await, before);
        assert_eq!(
            store.get_versioning("bkt").await.expect("status"),
            Some(VersioningStatus::Enabled)
        );
        let (_, vfile) = store.inner.layout.version("bkt", "k", &before[0].0);
        assert!(!vfile.exists(), "the leftover copy is removed at start-up");
        // Purging the marker brings back the newest version, read through its CRC32C checks.
        store
            .delete_object_version("bkt", "k", Some(&before[0].0))
            .await
            .expect("purge");
        let meta = store.head_object("bkt", "k").await.expect("head");
        assert_eq!(meta.version_id(), before[1].0);
        assert_eq!(meta.size, 3);
    }
}
