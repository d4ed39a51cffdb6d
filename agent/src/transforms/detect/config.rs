//! `[transforms.detect]`: which series are watched, with which detector, and the false-positive
//! controls. Every option has a default; with no table at all the defaults below run.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scorer::ScorerParams;
use crate::component::{BuildContext, ComponentError, in_range};
use crate::sinks::alertmanager::{AlertOutput, AlertmanagerConfig, Links};

/// The detector of a watched series (`detector = "..."`, or `node-agent detect --detector`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// The calibrated score ([`super::Scorer`]): anomaly likelihood of three robust predictors
    /// (level, step, daily profile) plus novelty beyond the range seen; windows in seconds.
    #[default]
    Auto,
    /// The sliding median/MAD baseline only.
    Robust,
    /// The earlier sample-window detector: median/MAD, EWMA level, CUSUM and a seasonal profile.
    Seasonal,
    /// EWMA level and CUSUM change point only.
    LevelShift,
    /// A counter that should stay flat: any increase is a finding.
    Counter,
    /// The calibrated score plus rate of change with a horizon (needs `threshold`).
    Rate,
    /// An EWMA with a mean-absolute-deviation band: the trivial baseline benchmarks compare to.
    Ewma,
}

impl DetectorKind {
    /// Parses a `--detector` name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "auto" | "combined" => DetectorKind::Auto,
            "robust" => DetectorKind::Robust,
            "seasonal" => DetectorKind::Seasonal,
            "level_shift" | "cusum" => DetectorKind::LevelShift,
            "counter" => DetectorKind::Counter,
            "rate" => DetectorKind::Rate,
            "ewma" => DetectorKind::Ewma,
            _ => return None,
        })
    }

    /// Every name `from_name` accepts first.
    pub const NAMES: &'static [&'static str] = &[
        "auto",
        "robust",
        "seasonal",
        "level_shift",
        "counter",
        "rate",
        "ewma",
    ];
}

/// Which deviations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Up and down.
    #[default]
    Both,
    /// Only above the band (latency, lag, temperature).
    Up,
    /// Only below the band (throughput, spare capacity).
    Down,
}

/// A detector's parameters. Every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorParams {
    /// The detector.
    #[serde(default)]
    pub kind: DetectorKind,
    /// Which deviations count.
    #[serde(default)]
    pub direction: Direction,
    /// Samples in the sliding median/MAD window.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Samples scored 0 while the baseline forms.
    #[serde(default = "default_warmup_samples")]
    pub warmup_samples: u64,
    /// The z (in robust scale units) at which a component's score is 0.5.
    #[serde(default = "default_z_threshold")]
    pub z_threshold: f64,
    /// The EWMA weight of the level component.
    #[serde(default = "default_ewma_alpha")]
    pub ewma_alpha: f64,
    /// CUSUM slack per sample (z units).
    #[serde(default = "default_cusum_k")]
    pub cusum_k: f64,
    /// CUSUM alarm level (z units).
    #[serde(default = "default_cusum_h")]
    pub cusum_h: f64,
    /// Low-variance floor of the scale, relative to the level (0.01 = 1 %).
    #[serde(default = "default_min_relative_scale")]
    pub min_relative_scale: f64,
    /// Low-variance floor of the scale, absolute (also the counter's noise allowance).
    #[serde(default = "default_min_absolute_scale")]
    pub min_absolute_scale: f64,
    /// `rate`: the value that must not be crossed.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// `rate`: how far ahead a predicted crossing counts.
    #[serde(default = "default_horizon_secs")]
    pub horizon_secs: u64,
    /// `counter`: how long an increase keeps the score at 1.
    #[serde(default = "default_hold_secs")]
    pub hold_secs: u64,
    /// `auto` and `rate`: the calibrated scorer's windows (seconds), e.g.
    /// `scorer = { warmup_secs = 600 }`.
    #[serde(default)]
    pub scorer: ScorerParams,
}

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            kind: DetectorKind::Auto,
            direction: Direction::Both,
            window: default_window(),
            warmup_samples: default_warmup_samples(),
            z_threshold: default_z_threshold(),
            ewma_alpha: default_ewma_alpha(),
            cusum_k: default_cusum_k(),
            cusum_h: default_cusum_h(),
            min_relative_scale: default_min_relative_scale(),
            min_absolute_scale: default_min_absolute_scale(),
            threshold: None,
            horizon_secs: default_horizon_secs(),
            hold_secs: default_hold_secs(),
            scorer: ScorerParams::default(),
        }
    }
}

