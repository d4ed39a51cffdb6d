//! [`SmartctlSource`]: scan (or the configured list), query every device in parallel, keep the
//! last good values of each device, and mark them stale when a query is skipped or fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;

use super::config::SmartctlConfig;
use super::error::SmartctlError;
use super::parse::{
    DeviceSpec, device_families, device_label, parse_scan, standby_skipped, version_family,
};
use super::reader::{CommandReader, RawOutput, SmartReader};
use crate::event::{Family, Labels};
use crate::metrics::AgentMetrics;
use crate::sources::{CollectError, Source};

/// The SMART source.
#[derive(Debug)]
pub struct SmartctlSource {
    reader: Arc<dyn SmartReader>,
    configured: Vec<DeviceSpec>,
    max_parallel: usize,
    max_devices: usize,
    wake_standby: bool,
    metrics: Arc<AgentMetrics>,
    last: Mutex<HashMap<DeviceSpec, Vec<Family>>>,
}

impl SmartctlSource {
    /// The real source, running `binary`.
    pub fn new(
        config: &SmartctlConfig,
        binary: PathBuf,
        metrics: Arc<AgentMetrics>,
    ) -> Result<Self, SmartctlError> {
        let reader = CommandReader::new(
            binary,
            Duration::from_millis(config.device_timeout_ms),
            config.max_output_bytes,
        );
        Ok(Self::with_reader(config, Arc::new(reader), metrics))
    }

    /// A source reading through any [`SmartReader`] (tests replay fixtures with it).
    pub fn with_reader(
        config: &SmartctlConfig,
        reader: Arc<dyn SmartReader>,
        metrics: Arc<AgentMetrics>,
    ) -> Self {
        SmartctlSource {
            reader,
            configured: config
                .devices
                .iter()
                .map(|d| DeviceSpec {
                    name: d.name.clone(),
                    device_type: d.device_type.clone(),
                })
                .collect(),
            max_parallel: config.max_parallel.max(1),
            max_devices: config.max_devices.max(1),
            wake_standby: config.wake_standby,
            metrics,
            last: Mutex::new(HashMap::new()),
        }
    }

    async fn devices(&self) -> Result<Vec<DeviceSpec>, SmartctlError> {
        if !self.configured.is_empty() {
            return Ok(self
                .configured
                .iter()
                .take(self.max_devices)
                .cloned()
                .collect());
        }
        let out = self.reader.scan().await?;
        parse_scan(&out.stdout, self.max_devices).inspect_err(|_| {
            self.metrics.inc_parse_errors("smartctl");
        })
    }

    /// The device's fresh families, or `None` when it was skipped (standby) or failed.
    fn judge(&self, spec: &DeviceSpec, r: Result<RawOutput, SmartctlError>) -> Option<Vec<Family>> {
        let raw = match r {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(device = %spec.name, error = %e, "query SMART data");
                return None;
            }
        };
        if standby_skipped(raw.exit_status, &raw.stdout) {
            tracing::debug!(device = %spec.name, "device in standby; not woken, keep last values");
            return None;
        }
        match device_families(spec, raw.exit_status, &raw.stdout) {
            Ok(f) => Some(f),
            Err(e) => {
                if matches!(e, SmartctlError::Json { .. }) {
                    self.metrics.inc_parse_errors("smartctl");
                }
                tracing::warn!(device = %spec.name, error = %e, "read SMART data");
                None
            }
        }
    }
}

fn merge(into: &mut Vec<Family>, more: &[Family]) {
    for f in more {
        match into.iter_mut().find(|g| g.name == f.name) {
            Some(g) => g.metrics.extend(f.metrics.iter().cloned()),
            None => into.push(f.clone()),
        }
    }
}

#[async_trait]
impl Source for SmartctlSource {
    fn name(&self) -> &str {
        "smartctl"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let specs = self.devices().await.map_err(Box::new)?;
        let wake = self.wake_standby;
        let reader = &self.reader;
        let results: Vec<(DeviceSpec, Result<RawOutput, SmartctlError>)> =
            futures::stream::iter(specs.iter().cloned())
                .map(|spec| async move {
                    let r = reader.query(&spec, wake).await;
                    (spec, r)
                })
                .buffer_unordered(self.max_parallel)
                .collect()
                .await;

        let mut out: Vec<Family> = Vec::new();
        let mut stale = Family::gauge(
            "smartctl_device_stale",
            "1 when the device's values are from an earlier run (the disk was in standby or the query failed).",
        );
        let mut version: Option<Family> = None;
        let mut judged = Vec::with_capacity(results.len());
        for (spec, r) in results {
            if version.is_none()
                && let Ok(raw) = &r
            {
                version = version_family(&raw.stdout);
            }
            let fams = self.judge(&spec, r);
            judged.push((spec, fams));
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // Forget devices that are gone, so the cache stays bounded by what is present.
        last.retain(|k, _| specs.contains(k));
        for (spec, fams) in judged {
            let label = Labels::new().with("device", device_label(&spec));
            match fams {
                Some(f) => {
                    merge(&mut out, &f);
                    last.insert(spec, f);
                    stale.push(label, 0.0);
                }
                None => {
                    if let Some(f) = last.get(&spec) {
                        merge(&mut out, f);
                    }
                    stale.push(label, 1.0);
                }
            }
        }
        drop(last);
        out.push(stale);
        out.extend(version);
        Ok(out)
    }
}
