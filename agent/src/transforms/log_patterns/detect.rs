//! Detection on templates, fed to the shared alert path ([`AlertBook`], then the Alertmanager
//! sink): a **new** template after its group's learning period at an alerting level or with a
//! keyword (`LogPatternNew`), a **surge** of a template's rate far above its own baseline
//! (`LogPatternSurge`, scored by [`Scorer`]), and optionally the **disappearance** of a steady
//! template (`LogPatternDisappeared`). Every alert carries the template, two example lines, the
//! stream labels, the LogQL query and a Grafana Explore link to the lines.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::LogPatternsConfig;
use super::scorer::Scorer;
use super::store::{Miner, Template};
use crate::logs::StreamLabels;
use crate::sinks::alertmanager::Links;
use crate::transforms::detect::{Alert, AlertBook};

/// Alert names.
pub const NEW: &str = "LogPatternNew";
/// See [`NEW`].
pub const SURGE: &str = "LogPatternSurge";
/// See [`NEW`].
pub const DISAPPEARED: &str = "LogPatternDisappeared";

/// A busy template's rate state.
#[derive(Debug, Clone)]
pub struct RateState {
    scorer: Scorer,
    /// EWMA of the rate (lines/s) while calm: the baseline a surge is measured against.
    pub baseline: f64,
    hot: u32,
    calm: u32,
    surging: Option<BTreeMap<String, String>>,
    silent_secs: u64,
    gone: Option<BTreeMap<String, String>>,
}

impl RateState {
    fn new(interval_secs: u64, warmup: u64) -> Self {
        RateState {
            scorer: Scorer::new(interval_secs, warmup),
            baseline: 0.0,
            hot: 0,
            calm: 0,
            surging: None,
            silent_secs: 0,
            gone: None,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.scorer.bytes()
    }
}

/// A new template waiting to be announced (after it is on disk).
#[derive(Debug, Clone)]
pub struct NewPattern {
    /// Its slot.
    pub idx: u32,
    /// Its id.
    pub id: u64,
    /// The stream of the line that created it.
    pub stream: String,
}

#[derive(Debug)]
struct Announced {
    labels: BTreeMap<String, String>,
    idx: u32,
    id: u64,
    at: SystemTime,
    examples: usize,
    stream: String,
}

/// Counters for `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DetectStats {
    /// Alerts raised, by kind: new, surge, disappeared.
    pub fired: [u64; 3],
    /// New-pattern alerts held back by the hourly cap.
    pub capped: u64,
    /// Templates with a rate scorer now.
    pub scored: usize,
}

/// The detection state.
#[derive(Debug)]
pub struct Detector {
    cfg: LogPatternsConfig,
    links: Links,
    node: String,
    alerts: std::sync::Arc<AlertBook>,
    announced: Vec<Announced>,
    recent: VecDeque<SystemTime>,
    /// Counters.
    pub stats: DetectStats,
}

/// Words LogQL's lexer always reads as keywords (it lower-cases them first), so a label of
/// that name cannot stand in a label filter (grafana/loki#9606): `| pattern="..."` is the
/// `pattern` parser and a syntax error.
const LOGQL_KEYWORDS: [&str; 26] = [
    "by",
    "without",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "label_format",
    "line_format",
    "ip",
    "decolorize",
    "drop",
    "keep",
    "variants",
    "of",
    "unwrap",
    "label_replace",
];

