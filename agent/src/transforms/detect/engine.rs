//! The live detectors: a reader of the store. After each new batch of a source, every watched
//! series in it is scored (histograms through the p99/mean of their bucket deltas, counters
//! through their rate), the alert state moves, and the anomaly families are put back into the
//! store under the source name `detect`, so `/metrics` serves them like any other batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::alerts::{Alert, AlertBook};
use super::config::{DetectConfig, Stat, WatchConfig};
use super::detector::SeriesDetector;
use super::policy::{AlertState, Transition};
use super::scorer::Scored;
use crate::component::Ticker;
use crate::event::{Family, Histogram, Labels, MetricKind, Value};
use crate::metrics::{AlertDeliveryMetrics, ComponentTelemetry, DetectMetrics, Suppressed};
use crate::sinks::alertmanager::Links;
use crate::store::Store;

/// The store key of the detectors' own batch.
pub const SOURCE: &str = "detect";

#[derive(Debug)]
enum Prev {
    None,
    Hist {
        buckets: Vec<(f64, f64)>,
        sum: f64,
        count: f64,
    },
    Counter {
        value: f64,
        ts: f64,
    },
}

#[derive(Debug)]
struct Series {
    watch: usize,
    metric: String,
    labels: Labels,
    det: SeriesDetector,
    state: AlertState,
    prev: Prev,
    last: Option<(f64, Scored)>,
    alert_labels: Option<BTreeMap<String, String>>,
}

/// The detectors of every watched series.
#[derive(Debug)]
pub struct Engine {
    config: DetectConfig,
    node: String,
    links: Links,
    series: HashMap<(usize, Labels), Series>,
    started: Instant,
    book: Arc<AlertBook>,
    sink_stats: Arc<AlertDeliveryMetrics>,
    stats: DetectMetrics,
    telemetry: ComponentTelemetry,
}

/// The `quantile` of a histogram given as (le, cumulative count), Prometheus' interpolation.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev_le = 0.0;
    let mut prev_c = 0.0;
    for &(le, c) in buckets {
        if c >= rank {
            if le.is_infinite() {
                return Some(prev_le);
            }
            let width = c - prev_c;
            let frac = if width > 0.0 {
                (rank - prev_c) / width
            } else {
                1.0
            };
            return Some(prev_le + (le - prev_le) * frac);
        }
        prev_le = le;
        prev_c = c;
    }
    Some(prev_le)
}

fn matches(w: &WatchConfig, labels: &Labels) -> bool {
    w.labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v.as_str()))
}

impl Engine {
    /// An engine writing alerts to `book`.
    pub fn new(
        config: DetectConfig,
        links: Links,
        book: Arc<AlertBook>,
        sink_stats: Arc<AlertDeliveryMetrics>,
    ) -> Self {
        let configured = (!config.node.is_empty()).then_some(config.node.as_str());
        let node = crate::node::node_name(configured);
        Engine {
            config,
            node,
            links,
            series: HashMap::new(),
            started: Instant::now(),
            book,
            sink_stats,
            stats: DetectMetrics::default(),
            telemetry: ComponentTelemetry::default(),
        }
    }

