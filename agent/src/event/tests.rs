use super::*;

#[test]
fn labels_stay_sorted_and_unique() {
    let l = Labels::from_pairs([("mode", "idle"), ("cpu", "0"), ("mode", "user")]);
    let pairs: Vec<_> = l.iter().collect();
    assert_eq!(pairs, vec![("cpu", "0"), ("mode", "user")]);
    assert_eq!(l.get("cpu"), Some("0"));
    assert_eq!(l.get("nope"), None);
    assert_eq!(l.to_string(), r#"{cpu="0",mode="user"}"#);
}

#[test]
fn series_count_counts_exposition_lines() {
    let h = Value::Histogram(Histogram {
        buckets: vec![(0.1, 1.0), (1.0, 2.0)],
        sum: 1.5,
        count: 3.0,
    });
    // two buckets + the implied +Inf + sum + count
    assert_eq!(h.series_count(), 5);
    let h_inf = Value::Histogram(Histogram {
        buckets: vec![(0.1, 1.0), (f64::INFINITY, 2.0)],
        sum: 1.5,
        count: 2.0,
    });
    assert_eq!(h_inf.series_count(), 4);
    assert_eq!(Value::Scalar(1.0).series_count(), 1);
}

#[test]
fn name_validation() {
    assert!(is_valid_metric_name("node_cpu_seconds_total"));
    assert!(is_valid_metric_name("a:b"));
    assert!(!is_valid_metric_name("1abc"));
    assert!(!is_valid_metric_name("a-b"));
    assert!(!is_valid_metric_name(""));
    assert!(is_valid_label_name("device"));
    assert!(!is_valid_label_name("__name__"));
    assert!(!is_valid_label_name("a:b"));
}
