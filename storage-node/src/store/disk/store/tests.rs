use std::collections::BTreeMap;

use futures::StreamExt;

use super::*;

fn body(data: Vec<u8>) -> ByteStream {
    Box::pin(futures::stream::iter(
        data.chunks(300_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ))
}

fn ok_hook() -> FinishHook {
    Box::new(|_| Ok(BTreeMap::new()))
}

async fn read_all(store: &DiskStore, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut obj = store.get_object(bucket, key, None).await?;
    let mut out = Vec::new();
    while let Some(chunk) = obj.stream.next().await {
        out.extend_from_slice(&chunk.map_err(StoreError::Body)?);
    }
    Ok(out)
}

fn open(dir: &Path) -> DiskStore {
    DiskStore::open(dir.to_owned(), Arc::new(Metrics::new(true, "t")))
        .expect("open")
        .0
}

#[tokio::test]
async fn objects_survive_reopen_and_leftovers_are_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i * 7 % 256) as u8).collect();
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        let meta = store
            .put_object(
                "bkt",
                "../../x",
                ObjectAttrs::default(),
                body(data.clone()),
                ok_hook(),
            )
            .await
            .expect("put");
        assert_eq!(meta.size, data.len() as u64);
        std::fs::write(dir.path().join("tmp").join("half-written"), b"junk").expect("leftover");
    }
    let store = open(dir.path());
    assert_eq!(
        read_all(&store, "bkt", "../../x").await.expect("read"),
        data
    );
    assert_eq!(store.stats().objects, 1);
    assert!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .next()
            .is_none()
    );
    assert!(!dir.path().parent().expect("parent").join("x").exists());
}

#[tokio::test]
async fn a_failing_finish_hook_leaves_nothing_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let hook: FinishHook = Box::new(|_| Err(StoreError::BadDigest("no".into())));
    let e = store
        .put_object("bkt", "k", ObjectAttrs::default(), body(vec![1; 10]), hook)
        .await;
    assert!(matches!(e, Err(StoreError::BadDigest(_))));
    assert!(matches!(
        store.head_object("bkt", "k").await,
        Err(StoreError::NoSuchKey { .. })
    ));
    assert!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn a_body_that_breaks_leaves_nothing_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let broken: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from(vec![0u8; 2 << 20])),
        Err(std::io::Error::other("client went away")),
    ]));
    let e = store
        .put_object("bkt", "k", ObjectAttrs::default(), broken, ok_hook())
        .await;
    assert!(matches!(e, Err(StoreError::Body(_))));
    assert_eq!(store.stats().objects, 0);
    assert!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn multipart_completes_in_order_and_checks_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let up = store
        .create_upload("bkt", "big", ObjectAttrs::default(), None)
        .await
        .expect("create");
    let p1: Vec<u8> = vec![1; 5 << 20];
    let p2: Vec<u8> = vec![2; 10];
    let i1 = store
        .upload_part("bkt", "big", &up.upload_id, 1, body(p1.clone()), ok_hook())
        .await
        .expect("p1");
    let i2 = store
        .upload_part("bkt", "big", &up.upload_id, 2, body(p2.clone()), ok_hook())
        .await
        .expect("p2");
    let wrong_order = vec![(2, i2.etag.clone()), (1, i1.etag.clone())];
    assert!(matches!(
        store
            .complete_upload("bkt", "big", &up.upload_id, wrong_order)
            .await,
        Err(StoreError::InvalidPartOrder)
    ));
    let small_first = vec![(2, i2.etag.clone()), (3, i2.etag.clone())];
    assert!(
        store
            .complete_upload("bkt", "big", &up.upload_id, small_first)
            .await
            .is_err()
    );
    let meta = store
        .complete_upload(
            "bkt",
            "big",
            &up.upload_id,
            vec![(1, i1.etag), (2, format!("\"{}\"", i2.etag))],
        )
        .await
        .expect("complete");
    assert!(meta.etag.ends_with("-2"));
    assert_eq!(
        read_all(&store, "bkt", "big").await.expect("read"),
        [p1, p2].concat()
    );
    assert!(matches!(
        store.list_parts("bkt", "big", &up.upload_id).await,
        Err(StoreError::NoSuchUpload(_))
    ));
    assert!(matches!(
        store.list_parts("bkt", "big", "../../etc").await,
        Err(StoreError::NoSuchUpload(_))
    ));
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

#[tokio::test]
async fn replicas_apply_by_version_and_deletes_are_tombstones_that_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let v = |hlc| Version { hlc, node: 9 };
    // A replica creates its bucket on the way.
    assert!(
        store
            .apply_replica(
                "rbk",
                replica("k", b"one", v(10), false),
                body(b"one".to_vec()),
                ok_hook()
            )
            .await
            .expect("apply")
    );
    assert_eq!(read_all(&store, "rbk", "k").await.expect("read"), b"one");
    // An older or equal version is not applied; applying twice is harmless.
    assert!(
        !store
            .apply_replica(
                "rbk",
                replica("k", b"old", v(5), false),
                body(b"old".to_vec()),
                ok_hook()
            )
            .await
            .expect("apply")
    );
    assert!(
        !store
            .apply_replica(
                "rbk",
                replica("k", b"one", v(10), false),
                body(b"one".to_vec()),
                ok_hook()
            )
            .await
            .expect("apply")
    );
    assert_eq!(read_all(&store, "rbk", "k").await.expect("read"), b"one");
    // A body that does not match its header's MD5 is refused, and nothing changes.
    let e = store
        .apply_replica(
            "rbk",
            replica("k", b"two", v(11), false),
            body(b"tw0".to_vec()),
            ok_hook(),
        )
        .await;
    assert!(matches!(e, Err(StoreError::BadDigest(_))), "{e:?}");
    // A newer tombstone deletes; an older put does not bring the key back.
    assert!(
        store
            .apply_replica(
                "rbk",
                replica("k", b"", v(12), true),
                body(Vec::new()),
                ok_hook()
            )
            .await
            .expect("apply")
    );
    assert!(matches!(
        read_all(&store, "rbk", "k").await,
        Err(StoreError::NoSuchKey { .. })
    ));
    assert!(
        !store
            .apply_replica(
                "rbk",
                replica("k", b"one", v(10), false),
                body(b"one".to_vec()),
                ok_hook()
            )
            .await
            .expect("apply")
    );
    assert_eq!(store.version_of("rbk", "k"), Some((v(12), true)));
    // A local write afterwards gets a newer version (the clock observed the replica's).
    store
        .put_object(
            "rbk",
            "k",
            ObjectAttrs::default(),
            body(b"local".to_vec()),
            ok_hook(),
        )
        .await
        .expect("put");
    let (local, deleted) = store.version_of("rbk", "k").expect("version");
    assert!(local > v(12) && !deleted);
    store.delete_object("rbk", "k").await.expect("delete");
    let (tomb, deleted) = store.version_of("rbk", "k").expect("tombstone");
    assert!(tomb > local && deleted);
    assert_eq!(store.stats().objects, 0);
    drop(store);
    // The tombstone and the clock survive a restart; a listing never shows the tombstone.
    let store = open(dir.path());
    assert_eq!(store.version_of("rbk", "k"), Some((tomb, true)));
    assert!(store.hlc().tick() > tomb);
    let page = store
        .list_objects(
            "rbk",
            ListQuery {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert!(page.objects.is_empty());
    assert!(store.gc_tombstone("rbk", "k", tomb).await.expect("gc"));
    assert_eq!(store.version_of("rbk", "k"), None);
    store
        .delete_bucket("rbk")
        .await
        .expect("empty bucket deletes");
}
