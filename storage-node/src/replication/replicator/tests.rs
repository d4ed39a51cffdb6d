use super::*;
use crate::metrics::Metrics;

/// A replicator of node "a" with peers "b" and "c" (never contacted here), `--write-quorum 3`.
fn replicator(dir: &std::path::Path, timeout_ms: u64) -> Arc<Replicator> {
    let (store, _) =
        DiskStore::open(dir.to_owned(), Arc::new(Metrics::new(true, "t"))).expect("open store");
    let config = ReplicationConfig {
        peers: ["b=http://127.0.0.1:9", "c=http://127.0.0.1:9"]
            .iter()
            .map(|s| super::super::config::parse_peer(s).expect("peer"))
            .collect(),
        write_quorum: 3,
        quorum_timeout_ms: timeout_ms,
        ..Default::default()
    };
    let (rep, _) = Replicator::open(
        "a".into(),
        "secret".into(),
        config,
        store,
        ReplicationMetrics::new(None),
    )
    .expect("open replicator");
    Arc::new(rep)
}

async fn settle_tasks() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Writes waiting for their quorum are released exactly when both peers hold their sequence
/// number, each once, whatever the order of the acknowledgements; the waiting list is then empty.
#[tokio::test]
async fn a_write_is_released_once_the_quorum_holds_its_sequence_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rep = replicator(dir.path(), 60_000);
    let waits: Vec<_> = (1..=8u64)
        .map(|seq| {
            let rep = rep.clone();
            tokio::spawn(async move { rep.wait_quorum(seq).await })
        })
        .collect();
    settle_tasks().await;
    assert_eq!(rep.quorum.lock().expect("lock").waiting.len(), 8);
    let (b, c) = (rep.peers[0].clone(), rep.peers[1].clone());
    // One peer is not a quorum of three.
    rep.acked(&b, 5, 0);
    settle_tasks().await;
    assert!(waits.iter().all(|w| !w.is_finished()));
    rep.acked(&c, 3, 0);
    settle_tasks().await;
    let done: Vec<bool> = waits.iter().map(|w| w.is_finished()).collect();
    assert_eq!(done, [true, true, true, false, false, false, false, false]);
    rep.acked(&c, 8, 0);
    settle_tasks().await;
    let done: Vec<bool> = waits.iter().map(|w| w.is_finished()).collect();
    assert_eq!(done, [true, true, true, true, true, false, false, false]);
    rep.acked(&b, 8, 0);
    for w in waits {
        w.await.expect("task").expect("quorum");
    }
    assert!(rep.quorum.lock().expect("lock").waiting.is_empty());
    // Already held: answered at once.
    rep.wait_quorum(7).await.expect("held");
    assert_eq!(rep.metrics.write_quorum_failures.get(), 0);
    assert_eq!(rep.metrics.write_quorum_wait.get_sample_count(), 9);
}

/// A peer being repaired does not count toward the quorum; a write whose quorum is not reached in
/// time gets the 503 error, is counted, and leaves nothing behind in the waiting list.
#[tokio::test]
async fn a_write_times_out_when_a_peer_does_not_count_and_leaves_no_waiter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rep = replicator(dir.path(), 300);
    let (b, c) = (rep.peers[0].clone(), rep.peers[1].clone());
    c.recovering.store(true, Ordering::Release);
    rep.acked(&b, 4, 0);
    rep.acked(&c, 4, 0);
    let err = rep.wait_quorum(2).await.expect_err("c is being repaired");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(rep.metrics.write_quorum_failures.get(), 1);
    assert!(rep.quorum.lock().expect("lock").waiting.is_empty());
    // The pass ends: a write waiting now is released by `quorum_changed`.
    let rep2 = rep.clone();
    let w = tokio::spawn(async move { rep2.wait_quorum(3).await });
    settle_tasks().await;
    assert!(!w.is_finished());
    c.recovering.store(false, Ordering::Release);
    rep.quorum_changed();
    w.await.expect("task").expect("quorum after recovery");
    assert_eq!(rep.metrics.write_quorum_failures.get(), 1);
}
