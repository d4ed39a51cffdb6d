//! `[transforms.log_patterns]`.

use serde::Deserialize;

/// Template mining and log-pattern alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPatternsConfig {
    /// Whether lines are mined (and carry the `pattern` structured metadata).
    #[serde(default)]
    pub enabled: bool,
    /// The stream labels whose values form a stream group; templates are learned per group.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// The structured-metadata key of the template id.
    #[serde(default = "default_metadata_key")]
    pub metadata_key: String,
    /// Parse-tree depth (Drain's `depth`: root, the length level, `depth - 3` token levels,
    /// leaves).
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// The least share of equal tokens for a line to join a template.
    #[serde(default = "default_similarity")]
    pub similarity: f64,
    /// The most children of a tree node; more tokens go to the `<*>` child.
    #[serde(default = "default_max_children")]
    pub max_children: usize,
    /// Tokens of a line that are matched; the rest are ignored (counted).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// The most templates per stream group (least recently seen evicted first).
    #[serde(default = "default_max_templates_per_group")]
    pub max_templates_per_group: usize,
    /// The most templates in all (least recently seen evicted first).
    #[serde(default = "default_max_templates")]
    pub max_templates: usize,
    /// The most stream groups (the least recently seen is forgotten whole).
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// The bound of the miner's memory (templates, examples, tree, scorers), in bytes.
    #[serde(default = "default_max_memory_bytes")]
    pub max_memory_bytes: usize,
    /// Example lines are cut to this many bytes.
    #[serde(default = "default_example_max_bytes")]
    pub example_max_bytes: usize,
    /// Templates with their own `lines_total` series (the rest only in the group total).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Whether templates are saved under `<data_dir>/log_patterns/`.
    #[serde(default = "default_true")]
    pub persist: bool,
    /// What raises alerts.
    #[serde(default)]
    pub alerts: PatternAlertsConfig,
}

/// `[transforms.log_patterns.alerts]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternAlertsConfig {
    /// A group's templates are learned silently for this long after its first line.
    #[serde(default = "default_learning_secs")]
    pub learning_secs: u64,
    /// A new template alerts when its line states one of these levels...
    #[serde(default = "default_levels")]
    pub levels: Vec<String>,
    /// ...or contains one of these words (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A new-pattern alert resolves after this long.
    #[serde(default = "default_new_resolve_secs")]
    pub new_resolve_secs: u64,
    /// The most new-pattern alerts per hour (a flood of new templates is one incident).
    #[serde(default = "default_max_new_per_hour")]
    pub max_new_per_hour: u32,
    /// The rate interval: template rates are scored once per interval.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Whether surges alert.
    #[serde(default = "default_true")]
    pub surge: bool,
    /// Intervals a template's rate is learned before it can surge.
    #[serde(default = "default_warmup_intervals")]
    pub warmup_intervals: u64,
    /// The score (0..1) at which an interval counts as surging.
    #[serde(default = "default_surge_score")]
    pub surge_score: f64,
    /// A surge also needs the rate at least this many times its baseline...
    #[serde(default = "default_surge_ratio")]
    pub surge_ratio: f64,
    /// ...and at least this many lines per second.
    #[serde(default = "default_surge_min_rate")]
    pub surge_min_rate: f64,
    /// Surging intervals in a row before the alert fires.
    #[serde(default = "default_surge_for_intervals")]
    pub surge_for_intervals: u32,
    /// Calm intervals in a row before a surge resolves.
    #[serde(default = "default_resolve_intervals")]
    pub resolve_intervals: u32,
    /// The most templates with a rate scorer (the busiest are scored).
    #[serde(default = "default_max_scored")]
    pub max_scored: usize,
    /// Whether a steady template going silent alerts (off by default).
    #[serde(default)]
    pub disappearance: bool,
    /// Silence after which a steady template counts as gone.
    #[serde(default = "default_disappear_after_secs")]
    pub disappear_after_secs: u64,
    /// The baseline rate (lines/s) a template needs to count as steady.
    #[serde(default = "default_disappear_min_rate")]
    pub disappear_min_rate: f64,
    /// The `severity` label of the alerts.
    #[serde(default = "default_severity")]
    pub severity: String,
}

impl Default for LogPatternsConfig {
    fn default() -> Self {
        LogPatternsConfig {
            enabled: false,
            group_by: default_group_by(),
            metadata_key: default_metadata_key(),
            depth: default_depth(),
            similarity: default_similarity(),
            max_children: default_max_children(),
            max_tokens: default_max_tokens(),
            max_templates_per_group: default_max_templates_per_group(),
            max_templates: default_max_templates(),
            max_groups: default_max_groups(),
            max_memory_bytes: default_max_memory_bytes(),
            example_max_bytes: default_example_max_bytes(),
            top_k: default_top_k(),
            persist: true,
            alerts: PatternAlertsConfig::default(),
        }
    }
}

