//! `nodewatch_agent_log_pattern*`: the `log_patterns` transform's families. Cardinality is
//! bounded: `group` takes at most `max_groups` values, `pattern` only the `top_k` busiest
//! templates (the rest is in the group's total), `kind` three.

use std::sync::atomic::Ordering;

use super::FamilySource;
use crate::event::{Family, Labels};
use crate::transforms::log_patterns::LogPatterns;

/// The longest template text in `nodewatch_agent_log_pattern_info`.
const INFO_TEMPLATE_MAX: usize = 200;

impl FamilySource for LogPatterns {
    fn families(&self) -> Vec<Family> {
        let g = self.lock();
        let m = &g.miner;
        let cfg = self.config();
        let mut templates = Family::gauge(
            "nodewatch_agent_log_patterns_templates",
            "Log templates known per stream group.",
        );
        let mut created = Family::counter(
            "nodewatch_agent_log_patterns_new_total",
            "Log templates created per stream group (since the group was first seen).",
        );
        let mut group_lines = Family::counter(
            "nodewatch_agent_log_patterns_group_lines_total",
            "Log lines mined per stream group.",
        );
        let mut lines = Family::counter(
            "nodewatch_agent_log_pattern_lines_total",
            "Log lines per template, for the busiest templates only (top_k).",
        );
        let mut info = Family::gauge(
            "nodewatch_agent_log_pattern_info",
            "The template text of the busiest templates (value 1).",
        );
        for (_, gr) in m.groups() {
            let l = Labels::new().with("group", gr.key.to_string());
            templates.push(l.clone(), gr.templates as f64);
            created.push(l.clone(), gr.created as f64);
            group_lines.push(l, gr.lines as f64);
        }
        let mut top: Vec<(u64, u32)> = m
            .slab
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (t.count, i as u32)))
            .collect();
        let k = cfg.top_k.min(top.len());
        if k > 0 && k < top.len() {
            top.select_nth_unstable_by(k - 1, |a, b| b.0.cmp(&a.0));
        }
        top.truncate(k);
        top.sort_by_key(|t| std::cmp::Reverse(t.0));
        for (count, i) in top {
            let Some(t) = m.template(i) else { continue };
            let group = m
                .group(t.group)
                .map_or(String::new(), |g| g.key.to_string());
            let l = Labels::new()
                .with("group", group)
                .with("pattern", t.id_hex());
            lines.push(l.clone(), count as f64);
            let mut text = t.render();
            if text.len() > INFO_TEMPLATE_MAX {
                let mut end = INFO_TEMPLATE_MAX;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
            }
            info.push(l.with("template", text), 1.0);
        }
        let s = m.stats;
        let d = g.detector.stats;
        let mut alerts = Family::counter(
            "nodewatch_agent_log_patterns_alerts_total",
            "Log-pattern alerts raised, by kind (new, surge, disappeared).",
        );
        for (kind, v) in ["new", "surge", "disappeared"].iter().zip(d.fired) {
            alerts.push(Labels::new().with("kind", *kind), v as f64);
        }
        let one = |f: Family, v: f64| f.with(Labels::new(), v);
        vec![
            templates,
            created,
            group_lines,
            lines,
            info,
            alerts,
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_templates_total",
                    "Log templates known in all groups.",
                ),
                m.live() as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_templates_limit",
                    "The bound on log templates in all groups (max_templates).",
                ),
                cfg.max_templates as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_groups",
                    "Stream groups with templates.",
                ),
                m.groups().count() as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_memory_bytes",
                    "Bytes held by log templates, trees and rate scorers.",
                ),
                m.memory_bytes() as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_memory_limit_bytes",
                    "The bound on the miner's memory (max_memory_bytes).",
                ),
                cfg.max_memory_bytes as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_log_patterns_evicted_total",
                    "Log templates evicted (least recently seen) by a bound.",
                ),
                s.evicted as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_log_patterns_lines_truncated_total",
                    "Log lines with more tokens than max_tokens (the rest was not matched).",
                ),
                s.truncated as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_scored_templates",
                    "Log templates whose rate is scored for surges.",
                ),
                d.scored as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_log_patterns_new_alerts_capped_total",
                    "New-pattern alerts held back by the hourly cap.",
                ),
                d.capped as f64,
            ),
            one(
                Family::counter(
                    "nodewatch_agent_log_patterns_persist_failures_total",
                    "Failed saves of the log templates.",
                ),
                self.saves.failures.load(Ordering::Relaxed) as f64,
            ),
            one(
                Family::gauge(
                    "nodewatch_agent_log_patterns_last_persist_timestamp_seconds",
                    "When the log templates were last saved (0: not yet).",
                ),
                self.saves.last_success.load(Ordering::Relaxed) as f64,
            ),
        ]
    }
}