/// The LogQL query for the lines of template `id` carried as structured metadata `key`:
/// `{...} | key="<id>"`, or, when `key` is a LogQL keyword (the default `pattern` is),
/// `{...} | label_format key_id="{{.key}}" | key_id="<id>"`: the template reads the metadata
/// under another name, which a label filter then takes.
pub fn logql(selector: &str, key: &str, id: u64) -> String {
    if LOGQL_KEYWORDS.contains(&key.to_ascii_lowercase().as_str()) {
        format!("{selector} | label_format {key}_id=\"{{{{.{key}}}}}\" | {key}_id=\"{id:016x}\"")
    } else {
        format!("{selector} | {key}=\"{id:016x}\"")
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Detector {
    /// A detector raising alerts into `alerts`.
    pub fn new(
        cfg: LogPatternsConfig,
        links: Links,
        node: String,
        alerts: std::sync::Arc<AlertBook>,
    ) -> Self {
        Detector {
            cfg,
            links,
            node,
            alerts,
            announced: Vec::new(),
            recent: VecDeque::new(),
            stats: DetectStats::default(),
        }
    }

    /// Whether a template created now in a group first seen at `group_first_seen` is worth an
    /// alert: learning is over, and its level or a keyword says so.
    pub fn alertable(&self, group_first_seen: i64, now: i64, t: &Template, line: &str) -> bool {
        if now.saturating_sub(group_first_seen) < self.cfg.alerts.learning_secs as i64 {
            return false;
        }
        if t.level
            .is_some_and(|l| self.cfg.alerts.levels.iter().any(|c| c == l))
        {
            return true;
        }
        let lower = line.to_ascii_lowercase();
        self.cfg
            .alerts
            .keywords
            .iter()
            .any(|k| !k.is_empty() && lower.contains(&k.to_ascii_lowercase()))
    }

    fn selector(m: &Miner, t: &Template) -> String {
        match m.group(t.group) {
            Some(g) => StreamLabels::new(g.labels.clone()).rendered,
            None => "{}".into(),
        }
    }

    fn logql(&self, selector: &str, id: u64) -> String {
        logql(selector, &self.cfg.metadata_key, id)
    }

    fn labels(&self, m: &Miner, t: &Template, alertname: &str) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        if let Some(g) = m.group(t.group) {
            for (k, v) in &g.labels {
                l.insert(k.clone(), v.clone());
            }
        }
        l.insert("alertname".into(), alertname.into());
        l.insert("severity".into(), self.cfg.alerts.severity.clone());
        l.insert("node".into(), self.node.clone());
        l.insert("pattern".into(), format!("{:016x}", t.id));
        l
    }

    #[allow(clippy::too_many_arguments)]
    fn alert(
        &self,
        m: &Miner,
        t: &Template,
        labels: BTreeMap<String, String>,
        at: SystemTime,
        summary: String,
        stream: &str,
        value: f64,
    ) -> Alert {
        let alertname = labels.get("alertname").cloned().unwrap_or_default();
        let selector = Self::selector(m, t);
        let logql = self.logql(&selector, t.id);
        let mut a = BTreeMap::new();
        a.insert("summary".into(), summary);
        a.insert(
            "description".into(),
            format!(
                "Template {}: {}. Stream {stream}. {} lines since {}.",
                t.id_hex(),
                t.render(),
                t.count,
                crate::sinks::alertmanager::rfc3339(
                    UNIX_EPOCH + Duration::from_secs(t.first_seen.max(0) as u64)
                )
            ),
        );
        a.insert("template".into(), t.render());
        for (i, e) in t.examples.iter().take(2).enumerate() {
            a.insert(format!("example_{}", i + 1), e.to_string());
        }
        a.insert("stream".into(), stream.to_string());
        a.insert("logql".into(), logql.clone());
        a.insert("grafana_url".into(), self.links.explore_expr(&logql, at));
        a.insert("runbook_url".into(), self.links.runbook(&alertname));
        Alert {
            labels,
            annotations: a,
            starts_at: at,
            ends_at: None,
            value,
        }
    }

    /// Announces new templates (called once they are on disk).
    pub fn announce(&mut self, m: &Miner, news: Vec<NewPattern>, now: SystemTime) {
        for n in news {
            let Some(t) = m.template(n.idx).filter(|t| t.id == n.id) else {
                continue;
            };
            while self.recent.front().is_some_and(|&r| {
                now.duration_since(r).unwrap_or_default() > Duration::from_secs(3600)
            }) {
                self.recent.pop_front();
            }
            if self.recent.len() >= self.cfg.alerts.max_new_per_hour as usize {
                self.stats.capped += 1;
                continue;
            }
            self.recent.push_back(now);
            let labels = self.labels(m, t, NEW);
            let summary = format!(
                "New {} log pattern on {}: {}",
                t.level.unwrap_or("matching"),
                self.node,
                t.render()
            );
            let a = self.alert(
                m,
                t,
                labels.clone(),
                now,
                summary,
                &n.stream,
                t.count as f64,
            );
            tracing::info!(pattern = %t.id_hex(), template = %t.render(), "new log pattern");
            self.alerts.fire(a);
            self.stats.fired[0] += 1;
            self.announced.push(Announced {
                labels,
                idx: n.idx,
                id: n.id,
                at: now,
                examples: t.examples.len(),
                stream: n.stream,
            });
        }
    }

    /// One rate interval: scores every busy template, fires and resolves surges and
    /// disappearances, refreshes new-pattern alerts (second example) and resolves old ones.
    pub fn interval(&mut self, m: &mut Miner, now: SystemTime) {
        let secs = self.cfg.alerts.interval_secs.max(1);
        let ts = unix(now);
        let a = self.cfg.alerts.clone();
        let mut scored = 0usize;
        let mut fire: Vec<(u32, String, &'static str, f64)> = Vec::new();
        let mut resolve: Vec<BTreeMap<String, String>> = Vec::new();
        let max_scored = a.max_scored;
        let slots = m.live_slots();
        for &i in &slots {
            if m.template(i).is_some_and(|t| t.rate.is_some()) {
                scored += 1;
            }
        }
        for i in slots {
            let Some(t) = m.template_mut(i) else { continue };
            let lines = std::mem::take(&mut t.interval_lines);
            let rate = f64::from(lines) / secs as f64;
            if t.rate.is_none() {
                if lines == 0 || scored >= max_scored {
                    continue;
                }
                t.rate = Some(Box::new(RateState::new(secs, a.warmup_intervals)));
                scored += 1;
                let b = t.rate.as_ref().map_or(0, |r| r.bytes()) as isize;
                m.account(b);
                continue;
            }
            let Some(t) = m.template_mut(i) else { continue };
            let id = t.id;
            let Some(r) = t.rate.as_mut() else { continue };
            let score = r.scorer.observe(ts, rate);
            let warm = r.scorer.samples() > a.warmup_intervals;
            let hot = a.surge
                && warm
                && score >= a.surge_score
                && rate >= a.surge_min_rate
                && rate >= a.surge_ratio * r.baseline;
            if hot {
                r.hot += 1;
                r.calm = 0;
            } else {
                r.calm += 1;
                r.hot = 0;
                // The baseline learns only calm intervals, so a long surge stays a surge.
                let w = if r.scorer.samples() <= 1 { 1.0 } else { 0.1 };
                r.baseline += w * (rate - r.baseline);
            }
            if r.surging.is_none() && r.hot >= a.surge_for_intervals {
                fire.push((
                    i,
                    format!("{rate:.2} lines/s against a baseline of {:.2}", r.baseline),
                    SURGE,
                    rate,
                ));
            } else if r.calm >= a.resolve_intervals
                && let Some(l) = r.surging.take()
            {
                resolve.push(l);
            }
            if a.disappearance {
                if lines == 0 {
                    r.silent_secs += secs;
                } else {
                    r.silent_secs = 0;
                    if let Some(l) = r.gone.take() {
                        resolve.push(l);
                    }
                }
                if r.gone.is_none()
                    && warm
                    && r.baseline >= a.disappear_min_rate
                    && r.silent_secs >= a.disappear_after_secs
                {
                    fire.push((
                        i,
                        format!(
                            "silent for {} s, baseline {:.2} lines/s",
                            r.silent_secs, r.baseline
                        ),
                        DISAPPEARED,
                        0.0,
                    ));
                }
            }
            let _ = id;
        }
        self.stats.scored = scored;
        for (i, why, name, value) in fire {
            let Some(t) = m.template(i) else { continue };
            let labels = self.labels(m, t, name);
            let selector = Self::selector(m, t);
            let summary = if name == SURGE {
                format!(
                    "Log pattern surging on {}: {} ({why})",
                    self.node,
                    t.render()
                )
            } else {
                format!(
                    "Steady log pattern gone on {}: {} ({why})",
                    self.node,
                    t.render()
                )
            };
            let alert = self.alert(m, t, labels.clone(), now, summary, &selector, value);
            tracing::info!(alert = name, pattern = %t.id_hex(), %why, "log pattern alert");
            self.alerts.fire(alert);
            self.stats.fired[if name == SURGE { 1 } else { 2 }] += 1;
            if let Some(r) = m.template_mut(i).and_then(|t| t.rate.as_mut()) {
                if name == SURGE {
                    r.surging = Some(labels);
                } else {
                    r.gone = Some(labels);
                }
            }
        }
        for l in resolve {
            self.alerts.resolve(&l, now);
        }
        self.refresh_new(m, now);
    }

    fn refresh_new(&mut self, m: &Miner, now: SystemTime) {
        let keep = Duration::from_secs(self.cfg.alerts.new_resolve_secs);
        let mut i = 0;
        while i < self.announced.len() {
            let an = &self.announced[i];
            if now.duration_since(an.at).unwrap_or_default() >= keep {
                self.alerts.resolve(&an.labels, now);
                self.announced.swap_remove(i);
                continue;
            }
            if let Some(t) = m.template(an.idx).filter(|t| t.id == an.id)
                && t.examples.len() > an.examples
            {
                let summary = format!(
                    "New {} log pattern on {}: {}",
                    t.level.unwrap_or("matching"),
                    self.node,
                    t.render()
                );
                let a = self.alert(
                    m,
                    t,
                    an.labels.clone(),
                    an.at,
                    summary,
                    &an.stream,
                    t.count as f64,
                );
                self.alerts.fire(a);
                self.announced[i].examples = t.examples.len();
            }
            i += 1;
        }
    }
}
