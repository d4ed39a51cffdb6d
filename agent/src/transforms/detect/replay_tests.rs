//! Two labelled series of the NAB development set (`shared/detection/nab`, beside the checkout)
//! replayed through the live engine with the default policy: every alert it would send starts
//! inside a labelled anomaly window, and every window gets one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::event::{Family, Labels};
use crate::sinks::alertmanager::{AlertmanagerConfig, Links, SinkStats};

/// `shared/detection/nab`: `$NODEWATCH_SHARED`, else `shared/` beside the checkout (CI) or beside
/// the worktree folder.
fn nab_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(s) = std::env::var("NODEWATCH_SHARED") {
        candidates.push(PathBuf::from(s));
    }
    candidates.push(manifest.join("../../shared"));
    candidates.push(manifest.join("../../../shared"));
    candidates
        .iter()
        .map(|c| c.join("detection/nab"))
        .find(|p| p.join("labels/combined_windows.json").is_file())
        .unwrap_or_else(|| panic!("no shared/detection/nab in {candidates:?}"))
}

fn read_series(root: &std::path::Path, rel: &str) -> Vec<(i64, f64)> {
    let text = std::fs::read_to_string(root.join("data").join(rel)).expect("read NAB file");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (t, v) = l.rsplit_once(',').expect("timestamp,value");
            let ts = parse_timestamp(t.as_bytes()).expect("timestamp");
            (ts, v.trim().parse::<f64>().expect("value"))
        })
        .collect()
}

fn windows(root: &std::path::Path, rel: &str) -> Vec<(i64, i64)> {
    let text = std::fs::read_to_string(root.join("labels/combined_windows.json")).expect("labels");
    let all: std::collections::BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_str(&text).expect("labels json");
    all[rel]
        .iter()
        .map(|[a, b]| {
            let a = parse_timestamp(a.as_bytes()).expect("window start");
            let b = parse_timestamp(b.as_bytes()).expect("window end");
            (a, b)
        })
        .collect()
}

/// The start times of the alerts the engine fires while replaying `data` as one gauge.
fn replay(data: &[(i64, f64)]) -> Vec<i64> {
    let book = Arc::new(AlertBook::new());
    let watch = WatchConfig {
        metric: "nab_value".into(),
        labels: Default::default(),
        stat: Stat::Value,
        alert: "NabAnomaly".into(),
        severity: "warning".into(),
        component: "node-agent".into(),
        detector: DetectorParams::default(),
    };
    let cfg = DetectConfig {
        node: "replay".into(),
        policy: AlertPolicy {
            startup_grace_secs: 0,
            ..AlertPolicy::default()
        },
        watch: vec![watch],
        ..DetectConfig::default()
    };
    let mut e = Engine::new(
        cfg,
        Links::new(&AlertmanagerConfig::default()),
        Arc::clone(&book),
        Arc::new(SinkStats::default()),
    );
    let mut fired = Vec::new();
    let mut firing = false;
    for &(ts, x) in data {
        let fam = Family::gauge("nab_value", "replayed").with(Labels::new(), x);
        e.score_batch(&[fam], UNIX_EPOCH + Duration::from_secs(ts as u64));
        let now = book.active_count() > 0;
        if now && !firing {
            fired.push(ts);
        }
        firing = now;
    }
    fired
}

#[test]
fn replayed_nab_series_alert_only_inside_their_labelled_windows() {
    let root = nab_root();
    for rel in [
        "realAWSCloudwatch/elb_request_count_8c0756.csv",
        "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
    ] {
        let data = read_series(&root, rel);
        let wins = windows(&root, rel);
        assert!(!wins.is_empty());
        let fired = replay(&data);
        for &t in &fired {
            assert!(
                wins.iter().any(|&(a, b)| (a..=b).contains(&t)),
                "{rel}: alert at {t} outside the windows {wins:?} (all: {fired:?})"
            );
        }
        for &(a, b) in &wins {
            assert!(
                fired.iter().any(|t| (a..=b).contains(t)),
                "{rel}: no alert in window {a}..{b} (alerts at {fired:?})"
            );
        }
    }
}
