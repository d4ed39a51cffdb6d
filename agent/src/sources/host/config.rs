//! The host source's configuration.

use std::path::PathBuf;

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, Schedule};

/// One host sub-collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum HostCollector {
    /// `node_cpu_seconds_total`, `node_cpu_guest_seconds_total`.
    Cpu,
    /// `node_memory_*`.
    Meminfo,
    /// `node_load1/5/15`.
    Loadavg,
    /// `node_disk_*`.
    Diskstats,
    /// `node_filesystem_*`.
    Filesystem,
    /// `node_network_*`.
    Netdev,
    /// `node_pressure_*`.
    Pressure,
    /// `node_boot_time_seconds`, `node_context_switches_total`, `node_forks_total`, ...
    Stat,
    /// `node_time_seconds`, time zone and clock sources.
    Time,
    /// `node_uname_info`.
    Uname,
}

impl HostCollector {
    /// Every sub-collector.
    pub const ALL: [HostCollector; 10] = [
        HostCollector::Cpu,
        HostCollector::Diskstats,
        HostCollector::Filesystem,
        HostCollector::Loadavg,
        HostCollector::Meminfo,
        HostCollector::Netdev,
        HostCollector::Pressure,
        HostCollector::Stat,
        HostCollector::Time,
        HostCollector::Uname,
    ];

    /// The `collector` label value (node_exporter's collector name).
    pub fn name(self) -> &'static str {
        match self {
            HostCollector::Cpu => "cpu",
            HostCollector::Meminfo => "meminfo",
            HostCollector::Loadavg => "loadavg",
            HostCollector::Diskstats => "diskstats",
            HostCollector::Filesystem => "filesystem",
            HostCollector::Netdev => "netdev",
            HostCollector::Pressure => "pressure",
            HostCollector::Stat => "stat",
            HostCollector::Time => "time",
            HostCollector::Uname => "uname",
        }
    }
}

/// `[sources.host]`: node_exporter's core collectors.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Whether the host source runs.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds between collections.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one collection may take before it is abandoned.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most series this source may hand to the store; the rest are dropped and counted.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// Which sub-collectors run.
    #[serde(default = "default_collectors")]
    pub collectors: Vec<HostCollector>,
    /// Where procfs is mounted (a host path inside a container, e.g. `/host/proc`).
    #[serde(default = "default_procfs_path")]
    pub procfs_path: PathBuf,
    /// Where sysfs is mounted.
    #[serde(default = "default_sysfs_path")]
    pub sysfs_path: PathBuf,
    /// Where udev keeps its device database (for `node_disk_info`).
    #[serde(default = "default_udev_data_path")]
    pub udev_data_path: PathBuf,
    /// Path prefix stripped from mount points when the host's root is mounted elsewhere.
    #[serde(default = "default_rootfs_path")]
    pub rootfs_path: PathBuf,
    /// How long one `statfs` may take before the mount is reported with `device_error` 1.
    #[serde(default = "default_filesystem_mount_timeout_ms")]
    pub filesystem_mount_timeout_ms: u64,
    /// Mount points to skip (a regular expression; node_exporter 1.5's default).
    #[serde(default = "default_filesystem_mount_points_exclude")]
    pub filesystem_mount_points_exclude: String,
    /// Filesystem types to skip (a regular expression; node_exporter 1.5's default).
    #[serde(default = "default_filesystem_fs_types_exclude")]
    pub filesystem_fs_types_exclude: String,
    /// Block devices to skip in diskstats (a regular expression; node_exporter's default).
    #[serde(default = "default_diskstats_device_exclude")]
    pub diskstats_device_exclude: String,
    /// Network devices to skip (a regular expression; node_exporter's default).
    #[serde(default = "default_netdev_device_exclude")]
    pub netdev_device_exclude: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            enabled: default_enabled(),
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            max_series: default_max_series(),
            collectors: default_collectors(),
            procfs_path: default_procfs_path(),
            sysfs_path: default_sysfs_path(),
            udev_data_path: default_udev_data_path(),
            rootfs_path: default_rootfs_path(),
            filesystem_mount_timeout_ms: default_filesystem_mount_timeout_ms(),
            filesystem_mount_points_exclude: default_filesystem_mount_points_exclude(),
            filesystem_fs_types_exclude: default_filesystem_fs_types_exclude(),
            diskstats_device_exclude: default_diskstats_device_exclude(),
            netdev_device_exclude: default_netdev_device_exclude(),
        }
    }
}

fn default_enabled() -> bool {
    true
}
fn default_interval_secs() -> u64 {
    15
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_series() -> usize {
    50_000
}
fn default_collectors() -> Vec<HostCollector> {
    HostCollector::ALL.to_vec()
}
fn default_procfs_path() -> PathBuf {
    PathBuf::from("/proc")
}
fn default_sysfs_path() -> PathBuf {
    PathBuf::from("/sys")
}
fn default_udev_data_path() -> PathBuf {
    PathBuf::from("/run/udev/data")
}
fn default_rootfs_path() -> PathBuf {
    PathBuf::from("/")
}
fn default_filesystem_mount_timeout_ms() -> u64 {
    5_000
}
fn default_filesystem_mount_points_exclude() -> String {
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
        .to_string()
}
fn default_filesystem_fs_types_exclude() -> String {
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
        .to_string()
}
fn default_diskstats_device_exclude() -> String {
    r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$".to_string()
}
fn default_netdev_device_exclude() -> String {
    "^lo$".to_string()
}

impl crate::component::Component for HostConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        Schedule::validate(self.interval_secs, self.timeout_ms, self.max_series)?;
        for (key, pattern) in [
            (
                "filesystem_mount_points_exclude",
                &self.filesystem_mount_points_exclude,
            ),
            (
                "filesystem_fs_types_exclude",
                &self.filesystem_fs_types_exclude,
            ),
            ("diskstats_device_exclude", &self.diskstats_device_exclude),
            ("netdev_device_exclude", &self.netdev_device_exclude),
        ] {
            if let Err(e) = regex::Regex::new(pattern) {
                return Err(ComponentError::new(
                    key,
                    format!("not a regular expression: {e}"),
                ));
            }
        }
        if self.filesystem_mount_timeout_ms == 0 {
            return Err(ComponentError::new(
                "filesystem_mount_timeout_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if !self.enabled {
            return Ok(());
        }
        let source = super::HostSource::with_metrics(self, std::sync::Arc::clone(ctx.metrics()));
        ctx.add_collected(source, self.interval_secs, self.timeout_ms, self.max_series)
    }
}