impl Default for PatternAlertsConfig {
    fn default() -> Self {
        PatternAlertsConfig {
            learning_secs: default_learning_secs(),
            levels: default_levels(),
            keywords: Vec::new(),
            new_resolve_secs: default_new_resolve_secs(),
            max_new_per_hour: default_max_new_per_hour(),
            interval_secs: default_interval_secs(),
            surge: true,
            warmup_intervals: default_warmup_intervals(),
            surge_score: default_surge_score(),
            surge_ratio: default_surge_ratio(),
            surge_min_rate: default_surge_min_rate(),
            surge_for_intervals: default_surge_for_intervals(),
            resolve_intervals: default_resolve_intervals(),
            max_scored: default_max_scored(),
            disappearance: false,
            disappear_after_secs: default_disappear_after_secs(),
            disappear_min_rate: default_disappear_min_rate(),
            severity: default_severity(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_group_by() -> Vec<String> {
    ["namespace", "container", "filename"]
        .map(String::from)
        .to_vec()
}
fn default_metadata_key() -> String {
    "pattern".into()
}
fn default_depth() -> usize {
    4
}
fn default_similarity() -> f64 {
    0.5
}
fn default_max_children() -> usize {
    100
}
fn default_max_tokens() -> usize {
    128
}
fn default_max_templates_per_group() -> usize {
    2_000
}
fn default_max_templates() -> usize {
    10_000
}
fn default_max_groups() -> usize {
    256
}
fn default_max_memory_bytes() -> usize {
    32 << 20
}
fn default_example_max_bytes() -> usize {
    256
}
fn default_top_k() -> usize {
    20
}
fn default_learning_secs() -> u64 {
    600
}
fn default_levels() -> Vec<String> {
    ["error", "warn", "fatal"].map(String::from).to_vec()
}
fn default_new_resolve_secs() -> u64 {
    3_600
}
fn default_max_new_per_hour() -> u32 {
    20
}
fn default_interval_secs() -> u64 {
    60
}
fn default_warmup_intervals() -> u64 {
    30
}
fn default_surge_score() -> f64 {
    0.9
}
fn default_surge_ratio() -> f64 {
    5.0
}
fn default_surge_min_rate() -> f64 {
    1.0
}
fn default_surge_for_intervals() -> u32 {
    2
}
fn default_resolve_intervals() -> u32 {
    3
}
fn default_max_scored() -> usize {
    1_000
}
fn default_disappear_after_secs() -> u64 {
    1_800
}
fn default_disappear_min_rate() -> f64 {
    0.1
}
fn default_severity() -> String {
    "warning".into()
}

impl LogPatternsConfig {
    /// What is out of range, if anything (`check-config`).
    pub fn check(&self) -> Result<(), String> {
        if !(3..=8).contains(&self.depth) {
            return Err(format!("depth {} is outside 3..=8", self.depth));
        }
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err("similarity must be in (0, 1]".into());
        }
        for (name, v) in [
            ("max_children", self.max_children),
            ("max_tokens", self.max_tokens),
            ("max_templates_per_group", self.max_templates_per_group),
            ("max_templates", self.max_templates),
            ("max_groups", self.max_groups),
        ] {
            if v == 0 {
                return Err(format!("{name} must be above 0"));
            }
        }
        if self.max_tokens > 4096 {
            return Err("max_tokens must be at most 4096".into());
        }
        if self.max_memory_bytes < 1 << 20 {
            return Err("max_memory_bytes must be at least 1 MiB".into());
        }
        if self.top_k > 200 {
            return Err("top_k must be at most 200".into());
        }
        if self.metadata_key.is_empty()
            || !self
                .metadata_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err("metadata_key must be letters, digits and _".into());
        }
        let a = &self.alerts;
        if a.interval_secs == 0 {
            return Err("alerts.interval_secs must be above 0".into());
        }
        if !(a.surge_score > 0.0 && a.surge_score <= 1.0) {
            return Err("alerts.surge_score must be in (0, 1]".into());
        }
        if !(a.surge_ratio.is_finite() && a.surge_ratio >= 1.0) {
            return Err("alerts.surge_ratio must be 1 or above".into());
        }
        for l in &a.levels {
            if !["trace", "debug", "info", "warn", "error", "fatal"].contains(&l.as_str()) {
                return Err(format!(
                    "alerts.levels: {l:?} is not one of trace, debug, info, warn, error, fatal"
                ));
            }
        }
        Ok(())
    }
}

impl crate::component::Component for LogPatternsConfig {
    fn validate(&self) -> Result<(), crate::component::ComponentError> {
        self.check()
            .map_err(crate::component::ComponentError::whole)
    }

    /// When on and a log source exists: loads the templates, adds the transform's families,
    /// spawns its rate-interval task and provides it to the `loki` sink (built after).
    fn build(
        &self,
        ctx: &mut crate::component::BuildContext,
    ) -> Result<(), crate::component::ComponentError> {
        use std::sync::Arc;
        let no_logs = ctx
            .shared::<crate::sources::tail::LogSources>()
            .list()
            .is_empty();
        if !self.enabled || no_logs {
            return Ok(());
        }
        let links = match ctx.get::<crate::sinks::alertmanager::AlertOutput>() {
            Some(o) => o.links.clone(),
            None => crate::sinks::alertmanager::Links::new(
                &crate::sinks::alertmanager::AlertmanagerConfig::default(),
            ),
        };
        let node = match ctx.get::<crate::component::NodeName>() {
            Some(n) => n.0.clone(),
            None => crate::sources::kubernetes_pods::node_name(None),
        };
        let alerts = ctx.shared::<crate::transforms::detect::AlertBook>();
        let p = super::LogPatterns::open(self.clone(), Some(ctx.data_dir()), links, node, alerts);
        p.set_telemetry(ctx.telemetry());
        ctx.metrics().add_family_source(Arc::clone(&p) as _);
        let shutdown = ctx.shutdown();
        ctx.spawn(Arc::clone(&p).run(shutdown));
        ctx.provide(p);
        Ok(())
    }
}
