use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::event::{Family, Histogram, Labels, Metric, MetricKind, Value};
use crate::sinks::alertmanager::{AlertmanagerConfig, Links, SinkStats};

/// A deterministic noise source (xorshift + Box-Muller), so the signals are reproducible.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const STEP: i64 = 300; // 5-minute samples, as in NAB's realKnownCause series
const T0: i64 = 1_700_000_000 - 1_700_000_000 % 86_400;

/// A latency-like series: a daily cycle (busier by day), noise, a base level.
fn daily_latency(n: usize, seed: u64) -> Vec<(i64, f64)> {
    let mut r = Noise(seed);
    (0..n)
        .map(|i| {
            let ts = T0 + i as i64 * STEP;
            let day = ((ts % 86_400) as f64 / 86_400.0 * 2.0 * std::f64::consts::PI).sin();
            (ts, 10.0 + 3.0 * day + 0.4 * r.gauss())
        })
        .collect()
}

/// The earlier sample-window detector (median/MAD, EWMA, CUSUM, seasonal profile).
fn legacy() -> DetectorParams {
    DetectorParams::of(DetectorKind::Seasonal)
}

fn scores(params: DetectorParams, data: &[(i64, f64)]) -> Vec<f64> {
    let mut d = SeriesDetector::new(params);
    data.iter().map(|&(t, x)| d.update(t, x).score).collect()
}

/// The first index at or after `from` with a score at or above 0.5.
fn first_hit(s: &[f64], from: usize) -> Option<usize> {
    (from..s.len()).find(|&i| s[i] >= 0.5)
}

fn false_positives(s: &[f64], range: std::ops::Range<usize>) -> usize {
    s[range].iter().filter(|&&x| x >= 0.5).count()
}

