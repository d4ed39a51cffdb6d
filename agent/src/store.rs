//! The in-memory store: the latest batch of each source, with an expiry and a cardinality guard.
//!
//! A source replaces its whole batch on every successful run, so the store always holds the latest
//! sample of every series. A batch that is not refreshed before its expiry (the source failed or
//! hung) stops being served, so Prometheus marks its series stale instead of seeing frozen values.
//!
//! On the way in, [`Store::put`] drops invalid names, duplicate series, and every series past the
//! source's `max_series`, and counts what it dropped in
//! `nodewatch_agent_series_dropped_total{source}`. Readers ([`Store::snapshot`]) only clone `Arc`s
//! under a short lock, so no reader ever waits on a source.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::event::{Family, is_valid_label_name, is_valid_metric_name};
use crate::metrics::AgentMetrics;

/// A part of the agent that keeps its own series and hands them to readers on demand (the
/// pipeline receivers: pushed series live as long as their own expiry, not a source's batch).
/// [`Store::snapshot`] appends what every attached provider returns.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The provider's current families, as shared batches.
    fn snapshot(&self) -> Vec<Arc<Vec<Family>>>;
}

/// A reader told about every batch the store accepts (the remote_write sink). It must not block:
/// it is called on the source's task.
pub trait PutListener: Send + Sync + std::fmt::Debug {
    /// `families` is what the store kept of `source`'s new batch.
    fn on_put(&self, source: &str, families: &Arc<Vec<Family>>);
}

#[derive(Debug)]
struct Entry {
    families: Arc<Vec<Family>>,
    expires_at: Instant,
}

/// What [`Store::put`] kept and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutReport {
    /// Series kept.
    pub kept: usize,
    /// Series dropped (over the limit, invalid or duplicate).
    pub dropped: usize,
}

/// The latest batch per source.
#[derive(Debug)]
pub struct Store {
    entries: RwLock<BTreeMap<String, Entry>>,
    limits: RwLock<HashMap<String, usize>>,
    default_limit: usize,
    metrics: Arc<AgentMetrics>,
    providers: RwLock<Vec<Arc<dyn Provider>>>,
    listeners: RwLock<Vec<Arc<dyn PutListener>>>,
}

impl Store {
    /// A store with a series limit per source; sources not named get `default_limit`.
    pub fn new(
        limits: HashMap<String, usize>,
        default_limit: usize,
        metrics: Arc<AgentMetrics>,
    ) -> Self {
        Store {
            entries: RwLock::new(BTreeMap::new()),
            limits: RwLock::new(limits),
            default_limit,
            metrics,
            providers: RwLock::new(Vec::new()),
            listeners: RwLock::new(Vec::new()),
        }
    }

    /// Sets the series limit of one source (the topology calls it as it builds each source).
    pub fn set_limit(&self, source: &str, max_series: usize) {
        let mut g = self.limits.write().unwrap_or_else(|e| e.into_inner());
        g.insert(source.to_string(), max_series);
    }

    /// Attaches a provider whose families every snapshot includes (after the sources' batches).
    pub fn attach(&self, provider: Arc<dyn Provider>) {
        let mut g = self.providers.write().unwrap_or_else(|e| e.into_inner());
        g.push(provider);
    }

    /// Adds a reader that is told about every accepted batch.
    pub fn add_listener(&self, l: Arc<dyn PutListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(l);
    }

    /// Replaces the batch of `source`, valid for `ttl`.
    pub fn put(&self, source: &str, families: Vec<Family>, ttl: Duration) -> PutReport {
        let limit = self
            .limits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
            .copied()
            .unwrap_or(self.default_limit);
        let (families, report) = guard(families, limit);
        if report.dropped > 0 {
            tracing::warn!(
                source,
                dropped = report.dropped,
                limit,
                "drop series over the source's series limit or invalid"
            );
        }
        self.metrics
            .observe_batch(source, report.kept, report.dropped);
        let families = Arc::new(families);
        let entry = Entry {
            families: Arc::clone(&families),
            expires_at: Instant::now() + ttl,
        };
        let mut g = self.entries.write().unwrap_or_else(|e| e.into_inner());
        g.insert(source.to_string(), entry);
        drop(g);
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            l.on_put(source, &families);
        }
        report
    }

    /// The batches that have not expired, in source-name order, then the providers' batches.
    pub fn snapshot(&self) -> Vec<Arc<Vec<Family>>> {
        let now = Instant::now();
        let mut out: Vec<Arc<Vec<Family>>> = {
            let g = self.entries.read().unwrap_or_else(|e| e.into_inner());
            g.values()
                .filter(|e| e.expires_at > now)
                .map(|e| Arc::clone(&e.families))
                .collect()
        };
        let providers: Vec<Arc<dyn Provider>> = {
            let g = self.providers.read().unwrap_or_else(|e| e.into_inner());
            g.clone()
        };
        for p in providers {
            out.extend(p.snapshot());
        }
        out
    }

    /// The current batch of one source, if it has not expired.
    pub fn get(&self, source: &str) -> Option<Arc<Vec<Family>>> {
        let now = Instant::now();
        let g = self.entries.read().unwrap_or_else(|e| e.into_inner());
        g.get(source)
            .filter(|e| e.expires_at > now)
            .map(|e| Arc::clone(&e.families))
    }
}

/// Applies the validity checks and the series limit to one batch.
fn guard(families: Vec<Family>, limit: usize) -> (Vec<Family>, PutReport) {
    let mut kept = 0usize;
    let mut dropped = 0usize;
    let mut out: Vec<Family> = Vec::with_capacity(families.len());
    let mut names: HashSet<String> = HashSet::new();
    for mut fam in families {
        if !is_valid_metric_name(&fam.name) || !names.insert(fam.name.clone()) {
            dropped += fam.series_count();
            continue;
        }
        let metrics = std::mem::take(&mut fam.metrics);
        let mut seen = HashSet::with_capacity(metrics.len());
        for m in metrics {
            let n = m.value.series_count();
            let labels_ok = m.labels.iter().all(|(k, _)| is_valid_label_name(k));
            if !labels_ok || kept + n > limit || !seen.insert(m.labels.clone()) {
                dropped += n;
                continue;
            }
            kept += n;
            fam.metrics.push(m);
        }
        if !fam.metrics.is_empty() {
            out.push(fam);
        }
    }
    (out, PutReport { kept, dropped })
}

#[cfg(test)]
mod tests;
