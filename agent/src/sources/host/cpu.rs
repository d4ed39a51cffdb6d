//! `/proc/stat`: the `cpu` collector (`node_cpu_*`) and the `stat` collector (`node_boot_time_seconds`,
//! `node_context_switches_total`, `node_forks_total`, `node_intr_total`, `node_procs_*`).

use std::path::Path;

use super::error::{HostError, MAX_PROC_FILE_BYTES, parse_err, read_bounded};
use crate::event::{Family, Labels};

/// One `cpuN` line: the CPU number and its ten tick counters
/// (user nice system idle iowait irq softirq steal guest guest_nice).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CpuLine {
    pub cpu: String,
    pub ticks: [u64; 10],
}

/// The parts of `/proc/stat` we export.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcStat {
    pub cpus: Vec<CpuLine>,
    pub intr: Option<u64>,
    pub ctxt: Option<u64>,
    pub btime: Option<u64>,
    pub processes: Option<u64>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
}

/// Parses `/proc/stat` text.
pub(crate) fn parse_stat(text: &str) -> Result<ProcStat, String> {
    let mut out = ProcStat::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(key) = words.next() else { continue };
        let first = || -> Result<u64, String> {
            line.split_whitespace()
                .nth(1)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("bad {key} line"))
        };
        match key {
            "intr" => out.intr = Some(first()?),
            "ctxt" => out.ctxt = Some(first()?),
            "btime" => out.btime = Some(first()?),
            "processes" => out.processes = Some(first()?),
            "procs_running" => out.procs_running = Some(first()?),
            "procs_blocked" => out.procs_blocked = Some(first()?),
            k if k.starts_with("cpu") && k.len() > 3 => {
                let cpu = &k[3..];
                if !cpu.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("bad cpu line {k:?}"));
                }
                let mut ticks = [0u64; 10];
                for (i, w) in words.take(10).enumerate() {
                    ticks[i] = w.parse().map_err(|_| format!("bad {k} counter {w:?}"))?;
                }
                out.cpus.push(CpuLine {
                    cpu: cpu.to_string(),
                    ticks,
                });
            }
            _ => {}
        }
    }
    if out.cpus.is_empty() {
        return Err("no per-CPU lines".to_string());
    }
    Ok(out)
}

const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// The `cpu` collector's families from parsed `/proc/stat`.
pub(crate) fn cpu_families(stat: &ProcStat, ticks_per_second: f64) -> Vec<Family> {
    let mut seconds = Family::counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    let mut guest = Family::counter(
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for line in &stat.cpus {
        for (i, mode) in MODES.iter().enumerate() {
            seconds.push(
                Labels::from_pairs([("cpu", line.cpu.as_str()), ("mode", mode)]),
                line.ticks[i] as f64 / ticks_per_second,
            );
        }
        guest.push(
            Labels::from_pairs([("cpu", line.cpu.as_str()), ("mode", "user")]),
            line.ticks[8] as f64 / ticks_per_second,
        );
        guest.push(
            Labels::from_pairs([("cpu", line.cpu.as_str()), ("mode", "nice")]),
            line.ticks[9] as f64 / ticks_per_second,
        );
    }
    vec![seconds, guest]
}

/// Thermal throttle counters from sysfs (`node_cpu_core_throttles_total`,
/// `node_cpu_package_throttles_total`), when the kernel exposes them.
pub(crate) fn throttle_families(sysfs: &Path) -> Vec<Family> {
    let mut core = Family::counter(
        "node_cpu_core_throttles_total",
        "Number of times this CPU core has been throttled.",
    );
    let mut package = Family::counter(
        "node_cpu_package_throttles_total",
        "Number of times this CPU package has been throttled.",
    );
    let cpu_dir = sysfs.join("devices/system/cpu");
    let Ok(entries) = std::fs::read_dir(&cpu_dir) else {
        return Vec::new();
    };
    let mut seen_core = std::collections::HashSet::new();
    let mut seen_pkg = std::collections::HashSet::new();
    for entry in entries.flatten().take(8192) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name.strip_prefix("cpu") else {
            continue;
        };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let read_num = |rel: &str| -> Option<u64> {
            read_bounded(&dir.join(rel), 64)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        let (Some(pkg), Some(core_id)) = (
            read_num("topology/physical_package_id"),
            read_num("topology/core_id"),
        ) else {
            continue;
        };
        if seen_core.insert((pkg, core_id))
            && let Some(n) = read_num("thermal_throttle/core_throttle_count")
        {
            core.push(
                Labels::from_pairs([("core", core_id.to_string()), ("package", pkg.to_string())]),
                n as f64,
            );
        }
        if seen_pkg.insert(pkg)
            && let Some(n) = read_num("thermal_throttle/package_throttle_count")
        {
            package.push(Labels::new().with("package", pkg.to_string()), n as f64);
        }
    }
    [core, package]
        .into_iter()
        .filter(|f| !f.metrics.is_empty())
        .collect()
}

/// The `stat` collector's families.
pub(crate) fn stat_families(stat: &ProcStat) -> Vec<Family> {
    let mut out = Vec::new();
    let mut add = |name: &str, help: &str, counter: bool, v: Option<u64>| {
        if let Some(v) = v {
            let f = if counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            };
            out.push(f.with(Labels::new(), v as f64));
        }
    };
    add(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        false,
        stat.btime,
    );
    add(
        "node_context_switches_total",
        "Total number of context switches.",
        true,
        stat.ctxt,
    );
    add(
        "node_forks_total",
        "Total number of forks.",
        true,
        stat.processes,
    );
    add(
        "node_intr_total",
        "Total number of interrupts serviced.",
        true,
        stat.intr,
    );
    add(
        "node_procs_blocked",
        "Number of processes blocked waiting for I/O to complete.",
        false,
        stat.procs_blocked,
    );
    add(
        "node_procs_running",
        "Number of processes in runnable state.",
        false,
        stat.procs_running,
    );
    out
}

/// Reads and parses `<procfs>/stat`.
pub(crate) fn read_stat(procfs: &Path) -> Result<ProcStat, HostError> {
    let path = procfs.join("stat");
    let text = read_bounded(&path, MAX_PROC_FILE_BYTES)?;
    parse_stat(&text).map_err(|r| parse_err(&path, r))
}