#[test]
fn rolling_median_and_mad_match_brute_force() {
    let mut r = Noise(7);
    let mut w = RollingMedian::new(9);
    let mut all = Vec::new();
    for _ in 0..200 {
        let x = (r.gauss() * 10.0).round();
        w.push(x);
        all.push(x);
        let mut last: Vec<f64> = all.iter().rev().take(9).copied().collect();
        last.sort_by(f64::total_cmp);
        let n = last.len();
        let med = if n % 2 == 1 {
            last[n / 2]
        } else {
            0.5 * (last[n / 2 - 1] + last[n / 2])
        };
        assert_eq!(w.median(), med);
        let mut dev: Vec<f64> = last.iter().map(|v| (v - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        if n >= 2 {
            assert_eq!(w.mad(med), dev[n / 2], "window {last:?}");
        }
    }
}

#[test]
fn legacy_spike_is_detected_at_once_and_clean_part_is_quiet() {
    let mut data = daily_latency(2000, 1);
    let at = 1500;
    data[at].1 += 8.0;
    let s = scores(legacy(), &data);
    assert_eq!(first_hit(&s, at - 10), Some(at), "spike at {at}");
    assert!(
        false_positives(&s, 100..at) <= 2,
        "fp {}",
        false_positives(&s, 100..at)
    );
}

#[test]
fn legacy_level_shift_is_detected_within_a_few_samples() {
    let mut data = daily_latency(2000, 2);
    let at = 1400;
    for p in &mut data[at..] {
        p.1 += 3.0; // latency up by ~7 sigma
    }
    let s = scores(legacy(), &data);
    let hit = first_hit(&s, at - 20).expect("level shift found");
    assert!((at..at + 8).contains(&hit), "hit at {hit}, shift at {at}");
    assert!(false_positives(&s, 100..at) <= 2);
    // It adapts: a day later the new level is normal.
    assert!(
        false_positives(&s, at + 300..2000) <= 3,
        "fp after adapting {}",
        false_positives(&s, at + 300..2000)
    );
}

#[test]
fn legacy_variance_change_is_detected() {
    let mut data = daily_latency(2000, 3);
    let mut r = Noise(99);
    let at = 1300;
    for p in &mut data[at..at + 200] {
        p.1 += 2.5 * r.gauss();
    }
    let s = scores(legacy(), &data);
    let hit = first_hit(&s, at - 20).expect("variance change found");
    assert!((at..at + 40).contains(&hit), "hit at {hit}");
    assert!(false_positives(&s, 100..at) <= 2);
}

#[test]
fn legacy_slow_drift_is_detected_by_cusum() {
    let mut data = daily_latency(2200, 4);
    let at = 1400;
    for (k, p) in data[at..].iter_mut().enumerate() {
        p.1 += 0.03 * k as f64; // +3.6 (9 sigma) over 120 samples (10 hours)
    }
    let s = scores(legacy(), &data);
    let hit = first_hit(&s, at - 20).expect("drift found");
    assert!((at..at + 150).contains(&hit), "hit at {hit}");
    assert!(false_positives(&s, 100..at) <= 2);
}

#[test]
fn legacy_nightly_batch_is_learned_by_the_seasonal_profile() {
    // Quiet all day, a nightly batch pushes latency up 4x for an hour at 02:00 every night.
    let mut r = Noise(5);
    let n = 12 * 288;
    let data: Vec<(i64, f64)> = (0..n)
        .map(|i| {
            let ts = T0 + i as i64 * STEP;
            let tod = ts % 86_400;
            let batch = if (7200..10_800).contains(&tod) {
                30.0
            } else {
                0.0
            };
            (ts, 10.0 + batch + 0.5 * r.gauss())
        })
        .collect();
    let s = scores(legacy(), &data);
    let nights = |day: usize| {
        let start = day * 288 + 24;
        false_positives(&s, start..start + 12)
    };
    assert!(nights(0) > 0, "the first night is a surprise");
    for day in 4..12 {
        assert_eq!(nights(day), 0, "night {day} is expected by now");
    }
    // And a batch at the wrong time still is an anomaly.
    let mut late = data.clone();
    let at = 11 * 288 + 150; // 12:30
    for p in &mut late[at..at + 12] {
        p.1 += 30.0;
    }
    let s2 = scores(legacy(), &late);
    assert_eq!(first_hit(&s2, at - 5), Some(at));
}

#[test]
fn counter_growth_is_a_finding() {
    let data: Vec<(i64, f64)> = (0..100)
        .map(|i| (T0 + i * 60, if i >= 70 { 9.0 } else { 8.0 }))
        .collect();
    let s = scores(DetectorParams::of(DetectorKind::Counter), &data);
    assert_eq!(first_hit(&s, 0), Some(70));
    assert!(s[70..].iter().all(|&x| x == 1.0), "held for hold_secs");
    let later: Vec<(i64, f64)> = (0..100)
        .map(|i| (T0 + i * 60, if i >= 10 { 9.0 } else { 8.0 }))
        .collect();
    let s = scores(DetectorParams::of(DetectorKind::Counter), &later);
    assert!(s[71..].iter().all(|&x| x == 0.0), "released after an hour");
}

#[test]
fn growing_lag_is_predicted_before_it_crosses_the_threshold() {
    let p = DetectorParams {
        threshold: Some(60.0),
        horizon_secs: 600,
        direction: Direction::Up,
        ..DetectorParams::of(DetectorKind::Rate)
    };
    let mut r = Noise(6);
    // 15 s samples: lag ~0.2 s, then from sample 200 it grows by 1 s per sample.
    let data: Vec<(i64, f64)> = (0..300)
        .map(|i| {
            let lag = 0.2 + 0.05 * r.gauss().abs() + if i >= 200 { (i - 200) as f64 } else { 0.0 };
            (T0 + i as i64 * 15, lag)
        })
        .collect();
    let s = scores(p, &data);
    let hit = first_hit(&s, 150).expect("growing lag found");
    assert!(hit < 260, "found at {hit}, before crossing 60 s at 260");
    assert!(false_positives(&s, 40..200) == 0);
}

#[test]
fn legacy_low_variance_series_is_not_scored_on_noise_below_the_floor() {
    // A flat gauge with tiny jitter (0.05 % of its level) never scores.
    let mut r = Noise(8);
    let data: Vec<(i64, f64)> = (0..1000)
        .map(|i| (T0 + i * 60, 1000.0 + 0.5 * r.gauss()))
        .collect();
    let s = scores(legacy(), &data);
    assert_eq!(false_positives(&s, 0..1000), 0);
}

#[test]
fn legacy_scores_are_in_range_and_warmup_is_zero() {
    let data = daily_latency(500, 9);
    let s = scores(legacy(), &data);
    assert!(s.iter().all(|x| (0.0..=1.0).contains(x)));
    assert!(s[..30].iter().all(|&x| x == 0.0));
    let mut d = SeriesDetector::new(legacy());
    assert_eq!(d.update(T0, f64::NAN).score, 0.0);
    assert_eq!(d.samples(), 0, "a NaN is not learned");
}

#[test]
fn no_lookahead_the_score_of_row_i_ignores_later_rows() {
    for kind in [
        DetectorKind::Auto,
        DetectorKind::Robust,
        DetectorKind::LevelShift,
        DetectorKind::Ewma,
        DetectorKind::Counter,
    ] {
        let base = daily_latency(800, 10);
        let full = scores(DetectorParams::of(kind), &base);
        for cut in [100usize, 400, 799] {
            let mut changed = base.clone();
            let mut r = Noise(cut as u64);
            for p in &mut changed[cut + 1..] {
                p.1 = 1000.0 * r.gauss();
            }
            let other = scores(DetectorParams::of(kind), &changed);
            assert_eq!(full[..=cut], other[..=cut], "{kind:?} cut {cut}");
        }
    }
}

fn csv_scores(text: &str) -> (Vec<String>, DetectStats) {
    let mut out = Vec::new();
    let mut d = SeriesDetector::new(DetectorParams::default());
    let stats = run_detect(text.as_bytes(), &mut out, &mut d).expect("runs");
    (
        String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(str::to_string)
            .collect(),
        stats,
    )
}

#[test]
fn detect_command_path_has_no_lookahead_and_skips_the_header() {
    let data = daily_latency(300, 11);
    let mut text = String::from("timestamp,value\n");
    for (t, x) in &data {
        text.push_str(&format!("{t},{x}\n"));
    }
    let (a, stats) = csv_scores(&text);
    assert!(stats.header);
    assert_eq!(a.len(), 300);
    let cut = text
        .lines()
        .take(201)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let (b, _) = csv_scores(&(cut.clone() + "1700000000,99999\n1700000300,-5\n"));
    assert_eq!(a[..200], b[..200]);
}

#[test]
fn timestamps_parse_in_every_accepted_form() {
    let t = 1_431_691_200; // 2015-05-15 12:00:00 UTC
    assert_eq!(parse_timestamp(b"2015-05-15 12:00:00"), Some(t));
    assert_eq!(parse_timestamp(b"2015-05-15T12:00:00Z"), Some(t));
    assert_eq!(parse_timestamp(b"2015-05-15T12:00:00.250Z"), Some(t));
    assert_eq!(parse_timestamp(b"2015-05-15T14:00:00+02:00"), Some(t));
    assert_eq!(
        parse_timestamp(b"\"2015-05-15 12:00:00\""),
        None,
        "quoted is not a timestamp here"
    );
    assert_eq!(parse_timestamp(b"1431691200"), Some(t));
    assert_eq!(parse_timestamp(b"1431691200000"), Some(t));
    assert_eq!(parse_timestamp(b"2015-13-15 12:00:00"), None);
    assert_eq!(parse_timestamp(b"yesterday"), None);
    let (out, stats) = csv_scores("2015-05-15 12:00:00,1\nbad,2\n2015-05-15 12:05:00,x\n");
    assert_eq!(out.len(), 3);
    assert_eq!((stats.bad_timestamps, stats.bad_values), (1, 1));
}

#[test]
fn memory_per_series_is_under_4_kib() {
    for kind in [
        DetectorKind::Auto,
        DetectorKind::Rate,
        DetectorKind::Counter,
    ] {
        let mut d = SeriesDetector::new(DetectorParams::of(kind));
        for (t, x) in daily_latency(3000, 12) {
            d.update(t, x);
        }
        assert!(
            d.memory_bytes() < 4096,
            "{kind:?}: {} bytes",
            d.memory_bytes()
        );
    }
}

#[test]
fn policy_needs_n_of_m_has_hysteresis_grace_and_a_cap() {
    let p = AlertPolicy {
        max_alerts_per_hour: 1,
        min_samples: 3,
        of_samples: 5,
        ..AlertPolicy::default()
    };
    let mut s = AlertState::default();
    let mut t = 0;
    let mut feed = |s: &mut AlertState, x: f64, grace: bool| {
        t += 15;
        s.observe(&p, t, x, grace)
    };
    assert_eq!(feed(&mut s, 0.9, false), Transition::None);
    assert_eq!(feed(&mut s, 0.1, false), Transition::None);
    assert_eq!(feed(&mut s, 0.9, false), Transition::None, "2 of 5");
    assert_eq!(
        feed(&mut s, 0.9, true),
        Transition::Grace,
        "3 of 5 but in grace"
    );
    assert_eq!(feed(&mut s, 0.9, false), Transition::Fire);
    // Hysteresis: 0.5 is below fire but above resolve: stays firing.
    for _ in 0..10 {
        assert_eq!(feed(&mut s, 0.5, false), Transition::None);
    }
    for _ in 0..3 {
        assert_eq!(feed(&mut s, 0.1, false), Transition::None);
    }
    assert_eq!(feed(&mut s, 0.1, false), Transition::Resolve);
    for _ in 0..2 {
        feed(&mut s, 0.9, false);
    }
    assert_eq!(feed(&mut s, 0.9, false), Transition::Capped, "one per hour");
    assert!(!s.firing());
}

fn engine(watch: Vec<WatchConfig>) -> (Engine, Arc<AlertBook>) {
    let book = Arc::new(AlertBook::new());
    let cfg = DetectConfig {
        node: "node-a".into(),
        policy: AlertPolicy {
            startup_grace_secs: 0,
            ..AlertPolicy::default()
        },
        watch,
        ..DetectConfig::default()
    };
    let e = Engine::new(
        cfg,
        Links::new(&AlertmanagerConfig::default()),
        Arc::clone(&book),
        Arc::new(SinkStats::default()),
    );
    (e, book)
}

fn at(ts: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(ts as u64)
}

#[test]
fn replication_lag_anomaly_fires_from_the_contract_metric_and_resolves() {
    let (mut e, book) = engine(default_watches());
    let peer = Labels::from_pairs([("node_id", "n1"), ("peer", "node-2")]);
    let mut r = Noise(13);
    let mut fired_at = None;
    for i in 0..400i64 {
        let lag = if (200..260).contains(&i) {
            0.3 + 2.0 * (i - 200) as f64
        } else {
            0.3 + 0.05 * r.gauss().abs()
        };
        let fam =
            Family::gauge("storage_node_replication_lag_seconds", "lag").with(peer.clone(), lag);
        e.score_batch(&[fam], at(T0 + i * 15));
        if fired_at.is_none() && book.active_count() > 0 {
            fired_at = Some(i);
        }
    }
    let i = fired_at.expect("ReplicationLagAnomaly fired");
    assert!((200..230).contains(&i), "fired at {i}");
    assert_eq!(book.active_count(), 0, "resolved once lag is back");
    let resolved = book.take_resolved();
    let a = &resolved[0];
    assert_eq!(a.labels["alertname"], "ReplicationLagAnomaly");
    assert_eq!(a.labels["peer"], "node-2");
    assert_eq!(a.labels["node"], "node-a");
    assert!(a.annotations["runbook_url"].ends_with("/ReplicationLagAnomaly.md"));
    assert!(a.annotations["description"].contains("expected band"));
    assert!(a.ends_at.is_some());
}

fn latency_hist(count: f64, slow: f64) -> Value {
    // cumulative buckets: fast ops in le=0.005, slow ones in le=0.5
    Value::Histogram(Histogram {
        buckets: vec![
            (0.005, count - slow),
            (0.05, count - slow),
            (0.5, count),
            (f64::INFINITY, count),
        ],
        sum: (count - slow) * 0.002 + slow * 0.3,
        count,
    })
}

#[test]
fn op_latency_p99_and_mean_come_from_bucket_deltas_and_fire() {
    // The default watches with the scorer's windows shrunk to this test's 10 minutes of 5 s
    // samples.
    let watches = default_watches()
        .into_iter()
        .map(|mut w| {
            w.detector.scorer = ScorerParams {
                warmup_secs: 60.0,
                short_secs: 10.0,
                long_secs: 1800.0,
                level_secs: 120.0,
                ..ScorerParams::default()
            };
            w
        })
        .collect();
    let (mut e, book) = engine(watches);
    let labels = Labels::from_pairs([("op", "put"), ("outcome", "success"), ("node_id", "n1")]);
    let mut count = 0.0;
    let mut slow = 0.0;
    let mut fired = None;
    for i in 0..120i64 {
        count += 50.0 + (i % 7) as f64;
        if i >= 80 {
            slow += 40.0;
        }
        let fam = Family {
            name: "storage_node_op_latency_seconds".into(),
            help: "h".into(),
            kind: MetricKind::Histogram,
            metrics: vec![Metric {
                labels: labels.clone(),
                value: latency_hist(count, slow),
            }],
        };
        e.score_batch(&[fam], at(T0 + i * 5));
        if fired.is_none() && book.active_count() > 0 {
            fired = Some(i);
        }
    }
    let i = fired.expect("latency anomaly fired");
    assert!((80..86).contains(&i), "fired at {i}");
    let active = book.active();
    assert!(
        active.iter().all(
            |a| a.labels["alertname"] == "StorageNodeLatencyAnomaly" && a.labels["op"] == "put"
        )
    );
    let fams = e.families();
    let score = fams
        .iter()
        .find(|f| f.name == "nodewatch_anomaly_score")
        .expect("score family");
    let metrics: Vec<&str> = score
        .metrics
        .iter()
        .filter_map(|m| m.labels.get("metric"))
        .collect();
    assert!(metrics.contains(&"storage_node_op_latency_seconds_p99"));
    assert!(metrics.contains(&"storage_node_op_latency_seconds_mean"));
    for name in [
        "nodewatch_anomaly",
        "nodewatch_anomaly_baseline",
        "nodewatch_anomaly_upper",
        "nodewatch_anomaly_lower",
        "nodewatch_agent_alerts_active",
    ] {
        assert!(fams.iter().any(|f| f.name == name), "{name}");
    }
}

#[test]
fn histogram_quantile_interpolates_like_prometheus() {
    let b = [(0.1, 50.0), (0.2, 100.0), (f64::INFINITY, 100.0)];
    assert!((histogram_quantile(0.5, &b).expect("q") - 0.1).abs() < 1e-12);
    assert!((histogram_quantile(0.75, &b).expect("q") - 0.15).abs() < 1e-12);
    assert_eq!(histogram_quantile(0.99, &[(0.1, 0.0)]), None);
}

#[test]
fn the_watched_series_cap_is_counted() {
    let (mut e, _) = engine(default_watches());
    let mut fam = Family::gauge("storage_node_slow_ops", "s");
    for i in 0..2500 {
        fam.push(Labels::from_pairs([("node_id", format!("n{i}"))]), 0.0);
    }
    e.score_batch(&[fam], at(T0));
    assert_eq!(e.watched(), 2000);
    let fams = e.families();
    let dropped = fams
        .iter()
        .find(|f| f.name == "nodewatch_agent_anomaly_series_dropped_total")
        .expect("family");
    assert_eq!(dropped.metrics[0].value.as_scalar(), Some(500.0));
}

#[test]
fn default_config_parses_and_watch_tables_deny_unknown_keys() {
    let c = crate::config::parse(
        r#"
[transforms.detect]
node = "n"
[transforms.detect.policy]
min_samples = 2
of_samples = 3
[[transforms.detect.watch]]
metric = "storage_node_op_latency_seconds"
stat = "p99"
alert = "StorageNodeLatencyAnomaly"
labels = { op = "put" }
detector = { kind = "auto", direction = "up", warmup_samples = 5 }
"#,
    )
    .expect("valid");
    assert_eq!(c.transforms.detect.watch.len(), 1);
    assert_eq!(c.transforms.detect.watch[0].detector.warmup_samples, 5);
    let err = crate::config::parse("[transforms.detect]\nbogus = 1\n").expect_err("unknown key");
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = crate::config::parse(
        "[[transforms.detect.watch]]\nmetric=\"x\"\nalert=\"A\"\ndetector={kind=\"rate\"}\n",
    )
    .expect_err("rate needs a threshold");
    assert!(err.to_string().contains("threshold"), "{err}");
    assert!(
        DetectConfig::default()
            .watch
            .iter()
            .any(|w| w.metric == "storage_node_replication_lag_seconds")
    );
}

#[test]
fn detect_output_is_refractory_after_an_alarm() {
    use super::csv::{REFRACTORY_SCORE, REFRACTORY_SECS, Refractory};
    let mut r = Refractory::default();
    assert_eq!(r.filter(0, 0.3), 0.3, "below the level passes");
    assert_eq!(r.filter(60, 0.9), 0.9, "the first alarm passes");
    assert_eq!(
        r.filter(120, 0.95),
        0.0,
        "a second alarm inside the period is 0"
    );
    assert_eq!(
        r.filter(30, 0.95),
        0.0,
        "a timestamp going backwards stays inside"
    );
    assert_eq!(r.filter(60 + REFRACTORY_SECS - 1, 0.4), 0.0);
    assert_eq!(
        r.filter(60 + REFRACTORY_SECS, 0.8),
        0.8,
        "after the period an alarm passes"
    );
    assert_eq!(r.filter(61 + REFRACTORY_SECS, REFRACTORY_SCORE), 0.0);
}
