use super::*;

#[test]
fn slow_ops_are_counted_while_in_flight_and_when_they_end() {
    let metrics = Arc::new(Metrics::new(true, "n"));
    let tracker = OpTracker::new(Duration::from_millis(20), metrics.clone());
    let fast = tracker.start(Op::Get, "r1".into());
    drop(fast);
    let slow = tracker.start(Op::Put, "r2".into());
    assert_eq!(tracker.refresh_slow(), 0);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(tracker.refresh_slow(), 1);
    assert_eq!(tracker.snapshot(10)[0].request_id, "r2");
    drop(slow);
    assert_eq!(tracker.in_flight(), 0);
    let text = String::from_utf8(metrics.render()).expect("utf8");
    assert!(text.contains("storage_node_slow_ops_total 1"), "{text}");
    assert!(text.contains("storage_node_ops_in_flight 0"));
}
