//! The one contract every source, transform and sink implements.
//!
//! Each component lives in `sources/<name>/`, `transforms/<name>/` or `sinks/<name>/`, and its
//! `config.rs` holds the config type (the component's TOML table) implementing [`Component`]:
//! [`Component::validate`] checks what the types cannot and names the offending key, and
//! [`Component::build`] turns the config into running parts through a [`BuildContext`], which
//! hands out the shared infrastructure: the store, the one disk queue ([`crate::buffer`]), the one
//! HTTP client builder ([`crate::http_client`]), and a [`ComponentTelemetry`] handle with the
//! `component_*` counters every component reports.
//!
//! The registry ([`registry`]) lists every component in one line each, in its kind's folder; the
//! topology ([`crate::topology`]) only walks it and calls `build`.

mod context;
pub mod registry;
mod schedule;
mod source;

use std::fmt;

pub use context::{BuildContext, Built, NodeName, Shutdown, StopFn};
pub use registry::Registered;
pub(crate) use registry::registry;
pub use schedule::{Schedule, Ticker};
pub use source::{CollectError, Source};

pub use crate::metrics::ComponentTelemetry;

/// What a component does with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// Produces data (collected metrics, pushed metrics, log lines).
    Source,
    /// Turns data into other data (anomaly scores, parsed lines).
    Transform,
    /// Sends data out (`/metrics`, remote_write, Loki, Alertmanager).
    Sink,
}

impl ComponentKind {
    /// The `component_kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Sink => "sink",
        }
    }

    /// The config table the kind's components live under.
    pub fn table(self) -> &'static str {
        match self {
            ComponentKind::Source => "sources",
            ComponentKind::Transform => "transforms",
            ComponentKind::Sink => "sinks",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a component's config is refused or cannot be built: the key (relative to the component's
/// table, e.g. `interval_secs`; empty for the table as a whole) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ComponentError {
    /// The key under the component's table.
    pub key: String,
    /// Why.
    pub reason: String,
}

impl ComponentError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ComponentError {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// An error about the component as a whole (a build failure with no one key to blame).
    pub fn whole(reason: impl fmt::Display) -> Self {
        ComponentError::new("", reason.to_string())
    }
}

/// The contract: a component's config validates itself and builds itself.
pub trait Component: Send + Sync + fmt::Debug {
    /// Checks the values the types cannot (ranges, URLs, patterns). Never touches the disk or
    /// the network: `check-config` calls it too.
    fn validate(&self) -> Result<(), ComponentError>;

    /// Adds the component's running parts to `ctx`. Called once, on a validated config; a
    /// component that is switched off adds nothing.
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError>;

    /// Whether a sink is built before the transforms, because a transform takes its handle
    /// (`alertmanager`: `detect` and `log_patterns` raise alerts into it). Other sinks are built
    /// after the transforms, so they find the transforms on their path.
    fn before_transforms(&self) -> bool {
        false
    }
}

/// A check for a value that must lie in `range`: `Err` names `key`.
pub fn in_range<T: PartialOrd + fmt::Display>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ComponentError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ComponentError::new(
            key,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests;
