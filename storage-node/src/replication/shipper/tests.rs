use super::*;
use crate::replication::hlc::Version;

fn record(seq: u64, op: Option<ReplicaOp>) -> LogRecord {
    LogRecord {
        seq,
        ts_ms: 1000 + seq,
        bucket: "b".into(),
        key: format!("k{seq}"),
        version: Version { hlc: seq, node: 1 },
        size: 10,
        deleted: false,
        cum_bytes: seq * 10,
        op,
    }
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<LogRecord> {
    seqs.map(|s| record(s, None)).collect()
}

/// A request that the peer answers at once with success.
fn answered_ok(batch: Vec<LogRecord>) -> Sending {
    Box::pin(async move { (batch, Instant::now(), Ok((ApplyResponse::default(), 0, 0))) })
}

fn next_answer(pipe: &mut Pipeline) -> Vec<LogRecord> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (batch, _, res) = rt
        .block_on(futures::StreamExt::next(&mut pipe.in_flight))
        .expect("a batch in flight");
    assert!(res.is_ok());
    pipe.answered();
    batch
}

#[test]
fn two_batches_go_out_at_once_and_answers_come_back_in_log_order() {
    let mut pipe = Pipeline::new();
    pipe.queued.push_back(batch(1..=3));
    pipe.queued.push_back(batch(4..=5));
    assert!(
        !pipe.wants_more(),
        "the pipeline holds PIPELINE_DEPTH batches"
    );
    pipe.launch(answered_ok);
    assert_eq!(pipe.in_flight.len(), 2);
    assert_eq!(pipe.oldest_ms(), 1001);
    assert_eq!(next_answer(&mut pipe)[0].seq, 1);
    assert_eq!(pipe.oldest_ms(), 1004);
    assert!(pipe.wants_more());
    assert_eq!(next_answer(&mut pipe)[0].seq, 4);
    assert_eq!(pipe.oldest_ms(), 0);
}

#[test]
fn a_batch_with_an_operation_waits_for_the_pipeline_to_drain_and_goes_alone() {
    let mut pipe = Pipeline::new();
    pipe.queued.push_back(batch(1..=2));
    let mut with_op = batch(3..=3);
    with_op.push(record(4, Some(ReplicaOp::CreateBucket { created_ms: 5 })));
    pipe.queued.push_back(with_op);
    // Nothing is read behind a queued operation.
    assert!(!pipe.wants_more());
    pipe.launch(answered_ok);
    assert_eq!(pipe.in_flight.len(), 1, "the operation waits");
    assert_eq!(next_answer(&mut pipe)[0].seq, 1);
    pipe.launch(answered_ok);
    assert_eq!(pipe.in_flight.len(), 1);
    assert!(pipe.barrier);
    // Nothing goes out (or is read) behind it until it is answered.
    pipe.queued.push_back(batch(5..=6));
    pipe.launch(answered_ok);
    assert_eq!(pipe.in_flight.len(), 1);
    assert!(!pipe.wants_more());
    assert_eq!(next_answer(&mut pipe)[0].seq, 3);
    assert!(!pipe.barrier);
    pipe.launch(answered_ok);
    assert_eq!(next_answer(&mut pipe)[0].seq, 5);
}

#[test]
fn reset_drops_every_batch() {
    let mut pipe = Pipeline::new();
    pipe.queued.push_back(batch(1..=2));
    pipe.queued.push_back(batch(3..=4));
    pipe.launch(answered_ok);
    pipe.reset();
    assert!(pipe.in_flight.is_empty() && pipe.queued.is_empty() && pipe.firsts.is_empty());
    assert_eq!(pipe.oldest_ms(), 0);
    assert!(pipe.wants_more());
}

