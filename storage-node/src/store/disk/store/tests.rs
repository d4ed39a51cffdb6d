use std::collections::BTreeMap;

use futures::StreamExt;

use super::*;

fn body(data: Vec<u8>) -> ByteStream {
    Box::pin(futures::stream::iter(data.chunks(300_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>()))
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
    DiskStore::open(dir.to_owned(), Arc::new(Metrics::new(true, "t"))).expect("open").0
}

#[tokio::test]
async fn objects_survive_reopen_and_leftovers_are_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i * 7 % 256) as u8).collect();
    {
        let store = open(dir.path());
        store.create_bucket("bkt").await.expect("bucket");
        let meta = store.put_object("bkt", "../../x", ObjectAttrs::default(), body(data.clone()), ok_hook()).await.expect("put");
        assert_eq!(meta.size, data.len() as u64);
        std::fs::write(dir.path().join("tmp").join("half-written"), b"junk").expect("leftover");
    }
    let store = open(dir.path());
    assert_eq!(read_all(&store, "bkt", "../../x").await.expect("read"), data);
    assert_eq!(store.stats().objects, 1);
    assert!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").next().is_none());
    assert!(!dir.path().parent().expect("parent").join("x").exists());
}

#[tokio::test]
async fn a_failing_finish_hook_leaves_nothing_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let hook: FinishHook = Box::new(|_| Err(StoreError::BadDigest("no".into())));
    let e = store.put_object("bkt", "k", ObjectAttrs::default(), body(vec![1; 10]), hook).await;
    assert!(matches!(e, Err(StoreError::BadDigest(_))));
    assert!(matches!(store.head_object("bkt", "k").await, Err(StoreError::NoSuchKey { .. })));
    assert!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").next().is_none());
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
    let e = store.put_object("bkt", "k", ObjectAttrs::default(), broken, ok_hook()).await;
    assert!(matches!(e, Err(StoreError::Body(_))));
    assert_eq!(store.stats().objects, 0);
    assert!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").next().is_none());
}

#[tokio::test]
async fn multipart_completes_in_order_and_checks_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_bucket("bkt").await.expect("bucket");
    let up = store.create_upload("bkt", "big", ObjectAttrs::default(), None).await.expect("create");
    let p1: Vec<u8> = vec![1; 5 << 20];
    let p2: Vec<u8> = vec![2; 10];
    let i1 = store.upload_part("bkt", "big", &up.upload_id, 1, body(p1.clone()), ok_hook()).await.expect("p1");
    let i2 = store.upload_part("bkt", "big", &up.upload_id, 2, body(p2.clone()), ok_hook()).await.expect("p2");
    let wrong_order = vec![(2, i2.etag.clone()), (1, i1.etag.clone())];
    assert!(matches!(store.complete_upload("bkt", "big", &up.upload_id, wrong_order).await, Err(StoreError::InvalidPartOrder)));
    let small_first = vec![(2, i2.etag.clone()), (3, i2.etag.clone())];
    assert!(store.complete_upload("bkt", "big", &up.upload_id, small_first).await.is_err());
    let meta = store
        .complete_upload("bkt", "big", &up.upload_id, vec![(1, i1.etag), (2, format!("\"{}\"", i2.etag))])
        .await
        .expect("complete");
    assert!(meta.etag.ends_with("-2"));
    assert_eq!(read_all(&store, "bkt", "big").await.expect("read"), [p1, p2].concat());
    assert!(matches!(store.list_parts("bkt", "big", &up.upload_id).await, Err(StoreError::NoSuchUpload(_))));
    assert!(matches!(store.list_parts("bkt", "big", "../../etc").await, Err(StoreError::NoSuchUpload(_))));
}
