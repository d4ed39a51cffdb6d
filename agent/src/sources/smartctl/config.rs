//! The smartctl source's configuration.

use std::path::PathBuf;

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, Schedule, in_range};

/// One device to query instead of (or when) scanning.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmartDeviceConfig {
    /// The device path, e.g. `/dev/sda` or `/dev/bus/6`.
    pub name: String,
    /// The `-d` type, e.g. `sat`, `nvme`, `megaraid,14`; unset lets smartctl guess.
    #[serde(default)]
    pub device_type: Option<String>,
}

/// `[sources.smartctl]`: SMART data through `smartctl --json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmartctlConfig {
    /// `true`/`false`; unset means on when `smartctl_path` resolves to an executable.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The smartctl binary (a bare name is looked up on `PATH`).
    #[serde(default = "default_smartctl_path")]
    pub smartctl_path: PathBuf,
    /// Devices to query; empty means `smartctl --scan-open` decides.
    #[serde(default)]
    pub devices: Vec<SmartDeviceConfig>,
    /// Seconds between collections.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one whole collection (scan plus every device) may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long one smartctl run may take before it is killed.
    #[serde(default = "default_device_timeout_ms")]
    pub device_timeout_ms: u64,
    /// How many devices are queried at once.
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// The most devices handled (a scan listing more is cut here, and the cut is logged).
    #[serde(default = "default_max_devices")]
    pub max_devices: usize,
    /// The most bytes read from one smartctl run's output.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: usize,
    /// Whether a disk in standby may be spun up to read it (`false` passes `-n standby`).
    #[serde(default)]
    pub wake_standby: bool,
    /// The most series this source may hand to the store.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

impl Default for SmartctlConfig {
    fn default() -> Self {
        SmartctlConfig {
            enabled: None,
            smartctl_path: default_smartctl_path(),
            devices: Vec::new(),
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            device_timeout_ms: default_device_timeout_ms(),
            max_parallel: default_max_parallel(),
            max_devices: default_max_devices(),
            max_output_bytes: default_max_output_bytes(),
            wake_standby: false,
            max_series: default_max_series(),
        }
    }
}

fn default_smartctl_path() -> PathBuf {
    PathBuf::from("smartctl")
}
fn default_interval_secs() -> u64 {
    60
}
fn default_timeout_ms() -> u64 {
    50_000
}
fn default_device_timeout_ms() -> u64 {
    15_000
}
fn default_max_parallel() -> usize {
    4
}
fn default_max_devices() -> usize {
    256
}
fn default_max_output_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_series() -> usize {
    20_000
}

impl crate::component::Component for SmartctlConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        Schedule::validate(self.interval_secs, self.timeout_ms, self.max_series)?;
        Schedule::validate_part_timeout(
            "device_timeout_ms",
            self.device_timeout_ms,
            self.timeout_ms,
        )?;
        in_range("max_parallel", self.max_parallel, 1..=64)?;
        in_range("max_devices", self.max_devices, 1..=4096)?;
        if self.max_output_bytes < 4096 {
            return Err(ComponentError::new(
                "max_output_bytes",
                "must be at least 4096",
            ));
        }
        for d in &self.devices {
            if d.name.is_empty() || d.name.starts_with('-') {
                return Err(ComponentError::new(
                    "devices",
                    format!("device name {:?} is not a path", d.name),
                ));
            }
            if let Some(t) = &d.device_type
                && (t.is_empty() || t.starts_with('-') || t.contains(char::is_whitespace))
            {
                return Err(ComponentError::new(
                    "devices",
                    format!("device type {t:?} is not a smartctl -d type"),
                ));
            }
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let binary = match (self.enabled, super::resolve_binary(&self.smartctl_path)) {
            (Some(false), _) => return Ok(()),
            (None, None) => {
                tracing::info!(path = %self.smartctl_path.display(), "smartctl not found; SMART source off");
                return Ok(());
            }
            (_, binary) => binary.unwrap_or_else(|| self.smartctl_path.clone()),
        };
        let source = super::SmartctlSource::new(self, binary, std::sync::Arc::clone(ctx.metrics()));
        ctx.add_collected(source, self.interval_secs, self.timeout_ms, self.max_series)
    }
}