impl DetectorParams {
    /// The defaults with another detector.
    pub fn of(kind: DetectorKind) -> Self {
        DetectorParams {
            kind,
            ..Default::default()
        }
    }

    /// The calibrated scorer's parameters, with this detector's direction.
    pub fn scorer_params(&self) -> ScorerParams {
        ScorerParams {
            direction: self.direction,
            ..self.scorer
        }
    }

    /// What is out of range, if anything.
    pub fn check(&self) -> Result<(), String> {
        self.scorer.check()?;
        if !(3..=256).contains(&self.window) {
            return Err(format!("window {} is outside 3..=256", self.window));
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha <= 1.0) {
            return Err("ewma_alpha must be in (0, 1]".into());
        }
        for (name, v) in [("z_threshold", self.z_threshold), ("cusum_h", self.cusum_h)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be above 0"));
            }
        }
        for (name, v) in [
            ("cusum_k", self.cusum_k),
            ("min_relative_scale", self.min_relative_scale),
            ("min_absolute_scale", self.min_absolute_scale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be 0 or above"));
            }
        }
        if self.kind == DetectorKind::Rate && self.threshold.is_none() {
            return Err("the rate detector needs a threshold".into());
        }
        if self.horizon_secs == 0 {
            return Err("horizon_secs must be above 0".into());
        }
        Ok(())
    }
}

fn default_window() -> usize {
    64
}
fn default_warmup_samples() -> u64 {
    30
}
fn default_z_threshold() -> f64 {
    6.0
}
fn default_ewma_alpha() -> f64 {
    0.25
}
fn default_cusum_k() -> f64 {
    1.0
}
fn default_cusum_h() -> f64 {
    12.0
}
fn default_min_relative_scale() -> f64 {
    0.01
}
fn default_min_absolute_scale() -> f64 {
    1e-9
}
fn default_horizon_secs() -> u64 {
    900
}
fn default_hold_secs() -> u64 {
    3600
}

/// What a watched series is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// The sample's value (gauges, counters).
    #[default]
    Value,
    /// A histogram's 99th percentile over the last interval (from bucket deltas).
    P99,
    /// A histogram's mean over the last interval (sum delta / count delta).
    Mean,
    /// A counter's increase per second.
    Rate,
    /// Seconds since the timestamp the value holds (freshness of `*_timestamp_seconds`).
    Age,
}

/// One `[[transforms.detect.watch]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// The metric name, exactly.
    pub metric: String,
    /// Labels that must match exactly (`{ op = "put" }`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How the series is read.
    #[serde(default)]
    pub stat: Stat,
    /// The alert it raises.
    pub alert: String,
    /// `warning` or `critical`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// The component whose logs the Grafana link opens (`storage-node`, `kernel`...).
    #[serde(default = "default_component")]
    pub component: String,
    /// The detector and its parameters.
    #[serde(default)]
    pub detector: DetectorParams,
}

fn default_severity() -> String {
    "warning".into()
}
fn default_component() -> String {
    "node-agent".into()
}

/// The false-positive controls between a score and an alert.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertPolicy {
    /// A sample at or above this score counts towards firing.
    #[serde(default = "default_fire_score")]
    pub fire_score: f64,
    /// Resolving needs `resolve_samples` samples in a row below this score (hysteresis).
    #[serde(default = "default_resolve_score")]
    pub resolve_score: f64,
    /// Minimum duration: `min_samples` of the last `of_samples` must be at or above `fire_score`.
    #[serde(default = "default_min_samples")]
    pub min_samples: u32,
    /// The M of "N of M" (at most 32).
    #[serde(default = "default_of_samples")]
    pub of_samples: u32,
    /// Samples in a row below `resolve_score` before an alert resolves.
    #[serde(default = "default_resolve_samples")]
    pub resolve_samples: u32,
    /// No alert fires this long after the agent starts (its own restart).
    #[serde(default = "default_startup_grace_secs")]
    pub startup_grace_secs: u64,
    /// The most times one series may start firing per hour; more are counted, not sent.
    #[serde(default = "default_max_alerts_per_hour")]
    pub max_alerts_per_hour: u32,
}

