//! [`HostSource`]: runs the enabled sub-collectors on a blocking thread and reports each one in
//! `node_scrape_collector_success{collector}` / `node_scrape_collector_duration_seconds`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use regex::Regex;

use super::config::{HostCollector, HostConfig};
use super::error::{HostError, MAX_PROC_FILE_BYTES, parse_err, read_bounded};
use super::filesystem::{FsFilter, StatFs, SysStatFs};
use super::{cpu, diskstats, filesystem, meminfo, netdev, pressure, simple};
use crate::event::{Family, Labels};
use crate::metrics::AgentMetrics;
use crate::sources::{CollectError, Source};

/// The host source, built from [`HostConfig`].
#[derive(Debug)]
pub struct HostSource {
    inner: Arc<Inner>,
}

struct Inner {
    collectors: Vec<HostCollector>,
    procfs: PathBuf,
    sysfs: PathBuf,
    udev_data: PathBuf,
    fs_filter: FsFilter,
    mount_timeout: Duration,
    diskstats_exclude: Regex,
    netdev_exclude: Regex,
    statfs: Arc<dyn StatFs>,
    stuck_mounts: Arc<Mutex<HashSet<PathBuf>>>,
    busy: AtomicBool,
    /// Where unparsable `/proc` content is counted (`nodewatch_agent_parse_errors_total`).
    metrics: Option<Arc<AgentMetrics>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSource")
            .field("collectors", &self.collectors)
            .field("procfs", &self.procfs)
            .field("sysfs", &self.sysfs)
            .finish_non_exhaustive()
    }
}

fn compile(option: &'static str, pattern: &str) -> Result<Regex, HostError> {
    Regex::new(pattern).map_err(|source| HostError::Pattern { option, source })
}

impl HostSource {
    /// Validates the config and builds the source.
    pub fn new(config: &HostConfig) -> Result<Self, HostError> {
        Self::with_statfs(config, Arc::new(SysStatFs), None)
    }

    /// As [`HostSource::new`], counting unparsable `/proc` content in the agent's
    /// `nodewatch_agent_parse_errors_total{source="host"}`.
    pub fn with_metrics(
        config: &HostConfig,
        metrics: Arc<AgentMetrics>,
    ) -> Result<Self, HostError> {
        Self::with_statfs(config, Arc::new(SysStatFs), Some(metrics))
    }

    pub(crate) fn with_statfs(
        config: &HostConfig,
        statfs: Arc<dyn StatFs>,
        metrics: Option<Arc<AgentMetrics>>,
    ) -> Result<Self, HostError> {
        let mut collectors = config.collectors.clone();
        collectors.sort();
        collectors.dedup();
        Ok(HostSource {
            inner: Arc::new(Inner {
                collectors,
                procfs: config.procfs_path.clone(),
                sysfs: config.sysfs_path.clone(),
                udev_data: config.udev_data_path.clone(),
                fs_filter: FsFilter {
                    mount_points_exclude: compile(
                        "filesystem_mount_points_exclude",
                        &config.filesystem_mount_points_exclude,
                    )?,
                    fs_types_exclude: compile(
                        "filesystem_fs_types_exclude",
                        &config.filesystem_fs_types_exclude,
                    )?,
                    rootfs: config.rootfs_path.clone(),
                },
                mount_timeout: Duration::from_millis(config.filesystem_mount_timeout_ms),
                diskstats_exclude: compile(
                    "diskstats_device_exclude",
                    &config.diskstats_device_exclude,
                )?,
                netdev_exclude: compile("netdev_device_exclude", &config.netdev_device_exclude)?,
                statfs,
                stuck_mounts: Arc::new(Mutex::new(HashSet::new())),
                busy: AtomicBool::new(false),
                metrics,
            }),
        })
    }

    /// One synchronous collection (what the blocking thread runs).
    pub fn collect_blocking(&self) -> Vec<Family> {
        self.inner.collect_all()
    }
}

