//! The smartctl source: SMART health through `smartctl --json`, exposed with
//! smartctl_exporter's metric names (`smartctl_device`, `smartctl_device_attribute`,
//! `smartctl_device_media_errors`, ...), fixing its known pains:
//!
//! - disks in standby are not woken (`-n standby`); their last values are kept and
//!   `smartctl_device_stale` says so;
//! - devices are queried in parallel (bounded), each run under its own timeout;
//! - a failed or unparsable query keeps the device's last values (stale) instead of dropping them;
//! - `megaraid,N`/`cciss,N` types from `--scan-open` are passed back with `-d`.
//!
//! All smartctl runs go through the [`SmartReader`] trait, so tests replay captured JSON.

mod config;
mod error;
mod parse;
mod reader;
mod source;

pub use config::{SmartDeviceConfig, SmartctlConfig};
pub use error::SmartctlError;
pub use parse::{DeviceSpec, device_families, device_label, parse_scan, standby_skipped};
pub use reader::{CommandReader, RawOutput, SmartReader, resolve_binary};
pub use source::SmartctlSource;

#[cfg(test)]
mod tests;
