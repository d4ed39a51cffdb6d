//! From the spec and Prometheus' answers to the report's numbers.
//!
//! - Event SLIs (`ratio`, `latency`): per node and per UTC day, `sum by (NODE)
//!   (increase(SEL[1d]))` evaluated at each day's end; the period's figures are the sums of the
//!   days. SLI = good / total.
//! - Time SLIs (`threshold`): the gauge is read every `step` seconds over each day, half-open
//!   [day start, day end); SLI = points below the threshold / points, over every series.
//! - Error budget consumed = (1 - SLI) / (1 - objective); 1.0 means all of it.
//! - Incidents: `ALERTS{alertname=ALERT, alertstate="firing"}` read every `step`; consecutive
//!   firing points form one incident, from its first point to its last point plus `step`.
//! - Latency percentiles (latency SLOs): `histogram_quantile` over the whole period's increase.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::ReportError;
use super::prom::PromClient;
use super::spec::{Sli, SloFile};
use super::time::{DAY, format_day, format_ts};

/// The most days one report covers.
pub const MAX_DAYS: i64 = 400;
/// How many worst days are listed.
pub const WORST_DAYS: usize = 3;
/// The percentiles reported for latency SLOs.
pub const PERCENTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// Good against total, and what it means for the objective.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attainment {
    /// Good events (or good points in time).
    pub good: f64,
    /// All events (or points in time).
    pub total: f64,
    /// good / total; none without events.
    pub sli: Option<f64>,
    /// (1 - SLI) / (1 - objective).
    pub budget_consumed: Option<f64>,
    /// SLI >= objective.
    pub met: Option<bool>,
}

impl Attainment {
    fn new(good: f64, total: f64, objective: f64) -> Attainment {
        let sli = (total > 0.0).then(|| good / total);
        Attainment {
            good,
            total,
            sli,
            budget_consumed: sli.map(|s| (1.0 - s) / (1.0 - objective)),
            met: sli.map(|s| s >= objective),
        }
    }
}

/// One node's attainment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeAttainment {
    /// The node label's value ("" when the series have none).
    pub node: String,
    /// Its figures.
    #[serde(flatten)]
    pub attainment: Attainment,
}

/// One UTC day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayPoint {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Unix seconds of its midnight.
    pub start: i64,
    /// Its figures over every node.
    #[serde(flatten)]
    pub attainment: Attainment,
}

/// A range where the burn-rate alert was firing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// First firing point (Unix seconds).
    pub start: i64,
    /// Last firing point plus one step.
    pub end: i64,
    /// `start` as text.
    pub start_text: String,
    /// `end` as text.
    pub end_text: String,
    /// end - start.
    pub duration_seconds: i64,
    /// The alert's `severity` label.
    pub severity: String,
}

/// Latency percentiles of one node (or "all").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLatency {
    /// The node.
    pub node: String,
    /// Median, seconds.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// Replication-lag (threshold SLI) compliance of one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLag {
    /// The node.
    pub node: String,
    /// Share of time below the threshold.
    pub compliance: Option<f64>,
    /// The largest value read.
    pub max_seconds: Option<f64>,
    /// The threshold.
    pub threshold_seconds: f64,
}

/// One SLO's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloReport {
    /// The SLO's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// `ratio`, `latency` or `threshold`.
    pub sli_type: String,
    /// The objective.
    pub objective: f64,
    /// The spec's compliance window (the report covers its own period).
    pub window: String,
    /// The burn-rate alert.
    pub alert: String,
    /// Over every node.
    pub overall: Attainment,
    /// Per node, sorted by name.
    pub nodes: Vec<NodeAttainment>,
    /// Per day.
    pub daily: Vec<DayPoint>,
    /// The lowest days.
    pub worst_days: Vec<DayPoint>,
    /// Firing ranges of the burn-rate alert.
    pub incidents: Vec<Incident>,
    /// Latency SLOs: percentiles per node, "all" first.
    pub latency: Vec<NodeLatency>,
    /// Threshold SLOs: compliance per node.
    pub lag: Vec<NodeLag>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The Prometheus queried.
    pub prometheus: String,
    /// Period start (Unix seconds).
    pub from: i64,
    /// Period end (exclusive).
    pub to: i64,
    /// `from` as text.
    pub from_text: String,
    /// `to` as text.
    pub to_text: String,
    /// The label that names a node.
    pub node_label: String,
    /// The seconds between points for time SLIs and incidents.
    pub step_seconds: i64,
    /// One per SLO, in spec order.
    pub slos: Vec<SloReport>,
}

