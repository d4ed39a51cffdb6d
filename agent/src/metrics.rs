//! The agent's own telemetry, in one place: [`AgentMetrics`] (per-collector success, duration
//! and errors, per-source series and drops, parse errors, render figures and the process' CPU
//! and memory) owns the registry every family is rendered from; the families of the parts live
//! beside it, one file each: `component.rs` (the `component_*` counters of every component),
//! `logs.rs` (`LogMetrics`: tailers and Loki sinks), `log_patterns.rs` (the `log_patterns`
//! transform's families), `pipeline.rs` (`PipelineMetrics`: the push receivers),
//! `remote_write.rs` (`RemoteWriteMetrics`), `alertmanager.rs` (`AlertDeliveryMetrics`),
//! `detect.rs` (`DetectMetrics`: the anomaly engine's counters). The anomaly series `detect`
//! writes (`nodewatch_anomaly_*`) are data, not telemetry: they go through the store like any
//! source's.
//!
//! Every label value comes from a fixed set: the collector names are registered when the topology
//! is built, and a name that was not registered is folded into `collector="other"`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::event::{Family, Labels};

mod alertmanager;
mod component;
mod detect;
mod log_patterns;
mod logs;
pub mod pipeline;
mod remote_write;

pub use alertmanager::{AlertDeliveryMetrics, DeliveryStats};
pub use component::{ComponentRegistry, ComponentTelemetry};
pub use detect::{DetectMetrics, Suppressed};
pub use logs::LogMetrics;
pub use remote_write::RemoteWriteMetrics;

/// The label value used for names that were never registered.
const OTHER: &str = "other";

#[derive(Debug, Default, Clone)]
struct CollectorStats {
    success: bool,
    ran: bool,
    duration_secs: f64,
    errors: u64,
    timeouts: u64,
    overruns: u64,
}

#[derive(Debug, Default, Clone)]
struct SourceStats {
    series: u64,
    dropped: u64,
    parse_errors: u64,
}

#[derive(Debug, Default)]
struct Inner {
    collectors: BTreeMap<String, CollectorStats>,
    sources: BTreeMap<String, SourceStats>,
    scrapes: u64,
    last_render_secs: f64,
    last_render_bytes: u64,
    render_conflicts: u64,
}

/// A component that adds its own families to the agent's telemetry (the remote_write sink, ...).
pub trait FamilySource: Send + Sync + std::fmt::Debug {
    /// The component's families as they are now.
    fn families(&self) -> Vec<Family>;
}

/// The agent's self-telemetry. Cheap to update; rendered with [`AgentMetrics::families`].
#[derive(Debug, Default)]
pub struct AgentMetrics {
    inner: Mutex<Inner>,
    family_sources: Mutex<Vec<std::sync::Arc<dyn FamilySource>>>,
    /// The log sources' and Loki sinks' telemetry.
    pub logs: std::sync::Arc<crate::logs::LogMetrics>,
    /// Every component's `component_*` counters.
    pub components: ComponentRegistry,
}

