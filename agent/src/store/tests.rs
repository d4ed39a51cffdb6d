use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::event::{Family, Labels};
use crate::metrics::AgentMetrics;

fn fam(name: &str, n: usize) -> Family {
    let mut f = Family::gauge(name, "h");
    for i in 0..n {
        f.push(Labels::new().with("i", i.to_string()), i as f64);
    }
    f
}

#[test]
fn cardinality_guard_drops_and_counts_the_excess() {
    let metrics = Arc::new(AgentMetrics::new());
    metrics.register("bomb");
    let mut limits = HashMap::new();
    limits.insert("bomb".to_string(), 100);
    let store = Store::new(limits, 1000, Arc::clone(&metrics));
    let r = store.put(
        "bomb",
        vec![fam("a", 60), fam("b", 60)],
        Duration::from_secs(60),
    );
    assert_eq!(
        r,
        PutReport {
            kept: 100,
            dropped: 20
        }
    );
    let batch = store.get("bomb").expect("batch");
    let total: usize = batch.iter().map(|f| f.series_count()).sum();
    assert_eq!(total, 100);
    assert_eq!(metrics.dropped("bomb"), 20);
    // A second oversized batch counts again.
    store.put("bomb", vec![fam("a", 150)], Duration::from_secs(60));
    assert_eq!(metrics.dropped("bomb"), 70);
}

#[test]
fn invalid_names_and_duplicates_are_dropped() {
    let metrics = Arc::new(AgentMetrics::new());
    let store = Store::new(HashMap::new(), 1000, Arc::clone(&metrics));
    let mut dup = Family::gauge("ok", "h");
    dup.push(Labels::new().with("a", "1"), 1.0);
    dup.push(Labels::new().with("a", "1"), 2.0);
    dup.push(Labels::new().with("bad-label", "1"), 3.0);
    let r = store.put(
        "s",
        vec![dup, fam("bad name", 2), fam("ok", 1)],
        Duration::from_secs(60),
    );
    assert_eq!(r.kept, 1);
    assert_eq!(r.dropped, 5);
}

#[test]
fn expired_batches_are_not_served() {
    let metrics = Arc::new(AgentMetrics::new());
    let store = Store::new(HashMap::new(), 1000, metrics);
    store.put("old", vec![fam("x", 1)], Duration::from_millis(0));
    store.put("new", vec![fam("y", 1)], Duration::from_secs(60));
    let snap = store.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0][0].name, "y");
    assert!(store.get("old").is_none());
}