/// Per node, per day index: (good, total).
type Grid = BTreeMap<String, BTreeMap<i64, (f64, f64)>>;

struct Ctx<'a> {
    client: &'a PromClient,
    from: i64,
    to: i64,
    days: i64,
    node_label: &'a str,
    step: i64,
}

fn node_of(labels: &BTreeMap<String, String>, node_label: &str) -> String {
    labels.get(node_label).cloned().unwrap_or_default()
}

fn with_matchers(name: &str, matchers: &[&str]) -> String {
    let ms: Vec<&str> = matchers
        .iter()
        .copied()
        .filter(|m| !m.trim().is_empty())
        .collect();
    if ms.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", ms.join(", "))
    }
}

impl Ctx<'_> {
    /// `sum by (NODE) (increase(SEL[1d]))` at each day's end: node -> day -> value.
    async fn daily_increase(
        &self,
        sel: &str,
    ) -> Result<BTreeMap<String, BTreeMap<i64, f64>>, ReportError> {
        let q = format!("sum by ({}) (increase({sel}[1d]))", self.node_label);
        let series = self
            .client
            .query_range(&q, self.from + DAY, self.to, DAY)
            .await?;
        let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
        for s in series {
            let node = node_of(&s.labels, self.node_label);
            for (t, v) in s.points {
                let day = (t - self.from) / DAY - 1;
                if (0..self.days).contains(&day) && v.is_finite() {
                    *out.entry(node.clone()).or_default().entry(day).or_default() += v;
                }
            }
        }
        Ok(out)
    }

    async fn event_grid(&self, sli: &Sli) -> Result<Grid, ReportError> {
        let (total_sel, other_sel, other_is_good) = match sli {
            Sli::Ratio { total, good, bad } => match (good, bad) {
                (Some(g), _) => (total.clone(), g.clone(), true),
                (None, Some(b)) => (total.clone(), b.clone(), false),
                (None, None) => return Ok(Grid::new()),
            },
            Sli::Latency {
                histogram,
                matchers,
                threshold_seconds,
            } => {
                let m = matchers.as_deref().unwrap_or("");
                let le = format!("le=\"{threshold_seconds}\"");
                (
                    with_matchers(&format!("{histogram}_count"), &[m]),
                    with_matchers(&format!("{histogram}_bucket"), &[m, &le]),
                    true,
                )
            }
            Sli::Threshold { .. } => return Ok(Grid::new()),
        };
        let totals = self.daily_increase(&total_sel).await?;
        let others = self.daily_increase(&other_sel).await?;
        let mut grid = Grid::new();
        for (node, days) in &totals {
            for (day, total) in days {
                let other = others
                    .get(node)
                    .and_then(|d| d.get(day))
                    .copied()
                    .unwrap_or(0.0);
                let good = if other_is_good { other } else { total - other };
                grid.entry(node.clone())
                    .or_default()
                    .insert(*day, (good, *total));
            }
        }
        Ok(grid)
    }

    /// Threshold SLIs: the grid and each node's largest value.
    async fn time_grid(
        &self,
        metric: &str,
        below: f64,
    ) -> Result<(Grid, BTreeMap<String, f64>), ReportError> {
        let mut grid = Grid::new();
        let mut max: BTreeMap<String, f64> = BTreeMap::new();
        for day in 0..self.days {
            let start = self.from + day * DAY;
            let series = self
                .client
                .query_range(metric, start, start + DAY - self.step, self.step)
                .await?;
            for s in series {
                let node = node_of(&s.labels, self.node_label);
                let cell = grid
                    .entry(node.clone())
                    .or_default()
                    .entry(day)
                    .or_default();
                for (t, v) in &s.points {
                    if *t < start || *t >= start + DAY || v.is_nan() {
                        continue;
                    }
                    cell.1 += 1.0;
                    if *v < below {
                        cell.0 += 1.0;
                    }
                    let m = max.entry(node.clone()).or_insert(*v);
                    if *v > *m {
                        *m = *v;
                    }
                }
            }
        }
        Ok((grid, max))
    }

    async fn incidents(&self, alert: &str) -> Result<Vec<Incident>, ReportError> {
        let q = format!("ALERTS{{alertname=\"{alert}\", alertstate=\"firing\"}}");
        let mut by_severity: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for day in 0..self.days {
            let start = self.from + day * DAY;
            for s in self
                .client
                .query_range(&q, start, start + DAY - self.step, self.step)
                .await?
            {
                let sev = s.labels.get("severity").cloned().unwrap_or_default();
                let set = by_severity.entry(sev).or_default();
                set.extend(s.points.iter().filter(|(_, v)| *v > 0.0).map(|(t, _)| *t));
            }
        }
        let mut out = Vec::new();
        for (severity, points) in by_severity {
            let mut run: Option<(i64, i64)> = None;
            for t in points {
                run = match run {
                    Some((s, last)) if t - last <= self.step => Some((s, t)),
                    Some((s, last)) => {
                        out.push(incident(s, last + self.step, &severity));
                        Some((t, t))
                    }
                    None => Some((t, t)),
                };
            }
            if let Some((s, last)) = run {
                out.push(incident(s, last + self.step, &severity));
            }
        }
        out.sort_by_key(|i| (i.start, i.severity.clone()));
        Ok(out)
    }

    async fn latency(
        &self,
        histogram: &str,
        matchers: Option<&str>,
    ) -> Result<Vec<NodeLatency>, ReportError> {
        let sel = with_matchers(&format!("{histogram}_bucket"), &[matchers.unwrap_or("")]);
        let range = self.to - self.from;
        let mut rows: BTreeMap<String, [Option<f64>; 3]> = BTreeMap::new();
        for (i, q) in PERCENTILES.iter().enumerate() {
            for (by, all) in [
                (format!("le, {}", self.node_label), false),
                ("le".to_string(), true),
            ] {
                let expr =
                    format!("histogram_quantile({q}, sum by ({by}) (increase({sel}[{range}s])))");
                for s in self.client.query(&expr, self.to).await? {
                    let node = if all {
                        "all".to_string()
                    } else {
                        node_of(&s.labels, self.node_label)
                    };
                    if s.value.is_finite() {
                        rows.entry(node).or_default()[i] = Some(s.value);
                    }
                }
            }
        }
        let mut out: Vec<NodeLatency> = rows
            .into_iter()
            .map(|(node, p)| NodeLatency {
                node,
                p50: p[0],
                p90: p[1],
                p99: p[2],
            })
            .collect();
        out.sort_by_key(|r| (r.node != "all", r.node.clone()));
        Ok(out)
    }
}