impl AlertPolicy {
    /// Checks the thresholds and counts against each other; the error names the key.
    pub fn validate(&self) -> Result<(), ComponentError> {
        if !(self.fire_score > 0.0 && self.fire_score <= 1.0) {
            return Err(ComponentError::new("fire_score", "must be in (0, 1]"));
        }
        if !(self.resolve_score >= 0.0 && self.resolve_score <= self.fire_score) {
            return Err(ComponentError::new(
                "resolve_score",
                "must be between 0 and fire_score",
            ));
        }
        in_range("of_samples", self.of_samples, 1..=32)?;
        in_range("min_samples", self.min_samples, 1..=self.of_samples)?;
        if self.resolve_samples == 0 {
            return Err(ComponentError::new("resolve_samples", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            fire_score: default_fire_score(),
            resolve_score: default_resolve_score(),
            min_samples: default_min_samples(),
            of_samples: default_of_samples(),
            resolve_samples: default_resolve_samples(),
            startup_grace_secs: default_startup_grace_secs(),
            max_alerts_per_hour: default_max_alerts_per_hour(),
        }
    }
}

fn default_fire_score() -> f64 {
    0.7
}
fn default_resolve_score() -> f64 {
    0.3
}
// One sample at or above 0.7 pages: the score is already a time-averaged likelihood (or a value
// beyond everything seen), so N of M mostly delays; raise it for watches that should only page
// on sustained anomalies. Measured on the NAB development set, see ARCHITECTURE.md.
fn default_min_samples() -> u32 {
    1
}
fn default_of_samples() -> u32 {
    1
}
fn default_resolve_samples() -> u32 {
    4
}
fn default_startup_grace_secs() -> u64 {
    120
}
fn default_max_alerts_per_hour() -> u32 {
    4
}

/// `[transforms.detect]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Whether the detectors run.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The node label on alerts; empty means `$NODE_NAME`, then the host name.
    #[serde(default)]
    pub node: String,
    /// The most watched series; more are counted in `nodewatch_agent_anomaly_series_dropped_total`.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// How often the store is checked for new batches.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// The false-positive controls.
    #[serde(default)]
    pub policy: AlertPolicy,
    /// The watched series; when absent, [`default_watches`].
    #[serde(default = "default_watches")]
    pub watch: Vec<WatchConfig>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: default_enabled(),
            node: String::new(),
            max_series: default_max_series(),
            poll_ms: default_poll_ms(),
            policy: AlertPolicy::default(),
            watch: default_watches(),
        }
    }
}

fn default_enabled() -> bool {
    true
}
fn default_max_series() -> usize {
    2000
}
fn default_poll_ms() -> u64 {
    500
}

fn w(
    metric: &str,
    stat: Stat,
    alert: &str,
    severity: &str,
    component: &str,
    detector: DetectorParams,
) -> WatchConfig {
    WatchConfig {
        metric: metric.into(),
        labels: BTreeMap::new(),
        stat,
        alert: alert.into(),
        severity: severity.into(),
        component: component.into(),
        detector,
    }
}

