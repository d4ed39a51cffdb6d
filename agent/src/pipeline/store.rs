//! The pipeline store: every pushed series, grouped, with its expiry and the cardinality guard.
//!
//! A group is a Pushgateway grouping key (`job` plus the URL's labels) or an OTLP resource
//! (`job`/`instance`). Pushgateway groups are replaced (PUT), merged by family (POST) or deleted
//! as a whole, and expire as a whole when no push refreshed them in time. OTLP series are
//! upserted one by one and each expires on its own, because an exporter with delta temporality
//! only sends the series that changed.
//!
//! Every group caches its rendered families; a push rebuilds only its own group's cache, so a
//! scrape clones a handful of `Arc`s. Expired data is never served: the snapshot skips groups
//! past their expiry even before the reaper ([`PipelineStore::reap`]) removes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::event::{
    Family, Labels, Metric, MetricKind, Value, is_valid_label_name, is_valid_metric_name,
};
use crate::store::Provider;

use crate::metrics::pipeline::{DropReason, Origin, PipelineMetrics};

/// Identifies one group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The receiver.
    pub origin: Origin,
    /// The grouping labels (`job` first among them by convention, sorted like every label set).
    pub labels: Labels,
}

/// How a push changes its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pushgateway PUT: the group becomes exactly what was pushed.
    Replace,
    /// Pushgateway POST: families with a pushed name are replaced, the others kept.
    ReplaceFamilies,
    /// OTLP: each pushed series is inserted or updated; nothing else changes.
    Upsert,
}

/// The store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Most series (exposition lines) in all groups.
    pub max_series: usize,
    /// Most groups.
    pub max_groups: usize,
    /// Most labels per series.
    pub max_labels: usize,
    /// Longest label value in bytes.
    pub max_label_value_bytes: usize,
    /// Most jobs remembered for freshness.
    pub max_jobs: usize,
}

/// What a push kept and what it dropped (counted in data points, one per [`Metric`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Data points kept.
    pub kept: usize,
    /// Data points dropped, by reason.
    pub dropped: BTreeMap<DropReason, usize>,
}

impl PushOutcome {
    /// All data points dropped.
    pub fn dropped_total(&self) -> usize {
        self.dropped.values().sum()
    }

    fn drop(&mut self, reason: DropReason, n: usize) {
        if n > 0 {
            *self.dropped.entry(reason).or_default() += n;
        }
    }
}

#[derive(Debug)]
struct FamState {
    help: String,
    kind: MetricKind,
    series: BTreeMap<Labels, (Value, Instant)>,
}

#[derive(Debug)]
struct Group {
    families: BTreeMap<String, FamState>,
    /// Exposition lines held.
    lines: usize,
    ttl: Option<Duration>,
    last_push: Instant,
    push_time: f64,
    failure_time: f64,
    cache: Option<Arc<Vec<Family>>>,
}

impl Group {
    fn expired(&self, now: Instant) -> bool {
        self.ttl.is_some_and(|t| self.last_push + t <= now)
    }
}

#[derive(Debug, Default)]
struct Inner {
    groups: BTreeMap<GroupKey, Group>,
    lines: usize,
    /// job -> unix seconds of the last successful push.
    jobs: HashMap<String, f64>,
}