impl Inner {
    fn collect_all(&self) -> Vec<Family> {
        let mut out = Vec::new();
        let mut success = Family::gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        let mut duration = Family::gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
        );
        // /proc/stat feeds both `cpu` and `stat`; read it once.
        let mut stat_cache: Option<Result<cpu::ProcStat, String>> = None;
        for &c in &self.collectors {
            let start = Instant::now();
            let result = self.collect_one(c, &mut stat_cache);
            let elapsed = start.elapsed().as_secs_f64();
            let l = Labels::new().with("collector", c.name());
            duration.push(l.clone(), elapsed);
            match result {
                Ok(fams) => {
                    success.push(l, 1.0);
                    out.extend(fams);
                }
                Err(e) => {
                    tracing::warn!(collector = c.name(), error = %e, "host collector failed");
                    if matches!(e, HostError::Parse { .. }) {
                        self.count_parse_errors(1);
                    }
                    success.push(l, 0.0);
                }
            }
        }
        out.push(duration);
        out.push(success);
        out
    }

    fn collect_one(
        &self,
        c: HostCollector,
        stat_cache: &mut Option<Result<cpu::ProcStat, String>>,
    ) -> Result<Vec<Family>, HostError> {
        let stat_path = self.procfs.join("stat");
        let mut stat = || -> Result<cpu::ProcStat, HostError> {
            let r = stat_cache
                .get_or_insert_with(|| cpu::read_stat(&self.procfs).map_err(|e| e.to_string()));
            r.clone().map_err(|reason| parse_err(&stat_path, reason))
        };
        match c {
            HostCollector::Cpu => {
                let s = stat()?;
                let tps = procfs::ticks_per_second() as f64;
                let tps = if tps > 0.0 { tps } else { 100.0 };
                let mut f = cpu::cpu_families(&s, tps);
                f.extend(cpu::throttle_families(&self.sysfs));
                Ok(f)
            }
            HostCollector::Stat => Ok(cpu::stat_families(&stat()?)),
            HostCollector::Meminfo => {
                let path = self.procfs.join("meminfo");
                let text = read_bounded(&path, MAX_PROC_FILE_BYTES)?;
                let pairs = meminfo::parse_meminfo(&text).map_err(|r| parse_err(&path, r))?;
                Ok(meminfo::meminfo_families(pairs))
            }
            HostCollector::Loadavg => simple::loadavg_families(&self.procfs),
            HostCollector::Diskstats => {
                let path = self.procfs.join("diskstats");
                let text = read_bounded(&path, MAX_PROC_FILE_BYTES)?;
                let (disks, bad) = diskstats::parse_diskstats(&text);
                if bad > 0 {
                    tracing::warn!(lines = bad, "skip unparsable /proc/diskstats lines");
                    self.count_parse_errors(bad);
                }
                Ok(diskstats::diskstats_families(
                    &disks,
                    &self.diskstats_exclude,
                    &self.udev_data,
                ))
            }
            HostCollector::Filesystem => Ok(self.filesystem()),
            HostCollector::Netdev => {
                let path = self.procfs.join("net/dev");
                let text = read_bounded(&path, MAX_PROC_FILE_BYTES)?;
                let devs = netdev::parse_net_dev(&text).map_err(|r| parse_err(&path, r))?;
                Ok(netdev::netdev_families(
                    &devs,
                    &self.netdev_exclude,
                    &self.sysfs,
                ))
            }
            HostCollector::Pressure => pressure::pressure_families(&self.procfs),
            HostCollector::Time => Ok(simple::time_families(&self.sysfs)),
            HostCollector::Uname => Ok(simple::uname_families()),
        }
    }

    fn count_parse_errors(&self, n: usize) {
        if let Some(m) = &self.metrics {
            for _ in 0..n {
                m.inc_parse_errors("host");
            }
        }
    }

    fn filesystem(&self) -> Vec<Family> {
        let primary = self.procfs.join("1/mounts");
        let text = read_bounded(&primary, MAX_PROC_FILE_BYTES)
            .or_else(|_| read_bounded(&self.procfs.join("mounts"), MAX_PROC_FILE_BYTES))
            .unwrap_or_default();
        let mounts = filesystem::select_mounts(filesystem::parse_mounts(&text), &self.fs_filter);
        let paths: Vec<PathBuf> = mounts
            .iter()
            .map(|m| rooted(&self.fs_filter.rootfs, &m.mount_point))
            .collect();
        let outcomes = filesystem::stat_all(
            Arc::clone(&self.statfs),
            &paths,
            self.mount_timeout,
            &self.stuck_mounts,
        );
        filesystem::filesystem_families(&mounts, &outcomes)
    }
}

fn rooted(rootfs: &Path, mount_point: &str) -> PathBuf {
    rootfs.join(mount_point.trim_start_matches('/'))
}

/// Clears the busy flag when the blocking collection ends, however it ends.
struct BusyGuard(Arc<Inner>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

#[async_trait]
impl Source for HostSource {
    fn name(&self) -> &str {
        "host"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        if self.inner.busy.swap(true, Ordering::AcqRel) {
            return Err(Box::new(HostError::Busy));
        }
        let guard = BusyGuard(Arc::clone(&self.inner));
        let inner = Arc::clone(&self.inner);
        let handle = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            inner.collect_all()
        });
        handle
            .await
            .map_err(|e| Box::new(HostError::Join(e.to_string())) as CollectError)
    }
}