fn incident(start: i64, end: i64, severity: &str) -> Incident {
    Incident {
        start,
        end,
        start_text: format_ts(start),
        end_text: format_ts(end),
        duration_seconds: end - start,
        severity: severity.to_string(),
    }
}

fn summarize(
    grid: &Grid,
    days: i64,
    from: i64,
    objective: f64,
) -> (Attainment, Vec<NodeAttainment>, Vec<DayPoint>) {
    let mut nodes = Vec::new();
    let mut per_day = vec![(0.0, 0.0); days as usize];
    let (mut good, mut total) = (0.0, 0.0);
    for (node, ds) in grid {
        let (mut g, mut t) = (0.0, 0.0);
        for (day, (dg, dt)) in ds {
            g += dg;
            t += dt;
            if let Some(cell) = per_day.get_mut(*day as usize) {
                cell.0 += dg;
                cell.1 += dt;
            }
        }
        good += g;
        total += t;
        nodes.push(NodeAttainment {
            node: node.clone(),
            attainment: Attainment::new(g, t, objective),
        });
    }
    let daily = per_day
        .iter()
        .enumerate()
        .map(|(i, (g, t))| {
            let start = from + i as i64 * DAY;
            DayPoint {
                day: format_day(start),
                start,
                attainment: Attainment::new(*g, *t, objective),
            }
        })
        .collect();
    (Attainment::new(good, total, objective), nodes, daily)
}