impl AgentMetrics {
    /// An empty set; register the collectors and sources next.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a component whose families are rendered with the agent's own.
    pub fn add_family_source(&self, s: std::sync::Arc<dyn FamilySource>) {
        self.family_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s);
    }

    /// Registers a collector (a source) name, so its series exist from the start.
    pub fn register(&self, name: &str) {
        let mut g = self.lock();
        g.collectors.entry(name.to_string()).or_default();
        g.sources.entry(name.to_string()).or_default();
    }

    fn collector<'a>(g: &'a mut Inner, name: &str) -> &'a mut CollectorStats {
        let key = if g.collectors.contains_key(name) {
            name
        } else {
            OTHER
        };
        g.collectors.entry(key.to_string()).or_default()
    }

    fn source<'a>(g: &'a mut Inner, name: &str) -> &'a mut SourceStats {
        let key = if g.sources.contains_key(name) {
            name
        } else {
            OTHER
        };
        g.sources.entry(key.to_string()).or_default()
    }

    /// Records a finished collection.
    pub fn observe_collect(&self, collector: &str, ok: bool, elapsed: Duration) {
        let mut g = self.lock();
        let c = Self::collector(&mut g, collector);
        c.ran = true;
        c.success = ok;
        c.duration_secs = elapsed.as_secs_f64();
        if !ok {
            c.errors += 1;
        }
    }

    /// Records a collection that ran past its timeout.
    pub fn observe_timeout(&self, collector: &str, elapsed: Duration) {
        let mut g = self.lock();
        let c = Self::collector(&mut g, collector);
        c.ran = true;
        c.success = false;
        c.duration_secs = elapsed.as_secs_f64();
        c.errors += 1;
        c.timeouts += 1;
    }

    /// Records a tick skipped because the previous collection was still running.
    pub fn observe_overrun(&self, collector: &str) {
        let mut g = self.lock();
        let c = Self::collector(&mut g, collector);
        c.success = false;
        c.errors += 1;
        c.overruns += 1;
    }

    /// Records what the store kept and dropped from one batch.
    pub fn observe_batch(&self, source: &str, kept_series: usize, dropped_series: usize) {
        let mut g = self.lock();
        let s = Self::source(&mut g, source);
        s.series = kept_series as u64;
        s.dropped += dropped_series as u64;
    }

    /// Counts input a source could not parse (a truncated smartctl JSON, a bad exposition line).
    pub fn inc_parse_errors(&self, source: &str) {
        let mut g = self.lock();
        Self::source(&mut g, source).parse_errors += 1;
    }

    /// Records one `/metrics` render.
    pub fn observe_render(&self, elapsed: Duration, bytes: usize, conflicts: usize) {
        let mut g = self.lock();
        g.scrapes += 1;
        g.last_render_secs = elapsed.as_secs_f64();
        g.last_render_bytes = bytes as u64;
        g.render_conflicts += conflicts as u64;
    }

    /// The parse error count of a source (for tests and health checks).
    pub fn parse_errors(&self, source: &str) -> u64 {
        self.lock()
            .sources
            .get(source)
            .map_or(0, |s| s.parse_errors)
    }

    /// The dropped-series count of a source.
    pub fn dropped(&self, source: &str) -> u64 {
        self.lock().sources.get(source).map_or(0, |s| s.dropped)
    }

    /// Whether the last collection of `collector` succeeded (`None` before the first run).
    pub fn last_success(&self, collector: &str) -> Option<bool> {
        self.lock()
            .collectors
            .get(collector)
            .and_then(|c| c.ran.then_some(c.success))
    }

    /// The self-telemetry as families.
    pub fn families(&self) -> Vec<Family> {
        let g = self.lock();
        let mut success = Family::gauge(
            "nodewatch_agent_collector_success",
            "Whether the collector's last run succeeded (1) or not (0).",
        );
        let mut duration = Family::gauge(
            "nodewatch_agent_collector_duration_seconds",
            "How long the collector's last run took.",
        );
        let mut errors = Family::counter(
            "nodewatch_agent_collector_errors_total",
            "Collector runs that failed, timed out or were skipped because the last run was still going.",
        );
        let mut timeouts = Family::counter(
            "nodewatch_agent_collector_timeouts_total",
            "Collector runs stopped at their timeout.",
        );
        let mut overruns = Family::counter(
            "nodewatch_agent_collector_overruns_total",
            "Collector ticks skipped because the previous run had not finished.",
        );
        for (name, c) in &g.collectors {
            let l = Labels::new().with("collector", name.as_str());
            if c.ran {
                success.push(l.clone(), f64::from(u8::from(c.success)));
                duration.push(l.clone(), c.duration_secs);
            }
            errors.push(l.clone(), c.errors as f64);
            timeouts.push(l.clone(), c.timeouts as f64);
            overruns.push(l, c.overruns as f64);
        }
        let mut series = Family::gauge(
            "nodewatch_agent_series",
            "Series the store holds for the source after the cardinality guard.",
        );
        let mut dropped = Family::counter(
            "nodewatch_agent_series_dropped_total",
            "Series dropped by the per-source cardinality guard or as invalid.",
        );
        let mut parse_errors = Family::counter(
            "nodewatch_agent_parse_errors_total",
            "Inputs a source could not parse.",
        );
        for (name, s) in &g.sources {
            let l = Labels::new().with("source", name.as_str());
            series.push(l.clone(), s.series as f64);
            dropped.push(l.clone(), s.dropped as f64);
            parse_errors.push(l, s.parse_errors as f64);
        }
        let mut out = vec![
            success,
            duration,
            errors,
            timeouts,
            overruns,
            series,
            dropped,
            parse_errors,
            Family::counter(
                "nodewatch_agent_scrapes_total",
                "Renders of /metrics served.",
            )
            .with(Labels::new(), g.scrapes as f64),
            Family::gauge(
                "nodewatch_agent_render_duration_seconds",
                "How long the last /metrics render took.",
            )
            .with(Labels::new(), g.last_render_secs),
            Family::gauge(
                "nodewatch_agent_render_bytes",
                "Size of the last /metrics body before compression.",
            )
            .with(Labels::new(), g.last_render_bytes as f64),
            Family::counter(
                "nodewatch_agent_render_conflicts_total",
                "Series or families left out of /metrics because two sources clashed.",
            )
            .with(Labels::new(), g.render_conflicts as f64),
        ];
        drop(g);
        out.extend(self.components.families());
        out.extend(self.logs.families());
        out.extend(process_families());
        let extra = self
            .family_sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in extra {
            out.extend(s.families());
        }
        out
    }
}

/// `process_*` families for the agent itself, from `/proc/self`.
fn process_families() -> Vec<Family> {
    let mut out = Vec::new();
    let Ok(me) = procfs::process::Process::myself() else {
        return out;
    };
    let tps = procfs::ticks_per_second() as f64;
    if let Ok(stat) = me.stat() {
        if tps > 0.0 {
            out.push(
                Family::counter(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                )
                .with(Labels::new(), (stat.utime + stat.stime) as f64 / tps),
            );
            if let Ok(btime) = procfs::boot_time_secs() {
                out.push(
                    Family::gauge(
                        "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.",
                    )
                    .with(Labels::new(), btime as f64 + stat.starttime as f64 / tps),
                );
            }
        }
        out.push(
            Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .with(Labels::new(), stat.rss as f64 * procfs::page_size() as f64),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .with(Labels::new(), stat.vsize as f64),
        );
    }
    if let Ok(n) = me.fd_count() {
        out.push(
            Family::gauge("process_open_fds", "Number of open file descriptors.")
                .with(Labels::new(), n as f64),
        );
    }
    out
}

#[cfg(test)]
mod tests;
