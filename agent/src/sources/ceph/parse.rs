//! `perf dump` / `counter dump` plus their schemas -> families named as ceph-exporter (and the
//! mgr prometheus module) name them: `ceph_<section>_<counter>`, label `ceph_daemon`; counters
//! below the priority limit are left out; a long-running average becomes `_sum` and `_count`.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::event::{Family, Labels, MetricKind};

/// Perf counter type bits (`perfcounter_type_d`).
const TYPE_LONGRUNAVG: u64 = 0x4;
const TYPE_COUNTER: u64 = 0x8;
const TYPE_HISTOGRAM: u64 = 0x10;

/// The most labels a labelled counter group may add.
const MAX_GROUP_LABELS: usize = 8;
/// The longest label value kept from a counter group.
const MAX_LABEL_VALUE: usize = 256;

/// The mgr module's `promethize`: `.`, `/`, whitespace and `::` become `_`, `+` becomes
/// `_plus`, `-` becomes `_` (a trailing one `_minus`).
pub fn promethize(path: &str) -> String {
    let mut r = path.replace("::", "_");
    r = r
        .chars()
        .map(|c| {
            if c == '.' || c == '/' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect();
    r = r.replace('+', "_plus");
    if let Some(head) = r.strip_suffix('-') {
        r = format!("{head}_minus");
    } else {
        r = r.replace('-', "_");
    }
    // Anything else Prometheus does not allow becomes `_` too.
    format!("ceph_{}", crate::event::metric_name_chars(&r))
}

fn label_name(raw: &str) -> String {
    let mut s = crate::event::label_name_chars(raw);
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") {
        s.insert_str(0, "l_");
    }
    s
}

/// One counter's schema.
#[derive(Debug, Clone)]
struct CounterSchema {
    kind: u64,
    metric_type: String,
    description: String,
    priority: i64,
}

fn counter_schema(v: &Json) -> Option<CounterSchema> {
    Some(CounterSchema {
        kind: v.get("type")?.as_u64()?,
        metric_type: v
            .get("metric_type")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        description: v
            .get("description")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        priority: v.get("priority").and_then(Json::as_i64).unwrap_or(0),
    })
}

/// Collects families by name across sections and daemons.
#[derive(Debug, Default)]
pub struct Builder {
    families: BTreeMap<String, Family>,
}

impl Builder {
    fn push(&mut self, name: String, kind: MetricKind, help: &str, labels: Labels, v: f64) {
        self.families
            .entry(name.clone())
            .or_insert_with(|| Family::new(name, help, kind))
            .push(labels, v);
    }

    /// Adds one section's counters (one group of a `counter dump`, or a `perf dump` section).
    fn section(
        &mut self,
        section: &str,
        counters: &Map<String, Json>,
        schema: &Map<String, Json>,
        labels: &Labels,
        prio_limit: i64,
    ) {
        for (name, value) in counters {
            let Some(s) = schema.get(name).and_then(counter_schema) else {
                continue;
            };
            if s.priority < prio_limit || s.kind & TYPE_HISTOGRAM != 0 {
                continue;
            }
            let metric = promethize(&format!("{section}.{name}"));
            if s.kind & TYPE_LONGRUNAVG != 0 {
                let (Some(count), Some(sum)) = (
                    value.get("avgcount").and_then(Json::as_f64),
                    value.get("sum").and_then(Json::as_f64),
                ) else {
                    continue;
                };
                self.push(
                    format!("{metric}_sum"),
                    MetricKind::Counter,
                    &format!("{} Total", s.description),
                    labels.clone(),
                    sum,
                );
                self.push(
                    format!("{metric}_count"),
                    MetricKind::Counter,
                    &format!("{} Count", s.description),
                    labels.clone(),
                    count,
                );
            } else if let Some(v) = value.as_f64() {
                let kind = if s.metric_type == "counter"
                    || (s.metric_type.is_empty() && s.kind & TYPE_COUNTER != 0)
                {
                    MetricKind::Counter
                } else {
                    MetricKind::Gauge
                };
                self.push(metric, kind, &s.description, labels.clone(), v);
            }
        }
    }

    /// Adds a `perf dump` with its `perf schema`.
    pub fn perf_dump(&mut self, daemon: &str, dump: &Json, schema: &Json, prio_limit: i64) {
        let (Some(dump), Some(schema)) = (dump.as_object(), schema.as_object()) else {
            return;
        };
        let labels = Labels::new().with("ceph_daemon", daemon);
        for (section, counters) in dump {
            let (Some(c), Some(s)) = (
                counters.as_object(),
                schema.get(section).and_then(Json::as_object),
            ) else {
                continue;
            };
            self.section(section, c, s, &labels, prio_limit);
        }
    }

    /// Adds a `counter dump` with its `counter schema` (Reef and later: each section is a list
    /// of `{labels, counters}` groups).
    pub fn counter_dump(&mut self, daemon: &str, dump: &Json, schema: &Json, prio_limit: i64) {
        let (Some(dump), Some(schema)) = (dump.as_object(), schema.as_object()) else {
            return;
        };
        for (section, groups) in dump {
            let (Some(groups), Some(sgroups)) = (
                groups.as_array(),
                schema.get(section).and_then(Json::as_array),
            ) else {
                continue;
            };
            // The schema lists every counter once per section; any group's entry will do.
            let Some(s) = sgroups
                .iter()
                .find_map(|g| g.get("counters").and_then(Json::as_object))
            else {
                continue;
            };
            for g in groups {
                let Some(c) = g.get("counters").and_then(Json::as_object) else {
                    continue;
                };
                let mut labels = Labels::new();
                if let Some(l) = g.get("labels").and_then(Json::as_object) {
                    for (k, v) in l.iter().take(MAX_GROUP_LABELS) {
                        let v = v.as_str().unwrap_or_default();
                        let v: String = v.chars().take(MAX_LABEL_VALUE).collect();
                        labels.insert(label_name(k), v);
                    }
                }
                labels.insert("ceph_daemon", daemon);
                self.section(section, c, s, &labels, prio_limit);
            }
        }
    }

    /// The families built so far.
    pub fn finish(self) -> Vec<Family> {
        self.families.into_values().collect()
    }
}

/// Whether a `counter schema` reply is one (older daemons answer an unknown command with an
/// error text, or JSON of another shape).
pub fn is_counter_schema(v: &Json) -> bool {
    v.as_object()
        .is_some_and(|m| !m.is_empty() && m.values().all(Json::is_array))
}
