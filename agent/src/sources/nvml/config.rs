//! The nvml source's configuration.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, Schedule, in_range};

/// `enabled`: `true`, `false` or `"auto"` (on when NVML loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enabled {
    /// On when the NVML library loads and sees a GPU; otherwise a quiet "not present".
    #[default]
    Auto,
    /// Always on: a missing library is a collection error.
    On,
    /// Off.
    Off,
}

impl<'de> Deserialize<'de> for Enabled {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Enabled;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Enabled, E> {
                Ok(if v { Enabled::On } else { Enabled::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Enabled, E> {
                match v {
                    "auto" => Ok(Enabled::Auto),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `[sources.nvml]`: GPU metrics through NVML, with dcgm-exporter's names.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NvmlConfig {
    /// `true`, `false` or `"auto"` (the default: on when NVML loads).
    #[serde(default)]
    pub enabled: Enabled,
    /// The NVML library to load; unset means the loader's search (`libnvidia-ml.so.1`).
    #[serde(default)]
    pub library_path: Option<PathBuf>,
    /// Seconds between collections.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one collection may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Seconds between attempts to load NVML again while it is not present (a driver installed
    /// after the agent started is picked up).
    #[serde(default = "default_retry_load_secs")]
    pub retry_load_secs: u64,
    /// The `Hostname` label; unset means `$NODE_NAME`, else the kernel's host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Whether GPU processes are attributed to Kubernetes pods.
    #[serde(default = "default_true")]
    pub pod_attribution: bool,
    /// Where `/proc` is (the host's, when the agent runs in a container with it mounted).
    #[serde(default = "default_proc_root")]
    pub proc_root: PathBuf,
    /// The kubelet's pod log directories (`<ns>_<pod>_<uid>/<container>/`).
    #[serde(default = "default_pod_logs_root")]
    pub pod_logs_root: PathBuf,
    /// The kubelet's container log links (`<pod>_<ns>_<container>-<id>.log`), used to tell the
    /// containers of one pod apart.
    #[serde(default = "default_container_logs_root")]
    pub container_logs_root: PathBuf,
    /// The most GPU processes attributed per collection.
    #[serde(default = "default_max_processes")]
    pub max_processes: usize,
    /// The most series this source may hand to the store.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

impl Default for NvmlConfig {
    fn default() -> Self {
        NvmlConfig {
            enabled: Enabled::Auto,
            library_path: None,
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            retry_load_secs: default_retry_load_secs(),
            hostname: None,
            pod_attribution: true,
            proc_root: default_proc_root(),
            pod_logs_root: default_pod_logs_root(),
            container_logs_root: default_container_logs_root(),
            max_processes: default_max_processes(),
            max_series: default_max_series(),
        }
    }
}

fn default_interval_secs() -> u64 {
    15
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_retry_load_secs() -> u64 {
    300
}
fn default_true() -> bool {
    true
}
fn default_proc_root() -> PathBuf {
    PathBuf::from("/proc")
}
fn default_pod_logs_root() -> PathBuf {
    PathBuf::from("/var/log/pods")
}
fn default_container_logs_root() -> PathBuf {
    PathBuf::from("/var/log/containers")
}
fn default_max_processes() -> usize {
    4096
}
fn default_max_series() -> usize {
    10_000
}

impl crate::component::Component for NvmlConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        Schedule::validate(self.interval_secs, self.timeout_ms, self.max_series)?;
        in_range("max_processes", self.max_processes, 1..=100_000)?;
        if self.hostname.as_deref().is_some_and(str::is_empty) {
            return Err(ComponentError::new("hostname", "must not be empty"));
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if self.enabled == Enabled::Off {
            return Ok(());
        }
        let source = super::NvmlSource::new(self);
        // Load now, so "not present" is logged once at start-up; collections retry later.
        let _ = source.try_load();
        let source = Ok::<_, std::convert::Infallible>(source);
        ctx.add_collected(source, self.interval_secs, self.timeout_ms, self.max_series)
    }
}