/// Pushed series of both receivers; attached to the agent's [`crate::store::Store`] as a
/// [`Provider`], so `/metrics` (and every other reader of the store) sees them.
#[derive(Debug)]
pub struct PipelineStore {
    inner: Mutex<Inner>,
    limits: StoreLimits,
    metrics: Arc<PipelineMetrics>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl PipelineStore {
    /// An empty store.
    pub fn new(limits: StoreLimits, metrics: Arc<PipelineMetrics>) -> Self {
        PipelineStore {
            inner: Mutex::new(Inner::default()),
            limits,
            metrics,
        }
    }

    /// The receivers' counters.
    pub fn metrics(&self) -> &Arc<PipelineMetrics> {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why one series may not be stored, if it may not.
    fn check_series(&self, family: &str, m: &Metric) -> Option<DropReason> {
        if !is_valid_metric_name(family) {
            return Some(DropReason::InvalidName);
        }
        if m.labels.len() > self.limits.max_labels {
            return Some(DropReason::TooManyLabels);
        }
        for (k, v) in m.labels.iter() {
            if !is_valid_label_name(k) {
                return Some(DropReason::InvalidName);
            }
            if v.len() > self.limits.max_label_value_bytes {
                return Some(DropReason::LabelValueTooLong);
            }
        }
        None
    }

    /// Applies one push. Pushgateway modes are all or nothing: the first series that breaks a
    /// bound rejects the whole push (`Err` names the reason and the push's data points). OTLP
    /// upserts keep what fits and report the rest.
    pub fn push(
        &self,
        key: GroupKey,
        job: &str,
        families: Vec<Family>,
        mode: Mode,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Result<PushOutcome, (DropReason, usize)> {
        let origin = key.origin;
        let points: usize = families.iter().map(|f| f.metrics.len()).sum();
        let result = if mode == Mode::Upsert {
            Ok(self.upsert(key, families, ttl, now))
        } else {
            self.replace(key, families, mode, ttl, now)
        };
        match &result {
            Ok(outcome) => {
                self.metrics.add_kept(origin, outcome.kept);
                for (r, n) in &outcome.dropped {
                    self.metrics.add_dropped(origin, *r, *n);
                }
                if outcome.kept > 0 || mode != Mode::Upsert {
                    self.touch_job(job);
                }
            }
            Err((r, _)) => self.metrics.add_dropped(origin, *r, points.max(1)),
        }
        result
    }

    fn touch_job(&self, job: &str) {
        let mut g = self.lock();
        let now = unix_now();
        if !g.jobs.contains_key(job) && g.jobs.len() >= self.limits.max_jobs {
            let oldest = g
                .jobs
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                g.jobs.remove(&k);
            }
        }
        g.jobs.insert(job.to_string(), now);
    }

    fn replace(
        &self,
        key: GroupKey,
        families: Vec<Family>,
        mode: Mode,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Result<PushOutcome, (DropReason, usize)> {
        let points: usize = families.iter().map(|f| f.metrics.len()).sum();
        let mut new_lines = 0usize;
        for f in &families {
            for m in &f.metrics {
                if let Some(r) = self.check_series(&f.name, m) {
                    return Err((r, points));
                }
                new_lines += m.value.series_count();
            }
        }
        let mut g = self.lock();
        let inner = &mut *g;
        let exists = inner.groups.contains_key(&key);
        if !exists && inner.groups.len() >= self.limits.max_groups {
            return Err((DropReason::GroupLimit, points));
        }
        let removed_lines = match inner.groups.get(&key) {
            None => 0,
            Some(grp) if mode == Mode::Replace => grp.lines,
            Some(grp) => families
                .iter()
                .filter_map(|f| grp.families.get(&f.name))
                .map(fam_lines)
                .sum(),
        };
        if inner.lines - removed_lines + new_lines > self.limits.max_series {
            return Err((DropReason::SeriesLimit, points));
        }
        let grp = inner.groups.entry(key).or_insert_with(|| Group {
            families: BTreeMap::new(),
            lines: 0,
            ttl,
            last_push: now,
            push_time: 0.0,
            failure_time: 0.0,
            cache: None,
        });
        if mode == Mode::Replace {
            grp.families.clear();
        }
        for f in families {
            let mut st = FamState {
                help: f.help,
                kind: f.kind,
                series: BTreeMap::new(),
            };
            for m in f.metrics {
                st.series.insert(m.labels, (m.value, now));
            }
            grp.families.insert(f.name, st);
        }
        grp.lines = grp.families.values().map(fam_lines).sum();
        grp.ttl = ttl;
        grp.last_push = now;
        grp.push_time = unix_now();
        grp.cache = None;
        inner.lines = inner.lines - removed_lines + new_lines;
        Ok(PushOutcome {
            kept: points,
            dropped: BTreeMap::new(),
        })
    }

    fn upsert(
        &self,
        key: GroupKey,
        families: Vec<Family>,
        ttl: Option<Duration>,
        now: Instant,
    ) -> PushOutcome {
        let mut out = PushOutcome::default();
        let mut g = self.lock();
        let inner = &mut *g;
        if !inner.groups.contains_key(&key) && inner.groups.len() >= self.limits.max_groups {
            out.drop(
                DropReason::GroupLimit,
                families.iter().map(|f| f.metrics.len()).sum(),
            );
            return out;
        }
        let grp = inner.groups.entry(key.clone()).or_insert_with(|| Group {
            families: BTreeMap::new(),
            lines: 0,
            ttl,
            last_push: now,
            push_time: 0.0,
            failure_time: 0.0,
            cache: None,
        });
        for f in families {
            let st = grp
                .families
                .entry(f.name.clone())
                .or_insert_with(|| FamState {
                    help: f.help.clone(),
                    kind: f.kind,
                    series: BTreeMap::new(),
                });
            if st.kind != f.kind {
                out.drop(DropReason::TypeConflict, f.metrics.len());
                continue;
            }
            if st.help.is_empty() {
                st.help = f.help.clone();
            }
            for m in f.metrics {
                if let Some(r) = self.check_series(&f.name, &m) {
                    out.drop(r, 1);
                    continue;
                }
                let new_n = m.value.series_count();
                let old_n = st
                    .series
                    .get(&m.labels)
                    .map_or(0, |(v, _)| v.series_count());
                if inner.lines - old_n + new_n > self.limits.max_series {
                    out.drop(DropReason::SeriesLimit, 1);
                    continue;
                }
                inner.lines = inner.lines - old_n + new_n;
                grp.lines = grp.lines - old_n + new_n;
                st.series.insert(m.labels, (m.value, now));
                out.kept += 1;
            }
        }
        grp.families.retain(|_, st| !st.series.is_empty());
        if out.kept > 0 {
            grp.last_push = now;
            grp.ttl = ttl;
            grp.push_time = unix_now();
            grp.cache = None;
        }
        if grp.families.is_empty() {
            inner.groups.remove(&key);
        }
        out
    }

    /// Records a failed push to an existing group (`push_failure_time_seconds`); a failed push
    /// never creates a group.
    pub fn record_failure(&self, key: &GroupKey) {
        let mut g = self.lock();
        if let Some(grp) = g.groups.get_mut(key) {
            grp.failure_time = unix_now();
            grp.cache = None;
        }
    }

    /// Removes a group; returns whether it existed.
    pub fn delete(&self, key: &GroupKey) -> bool {
        let mut g = self.lock();
        match g.groups.remove(key) {
            Some(grp) => {
                g.lines -= grp.lines;
                true
            }
            None => false,
        }
    }

    /// Removes expired groups and expired OTLP series; returns how many series (lines) went.
    pub fn reap(&self, now: Instant) -> usize {
        let mut g = self.lock();
        let inner = &mut *g;
        let mut expired = 0usize;
        let mut empty = Vec::new();
        for (key, grp) in inner.groups.iter_mut() {
            let Some(ttl) = grp.ttl else { continue };
            if key.origin == Origin::Pushgateway {
                if grp.expired(now) {
                    expired += grp.lines;
                    empty.push(key.clone());
                }
                continue;
            }
            let before = grp.lines;
            for st in grp.families.values_mut() {
                st.series.retain(|_, (_, t)| *t + ttl > now);
            }
            grp.families.retain(|_, st| !st.series.is_empty());
            grp.lines = grp.families.values().map(fam_lines).sum();
            if grp.lines != before {
                expired += before - grp.lines;
                grp.cache = None;
            }
            if grp.families.is_empty() {
                empty.push(key.clone());
            }
        }
        for k in empty {
            inner.groups.remove(&k);
        }
        inner.lines -= expired;
        drop(g);
        if expired > 0 {
            tracing::debug!(series = expired, "expire pushed series");
            self.metrics.add_expired(expired);
        }
        expired
    }

    /// Series (exposition lines) held.
    pub fn series(&self) -> usize {
        self.lock().lines
    }

    /// Groups held.
    pub fn groups(&self) -> usize {
        self.lock().groups.len()
    }

    /// Whether a group exists.
    pub fn has_group(&self, key: &GroupKey) -> bool {
        self.lock().groups.contains_key(key)
    }
}

fn fam_lines(st: &FamState) -> usize {
    st.series.values().map(|(v, _)| v.series_count()).sum()
}

fn build_group(key: &GroupKey, grp: &Group) -> Vec<Family> {
    let mut out = Vec::with_capacity(grp.families.len() + 2);
    for (name, st) in &grp.families {
        let mut f = Family::new(name.clone(), st.help.clone(), st.kind);
        f.metrics = st
            .series
            .iter()
            .map(|(l, (v, _))| Metric {
                labels: l.clone(),
                value: v.clone(),
            })
            .collect();
        out.push(f);
    }
    if key.origin == Origin::Pushgateway {
        out.push(
            Family::gauge(
                "push_time_seconds",
                "Last Unix time when changing this group in the Pushgateway succeeded.",
            )
            .with(key.labels.clone(), grp.push_time),
        );
        out.push(
            Family::gauge(
                "push_failure_time_seconds",
                "Last Unix time when changing this group in the Pushgateway failed.",
            )
            .with(key.labels.clone(), grp.failure_time),
        );
    }
    out
}

impl Provider for PipelineStore {
    fn snapshot(&self) -> Vec<Arc<Vec<Family>>> {
        let now = Instant::now();
        let mut g = self.lock();
        let inner = &mut *g;
        let mut out = Vec::with_capacity(inner.groups.len() + 1);
        for (key, grp) in inner.groups.iter_mut() {
            if grp.expired(now) {
                continue;
            }
            if grp.cache.is_none() {
                grp.cache = Some(Arc::new(build_group(key, grp)));
            }
            if let Some(c) = &grp.cache {
                out.push(Arc::clone(c));
            }
        }
        let mut fresh = Family::gauge(
            "nodewatch_pipeline_last_push_timestamp_seconds",
            "Unix time of the last successful push per job (OTLP and Pushgateway).",
        );
        let mut jobs: Vec<(&String, &f64)> = inner.jobs.iter().collect();
        jobs.sort_by(|a, b| a.0.cmp(b.0));
        for (job, t) in jobs {
            fresh.push(Labels::new().with("job", job.as_str()), *t);
        }
        let series = inner.lines;
        let groups = inner.groups.len();
        drop(g);
        let mut own = self.metrics.families(series, groups);
        own.push(fresh);
        out.push(Arc::new(own));
        out
    }
}