    /// Counts into `telemetry` (samples of watched series): received, sent (scored) and dropped
    /// (of a new series past `max_series`).
    pub fn with_telemetry(mut self, telemetry: ComponentTelemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// How many series are watched.
    pub fn watched(&self) -> usize {
        self.series.len()
    }

    /// Scores every watched series of one batch at wall-clock time `now`.
    pub fn score_batch(&mut self, families: &[Family], now: SystemTime) {
        let t = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        for fam in families {
            for wi in 0..self.config.watch.len() {
                if self.config.watch[wi].metric != fam.name {
                    continue;
                }
                for m in &fam.metrics {
                    if !matches(&self.config.watch[wi], &m.labels) {
                        continue;
                    }
                    self.observe(wi, fam.kind, &m.labels, &m.value, t, now);
                }
            }
        }
    }

    fn observe(
        &mut self,
        wi: usize,
        kind: MetricKind,
        labels: &Labels,
        value: &Value,
        t: f64,
        now: SystemTime,
    ) {
        let key = (wi, labels.clone());
        self.telemetry.received(1);
        if !self.series.contains_key(&key) {
            if self.series.len() >= self.config.max_series {
                self.stats.series_dropped();
                self.telemetry.dropped(1);
                return;
            }
            let w = &self.config.watch[wi];
            let metric = match w.stat {
                Stat::Value => w.metric.clone(),
                Stat::P99 => format!("{}_p99", w.metric),
                Stat::Mean => format!("{}_mean", w.metric),
                Stat::Rate => format!("{}_rate", w.metric),
                Stat::Age => format!("{}_age", w.metric),
            };
            self.series.insert(
                key.clone(),
                Series {
                    watch: wi,
                    metric,
                    labels: labels.clone(),
                    det: SeriesDetector::new(w.detector),
                    state: AlertState::default(),
                    prev: Prev::None,
                    last: None,
                    alert_labels: None,
                },
            );
        }
        self.telemetry.sent(1);
        let stat = self.config.watch[wi].stat;
        let Some(s) = self.series.get_mut(&key) else {
            return;
        };
        let x = match (stat, value, kind) {
            (Stat::P99 | Stat::Mean, Value::Histogram(h), _) => hist_sample(&mut s.prev, h, stat),
            (Stat::Rate, Value::Scalar(v), _) => counter_rate(&mut s.prev, *v, t),
            (Stat::Age, Value::Scalar(v), _) => Some(t - v),
            (Stat::Value, Value::Scalar(v), _) => Some(*v),
            _ => None,
        };
        let Some(x) = x else { return };
        let scored = s.det.update(t as i64, x);
        // One line per scored sample at debug level: the series as the detector saw it, for
        // replaying a missed or false alert through `node-agent detect --config`.
        tracing::debug!(
            metric = %s.metric,
            labels = %s.labels,
            ts = t,
            value = x,
            score = scored.score,
            "scored"
        );
        s.last = Some((x, scored));
        let in_grace = self.started.elapsed().as_secs() < self.config.policy.startup_grace_secs;
        match s
            .state
            .observe(&self.config.policy, t as i64, scored.score, in_grace)
        {
            Transition::None => {}
            Transition::Capped => self.stats.suppressed(Suppressed::RateCap),
            Transition::Grace => self.stats.suppressed(Suppressed::Startup),
            Transition::Fire => {
                let w = &self.config.watch[s.watch];
                let mut l: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                l.insert("alertname".into(), w.alert.clone());
                l.insert("severity".into(), w.severity.clone());
                l.insert("node".into(), self.node.clone());
                l.insert("metric".into(), s.metric.clone());
                let mut a = BTreeMap::new();
                a.insert(
                    "summary".into(),
                    format!("{} on {} is anomalous ({})", s.metric, self.node, s.labels),
                );
                a.insert(
                    "description".into(),
                    format!(
                        "{} = {} is outside the expected band [{}, {}] (baseline {}, anomaly score {:.2}).",
                        s.metric,
                        fmt_num(x),
                        fmt_num(scored.lower),
                        fmt_num(scored.upper),
                        fmt_num(scored.baseline),
                        scored.score
                    ),
                );
                a.insert("runbook_url".into(), self.links.runbook(&w.alert));
                a.insert(
                    "grafana_url".into(),
                    self.links.explore(&self.node, &w.component, now),
                );
                a.insert("logql".into(), self.links.logql(&self.node, &w.component));
                tracing::warn!(alert = %w.alert, metric = %s.metric, labels = %s.labels, value = x, "anomaly alert fires");
                self.book.fire(Alert {
                    labels: l.clone(),
                    annotations: a,
                    starts_at: now,
                    ends_at: None,
                    value: x,
                });
                s.alert_labels = Some(l);
            }
            Transition::Resolve => {
                if let Some(l) = s.alert_labels.take() {
                    tracing::info!(metric = %s.metric, labels = %s.labels, "anomaly alert resolves");
                    self.book.resolve(&l, now);
                }
            }
        }
    }

    /// The anomaly families: per series score, 0/1, baseline and band; and the engine's counters
    /// (`metrics::DetectMetrics`) and the Alertmanager sink's.
    pub fn families(&self) -> Vec<Family> {
        let mut score = Family::gauge(
            "nodewatch_anomaly_score",
            "Anomaly score in [0,1] of a watched series.",
        );
        let mut flag = Family::gauge(
            "nodewatch_anomaly",
            "1 while the series' anomaly alert fires.",
        );
        let mut base = Family::gauge(
            "nodewatch_anomaly_baseline",
            "The expected value of a watched series.",
        );
        let mut up = Family::gauge(
            "nodewatch_anomaly_upper",
            "The upper edge of the expected band.",
        );
        let mut low = Family::gauge(
            "nodewatch_anomaly_lower",
            "The lower edge of the expected band.",
        );
        let mut keys: Vec<&Series> = self.series.values().collect();
        keys.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        for s in keys {
            let Some((_, sc)) = s.last else { continue };
            let l = s.labels.clone().with("metric", s.metric.clone());
            score.push(l.clone(), sc.score);
            flag.push(l.clone(), if s.state.firing() { 1.0 } else { 0.0 });
            base.push(l.clone(), sc.baseline);
            up.push(l.clone(), sc.upper);
            low.push(l, sc.lower);
        }
        let mut out = vec![score, flag, base, up, low];
        out.extend(self.stats.families(self.series.len(), &self.book));
        out.extend(self.sink_stats.families());
        out
    }
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 1e-3 && x.abs() < 1e6 {
        format!("{x:.4}")
    } else {
        format!("{x:.4e}")
    }
}

fn hist_sample(prev: &mut Prev, h: &Histogram, stat: Stat) -> Option<f64> {
    let mut cur = h.buckets.clone();
    if cur.last().is_none_or(|(le, _)| le.is_finite()) {
        cur.push((f64::INFINITY, h.count));
    }
    let old = std::mem::replace(
        prev,
        Prev::Hist {
            buckets: cur.clone(),
            sum: h.sum,
            count: h.count,
        },
    );
    let Prev::Hist {
        buckets: ob,
        sum: os,
        count: oc,
    } = old
    else {
        return None;
    };
    let dc = h.count - oc;
    if dc <= 0.0 || ob.len() != cur.len() {
        return None;
    }
    match stat {
        Stat::Mean => Some((h.sum - os) / dc),
        _ => {
            let delta: Vec<(f64, f64)> = cur
                .iter()
                .zip(&ob)
                .map(|(c, o)| (c.0, (c.1 - o.1).max(0.0)))
                .collect();
            histogram_quantile(0.99, &delta)
        }
    }
}

fn counter_rate(prev: &mut Prev, v: f64, t: f64) -> Option<f64> {
    let old = std::mem::replace(prev, Prev::Counter { value: v, ts: t });
    let Prev::Counter { value: ov, ts: ot } = old else {
        return None;
    };
    let dt = t - ot;
    if dt <= 0.0 || v < ov {
        return None;
    }
    Some((v - ov) / dt)
}

/// Runs the engine as a reader of `store`: polls the batches of `sources` every `poll_ms`, scores
/// each new one, and puts the anomaly families back into the store.
pub async fn run(
    mut engine: Engine,
    store: Arc<Store>,
    sources: Vec<String>,
    shutdown: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(engine.config.poll_ms.max(50));
    let ttl = Duration::from_secs(600);
    // Holding the last batch seen keeps its address from being reused by a new one.
    let mut seen: HashMap<String, Arc<Vec<Family>>> = HashMap::new();
    let mut ticker = Ticker::new(poll, shutdown);
    while ticker.tick().await {
        for src in &sources {
            let Some(batch) = store.get(src) else {
                continue;
            };
            if seen.get(src).is_some_and(|b| Arc::ptr_eq(b, &batch)) {
                continue;
            }
            engine.score_batch(&batch, SystemTime::now());
            seen.insert(src.clone(), batch);
        }
        // Put every poll, so the delivery counters stay fresh without new batches.
        store.put(SOURCE, engine.families(), ttl);
    }
}