fn worst(daily: &[DayPoint]) -> Vec<DayPoint> {
    let mut ds: Vec<DayPoint> = daily
        .iter()
        .filter(|d| d.attainment.sli.is_some())
        .cloned()
        .collect();
    ds.sort_by(|a, b| {
        let (x, y) = (
            a.attainment.sli.unwrap_or(1.0),
            b.attainment.sli.unwrap_or(1.0),
        );
        x.total_cmp(&y).then(a.start.cmp(&b.start))
    });
    ds.truncate(WORST_DAYS);
    ds
}

/// Checks the period and step: whole UTC-aligned days, at most [`MAX_DAYS`].
pub fn check_period(from: i64, to: i64, step: i64) -> Result<i64, ReportError> {
    if to <= from {
        return Err(ReportError::Period("--to must be after --from".to_string()));
    }
    if (to - from) % DAY != 0 {
        return Err(ReportError::Period(
            "the period must be whole days (--from and --to at the same time of day)".to_string(),
        ));
    }
    let days = (to - from) / DAY;
    if days > MAX_DAYS {
        return Err(ReportError::Period(format!(
            "{days} days: at most {MAX_DAYS}"
        )));
    }
    if step <= 0 || DAY % step != 0 || DAY / step > 11_000 {
        return Err(ReportError::Period(format!(
            "--step-secs {step}: must divide a day, at least 8"
        )));
    }
    Ok(days)
}

/// Builds the report for every SLO in `spec` over [from, to).
pub async fn compute(
    client: &PromClient,
    prometheus: &str,
    spec: &SloFile,
    from: i64,
    to: i64,
    node_label: &str,
    step: i64,
) -> Result<Report, ReportError> {
    let days = check_period(from, to, step)?;
    let ctx = Ctx {
        client,
        from,
        to,
        days,
        node_label,
        step,
    };
    let mut slos = Vec::new();
    for slo in &spec.slos {
        let (grid, lag) = match &slo.sli {
            Sli::Threshold { metric, below } => {
                let (grid, max) = ctx.time_grid(metric, *below).await?;
                let lag = grid
                    .iter()
                    .map(|(node, ds)| {
                        let (g, t) = ds.values().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
                        NodeLag {
                            node: node.clone(),
                            compliance: (t > 0.0).then(|| g / t),
                            max_seconds: max.get(node).copied(),
                            threshold_seconds: *below,
                        }
                    })
                    .collect();
                (grid, lag)
            }
            other => (ctx.event_grid(other).await?, Vec::new()),
        };
        let latency = match &slo.sli {
            Sli::Latency {
                histogram,
                matchers,
                ..
            } => ctx.latency(histogram, matchers.as_deref()).await?,
            _ => Vec::new(),
        };
        let (overall, nodes, daily) = summarize(&grid, days, from, slo.objective);
        slos.push(SloReport {
            name: slo.name.clone(),
            description: slo.description.clone(),
            sli_type: slo.sli.kind().to_string(),
            objective: slo.objective,
            window: slo.window.clone(),
            alert: slo.alert.clone(),
            overall,
            nodes,
            worst_days: worst(&daily),
            daily,
            incidents: ctx.incidents(&slo.alert).await?,
            latency,
            lag,
        });
    }
    Ok(Report {
        prometheus: prometheus.to_string(),
        from,
        to,
        from_text: format_ts(from),
        to_text: format_ts(to),
        node_label: node_label.to_string(),
        step_seconds: step,
        slos,
    })
}
