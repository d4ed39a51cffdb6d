use super::*;

#[test]
fn series_exist_from_the_start_with_bounded_labels() {
    let m = Metrics::new(true, "n1");
    m.observe_op(Op::Get, Outcome::Success, 0.002);
    let text = String::from_utf8(m.render()).expect("utf8");
    assert!(text.contains(
        "storage_node_op_latency_seconds_bucket{op=\"get\",outcome=\"success\",le=\"0.0025\"} 1"
    ));
    assert!(text.contains(
        "storage_node_op_latency_seconds_count{op=\"multipart\",outcome=\"server_error\"} 0"
    ));
    assert!(text.contains("le=\"0.0001\"") && text.contains("le=\"10\""));
    assert!(text.contains("storage_node_build_info{node_id=\"n1\""));
}

#[test]
fn disabled_instrumentation_exports_only_build_info() {
    let m = Metrics::new(false, "n1");
    m.observe_op(Op::Put, Outcome::Success, 0.1);
    m.add_written_bytes(10);
    let text = String::from_utf8(m.render()).expect("utf8");
    assert!(text.contains("storage_node_build_info"));
    assert!(!text.contains("storage_node_op_latency_seconds"));
}

#[test]
fn outcome_follows_status() {
    assert_eq!(Outcome::from_status(200), Outcome::Success);
    assert_eq!(Outcome::from_status(206), Outcome::Success);
    assert_eq!(Outcome::from_status(404), Outcome::ClientError);
    assert_eq!(Outcome::from_status(507), Outcome::ServerError);
}