/// The default watch list (the list; names from the metric-name contract).
pub fn default_watches() -> Vec<WatchConfig> {
    use DetectorKind::*;
    let up = |kind| DetectorParams {
        direction: Direction::Up,
        ..DetectorParams::of(kind)
    };
    let down = |kind| DetectorParams {
        direction: Direction::Down,
        ..DetectorParams::of(kind)
    };
    let counter = DetectorParams::of(Counter);
    let lag = DetectorParams {
        threshold: Some(60.0),
        horizon_secs: 900,
        ..up(Rate)
    };
    let spare = DetectorParams {
        threshold: None,
        ..down(Auto)
    };
    let used = DetectorParams {
        threshold: Some(90.0),
        horizon_secs: 30 * 86_400,
        ..up(Rate)
    };
    let sn = "storage-node";
    let lat = "StorageNodeLatencyAnomaly";
    let smart = "DiskSmartDegrading";
    let gpu = "GpuAnomaly";
    let pipe = "PipelineThroughputAnomaly";
    let host = "HostDiskAnomaly";
    let mut v = vec![
        w(
            "storage_node_op_latency_seconds",
            Stat::P99,
            lat,
            "warning",
            sn,
            up(Auto),
        ),
        w(
            "storage_node_op_latency_seconds",
            Stat::Mean,
            lat,
            "warning",
            sn,
            up(Auto),
        ),
        w(
            "storage_node_commit_latency_seconds",
            Stat::Mean,
            lat,
            "warning",
            sn,
            up(Auto),
        ),
        w(
            "storage_node_slow_ops",
            Stat::Value,
            lat,
            "critical",
            sn,
            up(Auto),
        ),
        w(
            "storage_node_replication_lag_seconds",
            Stat::Value,
            "ReplicationLagAnomaly",
            "warning",
            sn,
            lag,
        ),
        w(
            "smartctl_device_media_errors",
            Stat::Value,
            smart,
            "critical",
            "kernel",
            counter,
        ),
        w(
            "smartctl_device_error_log_count",
            Stat::Value,
            smart,
            "warning",
            "kernel",
            counter,
        ),
        w(
            "smartctl_device_critical_warning",
            Stat::Value,
            smart,
            "critical",
            "kernel",
            counter,
        ),
        w(
            "smartctl_device_percentage_used",
            Stat::Value,
            smart,
            "warning",
            "kernel",
            used,
        ),
        w(
            "smartctl_device_available_spare",
            Stat::Value,
            smart,
            "warning",
            "kernel",
            spare,
        ),
        w(
            "DCGM_FI_DEV_GPU_TEMP",
            Stat::Value,
            gpu,
            "warning",
            "nvidia",
            up(Auto),
        ),
        w(
            "DCGM_FI_DEV_XID_ERRORS",
            Stat::Value,
            gpu,
            "critical",
            "nvidia",
            counter,
        ),
        w(
            "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
            Stat::Value,
            gpu,
            "critical",
            "nvidia",
            counter,
        ),
        w(
            "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
            Stat::Value,
            gpu,
            "warning",
            "nvidia",
            counter,
        ),
        w(
            "pipeline_records_processed_total",
            Stat::Rate,
            pipe,
            "warning",
            "pipeline",
            down(Auto),
        ),
        w(
            "pipeline_last_success_timestamp_seconds",
            Stat::Age,
            pipe,
            "warning",
            "pipeline",
            up(Auto),
        ),
        w(
            "nodewatch_pipeline_last_push_timestamp_seconds",
            Stat::Age,
            pipe,
            "warning",
            "pipeline",
            up(Auto),
        ),
        w(
            "node_disk_io_time_weighted_seconds_total",
            Stat::Rate,
            host,
            "warning",
            "kernel",
            up(Auto),
        ),
        w(
            "node_pressure_io_waiting_seconds_total",
            Stat::Rate,
            host,
            "warning",
            "kernel",
            up(Auto),
        ),
    ];
    // SMART counters that must not grow (raw values, smartctl_exporter's labels).
    for attr in [
        "Reallocated_Sector_Ct",
        "Current_Pending_Sector",
        "Offline_Uncorrectable",
        "Reported_Uncorrect",
        "UDMA_CRC_Error_Count",
    ] {
        let mut x = w(
            "smartctl_device_attribute",
            Stat::Value,
            smart,
            "critical",
            "kernel",
            counter,
        );
        x.labels.insert("attribute_name".into(), attr.into());
        x.labels.insert("attribute_value_type".into(), "raw".into());
        v.push(x);
    }
    // Each Ceph OSD's interval mean read/write latency (the ceph source, when it runs).
    v.push(w(
        "nodewatch_ceph_osd_op_latency_seconds",
        Stat::Value,
        "CephOSDLatencyAnomaly",
        "warning",
        "ceph-osd",
        up(Auto),
    ));
    v
}

impl crate::component::Component for DetectConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        for (i, w) in self.watch.iter().enumerate() {
            w.detector
                .check()
                .map_err(|r| ComponentError::new(format!("watch[{i}].detector"), r))?;
        }
        self.policy.validate().map_err(|e| ComponentError {
            key: format!("policy.{}", e.key),
            ..e
        })?;
        if self.poll_ms == 0 {
            return Err(ComponentError::new("poll_ms", "must be at least 1"));
        }
        if self.max_series == 0 {
            return Err(ComponentError::new("max_series", "must be at least 1"));
        }
        Ok(())
    }

    /// Scores every collected source's new batches, and raises alerts into the shared
    /// [`super::AlertBook`] for the `alertmanager` sink (built before) and the API.
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if !self.node.is_empty() {
            ctx.provide(std::sync::Arc::new(crate::component::NodeName(
                self.node.clone(),
            )));
        }
        if !self.enabled {
            return Ok(());
        }
        let (links, stats) = match ctx.get::<AlertOutput>() {
            Some(o) => (o.links.clone(), std::sync::Arc::clone(&o.stats)),
            None => (
                Links::new(&AlertmanagerConfig::default()),
                std::sync::Arc::default(),
            ),
        };
        let engine =
            super::Engine::new(self.clone(), links, ctx.shared::<super::AlertBook>(), stats)
                .with_telemetry(ctx.telemetry());
        let task = super::run(
            engine,
            std::sync::Arc::clone(ctx.store()),
            ctx.source_names(),
            ctx.shutdown(),
        );
        ctx.spawn(task);
        Ok(())
    }
}
