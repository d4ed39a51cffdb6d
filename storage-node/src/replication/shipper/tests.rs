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