/// A key written again between reading a batch and opening its file: in a versioned bucket the
/// version the batch's record names is shipped (the newer one has a record of its own; shipping it
/// in its place would leave the peer without that version for good), in an unversioned bucket the
/// newer current file covers it.
#[tokio::test]
async fn a_version_replaced_after_the_batch_was_read_is_still_the_one_shipped() {
    use crate::store::{ObjectAttrs, ObjectStore, VersioningStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = crate::store::disk::DiskStore::open_node(
        dir.path().to_owned(),
        Arc::new(crate::metrics::Metrics::new(true, "t")),
        "a",
    )
    .expect("open store");
    store.create_bucket("vbk").await.expect("bucket");
    store
        .put_versioning("vbk", VersioningStatus::Enabled)
        .await
        .expect("versioning");
    store.create_bucket("ubk").await.expect("bucket");
    let config = crate::replication::config::ReplicationConfig {
        peers: vec![crate::replication::config::parse_peer("b=http://127.0.0.1:9").expect("peer")],
        ..Default::default()
    };
    let (rep, _) = Replicator::open(
        "a".into(),
        "secret".into(),
        config,
        store.clone(),
        crate::replication::metrics::ReplicationMetrics::new(None),
    )
    .expect("open replicator");
    let rep = Arc::new(rep);
    store.set_write_log(rep.clone());
    let put = |bucket: &'static str, data: &'static [u8]| {
        let store = store.clone();
        async move {
            let body: crate::store::ByteStream = Box::pin(futures::stream::once(async move {
                Ok(Bytes::from_static(data))
            }));
            store
                .put_object(
                    bucket,
                    "k",
                    ObjectAttrs::default(),
                    body,
                    Box::new(|_| Ok(Default::default())),
                )
                .await
                .expect("put")
        }
    };
    let first_v = put("vbk", b"one").await;
    put("ubk", b"one").await;
    let batch = LogReader::new(rep.log.clone(), 1)
        .read(100, u64::MAX)
        .expect("read the log");
    assert_eq!(batch.len(), 2);
    let items = ship_items(&rep, &batch);
    // Written again before the batch's files are opened.
    put("vbk", b"two").await;
    put("ubk", b"two").await;
    let prepared = prepare(&rep, &rep.peers[0], items).expect("prepare");
    let frames: Vec<(String, Version, Bytes)> = prepared
        .into_iter()
        .map(|p| {
            let h: FrameHeader = serde_json::from_slice(&p.header).expect("header");
            (h.bucket, h.meta.version, p.inline.expect("inline"))
        })
        .collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].0, "vbk");
    assert_eq!(frames[0].1, first_v.version);
    assert_eq!(&frames[0].2[..], b"one");
    assert_eq!(frames[1].0, "ubk");
    assert_eq!(&frames[1].2[..], b"two");
}

/// A version that was noncurrent when the batch was read and is current again when its file is
/// opened (the newer version was deleted for good meanwhile) is still shipped.
#[tokio::test]
async fn a_version_current_again_when_its_file_is_opened_is_still_shipped() {
    use crate::store::{ObjectAttrs, ObjectStore, VersioningStatus};
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = crate::store::disk::DiskStore::open_node(
        dir.path().to_owned(),
        Arc::new(crate::metrics::Metrics::new(true, "t")),
        "a",
    )
    .expect("open store");
    store.create_bucket("vbk").await.expect("bucket");
    store
        .put_versioning("vbk", VersioningStatus::Enabled)
        .await
        .expect("versioning");
    let config = crate::replication::config::ReplicationConfig {
        peers: vec![crate::replication::config::parse_peer("b=http://127.0.0.1:9").expect("peer")],
        ..Default::default()
    };
    let (rep, _) = Replicator::open(
        "a".into(),
        "secret".into(),
        config,
        store.clone(),
        crate::replication::metrics::ReplicationMetrics::new(None),
    )
    .expect("open replicator");
    let rep = Arc::new(rep);
    store.set_write_log(rep.clone());
    let mut metas = Vec::new();
    for data in [&b"one"[..], &b"two"[..]] {
        let body: crate::store::ByteStream = Box::pin(futures::stream::once(async move {
            Ok(Bytes::from_static(data))
        }));
        metas.push(
            store
                .put_object(
                    "vbk",
                    "k",
                    ObjectAttrs::default(),
                    body,
                    Box::new(|_| Ok(Default::default())),
                )
                .await
                .expect("put"),
        );
    }
    let batch = LogReader::new(rep.log.clone(), 1)
        .read(1, u64::MAX)
        .expect("read the log");
    let items = ship_items(&rep, &batch);
    assert!(
        matches!(items.as_slice(), [ShipItem::Version { .. }]),
        "{items:?}"
    );
    // The newer version goes for good: the first one is current again.
    store
        .delete_object_version(
            "vbk",
            "k",
            Some(&crate::store::versioning::version_id(metas[1].version)),
        )
        .await
        .expect("delete the newer version");
    let prepared = prepare(&rep, &rep.peers[0], items).expect("prepare");
    assert_eq!(prepared.len(), 1);
    let h: FrameHeader = serde_json::from_slice(&prepared[0].header).expect("header");
    assert_eq!(h.meta.version, metas[0].version);
    assert_eq!(prepared[0].inline.as_deref(), Some(&b"one"[..]));
}
