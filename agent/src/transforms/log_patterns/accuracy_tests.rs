//! Grouping accuracy on the corpora with hand-checked ground truth
//! (`agent/tests/data/log_patterns/`, README there), through `node-agent patterns`' code path:
//! the share of lines whose template group is exactly their true event's group (Zhu et al.,
//! ICSE-SEIP 2019). Every corpus must stay at or above the target.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{LogPatternsConfig, offline};

const TARGET: f64 = 0.95;
const CORPORA: [&str; 6] = [
    "fixtures-cri-hdfs",
    "fixtures-docker-packetbeat",
    "storage-node",
    "node-agent",
    "prometheus",
    "alertmanager",
];

/// The grouping accuracy of `predicted` against `truth`.
fn grouping_accuracy(predicted: &[&str], truth: &[&str]) -> f64 {
    assert_eq!(predicted.len(), truth.len());
    let mut by_pred: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(truth).enumerate() {
        by_pred.entry(p).or_default().push(i);
        by_truth.entry(t).or_default().push(i);
    }
    let correct = predicted
        .iter()
        .zip(truth)
        .filter(|(p, t)| by_pred[**p] == by_truth[**t])
        .count();
    correct as f64 / truth.len() as f64
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/log_patterns")
        .join(name)
}

#[test]
fn the_measure_itself() {
    assert_eq!(grouping_accuracy(&["a", "a", "b"], &["x", "x", "y"]), 1.0);
    // A split group makes all its lines wrong; a merge makes both groups' lines wrong.
    assert!((grouping_accuracy(&["a", "b", "c"], &["x", "x", "y"]) - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(grouping_accuracy(&["a", "a", "a"], &["x", "x", "y"]), 0.0);
}

#[test]
fn grouping_accuracy_is_at_least_the_target_on_every_corpus() {
    let cfg = LogPatternsConfig {
        enabled: true,
        ..Default::default()
    };
    let mut failed = Vec::new();
    for corpus in CORPORA {
        let truth = std::fs::read_to_string(data(&format!("{corpus}.truth"))).expect("truth");
        let truth: Vec<&str> = truth.lines().collect();
        let mut out = Vec::new();
        offline::run_patterns(
            &cfg,
            &[data(&format!("{corpus}.log"))],
            offline::Output::Assignments,
            &mut out,
        )
        .expect("mine");
        let got = String::from_utf8(out).expect("utf-8");
        let got: Vec<&str> = got.lines().collect();
        let acc = grouping_accuracy(&got, &truth);
        let events = truth.iter().collect::<std::collections::HashSet<_>>().len();
        let templates = got.iter().collect::<std::collections::HashSet<_>>().len();
        eprintln!(
            "grouping accuracy {corpus}: {acc:.3} ({} lines, {events} events, {templates} templates)",
            truth.len()
        );
        if acc < TARGET {
            failed.push(format!("{corpus}: {acc:.3}"));
        }
    }
    assert!(failed.is_empty(), "below {TARGET}: {failed:?}");
}
