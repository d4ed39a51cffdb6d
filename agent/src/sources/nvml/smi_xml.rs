//! Test support: a [`GpuReader`] that replays `nvidia-smi -q -x` captures (the real outputs in
//! `agent/tests/data/gpu/`). nvidia-smi prints what NVML returns, in MiB, C, W and MHz; this
//! turns it back into the snapshot NVML would have given.

use std::sync::Mutex;

use roxmltree::Node;

use super::error::GpuError;
use super::reader::GpuReader;
use super::snapshot::{
    GpuInventory, GpuProcess, GpuSnapshot, MemoryInfo, MigInstance, ProcessKind, RemappedRows,
    THROTTLE_REASON_BITS, XidEvent,
};

const MIB: u64 = 1024 * 1024;

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn path<'a, 'i>(n: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(n, |n, name| child(n, name))
}

fn text<'a>(n: Node<'a, '_>, names: &[&str]) -> Option<&'a str> {
    path(n, names)
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "N/A")
}

/// The number at the start of `27 C`, `67.03 W`, `50 MiB`, `0 %`.
fn num(n: Node<'_, '_>, names: &[&str]) -> Option<f64> {
    text(n, names)?.split_whitespace().next()?.parse().ok()
}

fn mib(n: Node<'_, '_>, names: &[&str]) -> Option<u64> {
    num(n, names).map(|v| v as u64 * MIB)
}

fn memory(n: Node<'_, '_>) -> Option<MemoryInfo> {
    Some(MemoryInfo {
        total_bytes: mib(n, &["total"])?,
        used_bytes: mib(n, &["used"])?,
        free_bytes: mib(n, &["free"])?,
    })
}

/// Sums the numeric children named in `names` under `n`; `None` when none is numeric.
fn sum(n: Option<Node<'_, '_>>, names: &[&str]) -> Option<u64> {
    let n = n?;
    let vals: Vec<u64> = names
        .iter()
        .filter_map(|k| num(n, &[k]).map(|v| v as u64))
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum())
}

fn gpu(index: u32, g: Node<'_, '_>) -> GpuSnapshot {
    let mut s = GpuSnapshot {
        index,
        minor_number: num(g, &["minor_number"]).map(|v| v as u32),
        uuid: text(g, &["uuid"]).unwrap_or_default().to_string(),
        name: text(g, &["product_name"]).unwrap_or_default().to_string(),
        gpu_util_percent: num(g, &["utilization", "gpu_util"]),
        mem_copy_util_percent: num(g, &["utilization", "memory_util"]),
        memory: child(g, "fb_memory_usage").and_then(memory),
        gpu_temp_c: num(g, &["temperature", "gpu_temp"]),
        memory_temp_c: num(g, &["temperature", "memory_temp"]),
        sm_clock_mhz: num(g, &["clocks", "sm_clock"]),
        mem_clock_mhz: num(g, &["clocks", "mem_clock"]),
        pcie_replay_counter: num(g, &["pci", "replay_counter"]).map(|v| v as u64),
        ..GpuSnapshot::default()
    };
    s.power_watts = ["gpu_power_readings", "power_readings"]
        .iter()
        .find_map(|p| num(g, &[p, "power_draw"]).or_else(|| num(g, &[p, "average_power_draw"])));
    let vol = path(g, &["ecc_errors", "volatile"]);
    // DTD v11+: sram/dram counters; older: single_bit/double_bit totals.
    s.ecc_sbe_volatile_total = sum(vol, &["sram_correctable", "dram_correctable"])
        .or_else(|| sum(vol.and_then(|v| child(v, "single_bit")), &["total"]));
    s.ecc_dbe_volatile_total = sum(
        vol,
        &[
            "sram_uncorrectable",
            "sram_uncorrectable_parity",
            "sram_uncorrectable_secded",
            "dram_uncorrectable",
        ],
    )
    .or_else(|| sum(vol.and_then(|v| child(v, "double_bit")), &["total"]));
    if let Some(r) = child(g, "remapped_rows")
        && let (Some(c), Some(u)) = (
            num(r, &["remapped_row_corr"]),
            num(r, &["remapped_row_unc"]),
        )
    {
        s.remapped_rows = Some(RemappedRows {
            correctable: c as u64,
            uncorrectable: u as u64,
            pending: text(r, &["remapped_row_pending"]) == Some("Yes"),
            failure: text(r, &["remapped_row_failure"]) == Some("Yes"),
        });
    }
    for (block, prefix) in [
        ("clocks_event_reasons", "clocks_event_reason_"),
        ("clocks_throttle_reasons", "clocks_throttle_reason_"),
    ] {
        let Some(b) = child(g, block) else { continue };
        let mut mask = 0u64;
        let mut any = false;
        for c in b.children().filter(Node::is_element) {
            let Some(reason) = c.tag_name().name().strip_prefix(prefix) else {
                continue;
            };
            if let Some((_, bit)) = THROTTLE_REASON_BITS.iter().find(|(n, _)| *n == reason) {
                any = true;
                if c.text().map(str::trim) == Some("Active") {
                    mask |= bit;
                }
            }
        }
        if any {
            s.throttle_reasons = Some(mask);
        }
    }
    s.mig_enabled = text(g, &["mig_mode", "current_mig"]).map(|m| m == "Enabled");
    if let Some(m) = child(g, "mig_devices") {
        for d in m.children().filter(|c| c.has_tag_name("mig_device")) {
            s.mig_instances.push(MigInstance {
                index: num(d, &["index"]).unwrap_or(0.0) as u32,
                gpu_instance_id: num(d, &["gpu_instance_id"]).map(|v| v as u32),
                compute_instance_id: num(d, &["compute_instance_id"]).map(|v| v as u32),
                memory: child(d, "fb_memory_usage").and_then(memory),
            });
        }
    }
    if let Some(p) = child(g, "processes") {
        for pi in p.children().filter(|c| c.has_tag_name("process_info")) {
            let Some(pid) = num(pi, &["pid"]) else {
                continue;
            };
            let kind = match text(pi, &["type"]) {
                Some("G") => ProcessKind::Graphics,
                Some("C+G") => ProcessKind::ComputeAndGraphics,
                _ => ProcessKind::Compute,
            };
            s.processes.push(GpuProcess {
                pid: pid as u32,
                kind,
                used_memory_bytes: mib(pi, &["used_memory"]),
                sm_util_percent: None,
            });
        }
    }
    s
}

/// Parses a whole `nvidia-smi -q -x` document.
pub fn parse(xml: &str) -> Result<GpuInventory, String> {
    let doc = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !root.has_tag_name("nvidia_smi_log") {
        return Err(format!("root is <{}>", root.tag_name().name()));
    }
    let gpus = root
        .children()
        .filter(|c| c.has_tag_name("gpu"))
        .enumerate()
        .map(|(i, g)| gpu(i as u32, g))
        .collect();
    Ok(GpuInventory {
        driver_version: text(root, &["driver_version"]).map(str::to_string),
        gpus,
    })
}

/// Replays one capture; XID events are queued by the test.
#[derive(Debug)]
pub struct XmlReader {
    /// What `read` returns.
    pub inventory: GpuInventory,
    /// What the next `poll_xid` returns.
    pub xids: Mutex<Vec<XidEvent>>,
}

impl XmlReader {
    /// A reader for one capture's text.
    pub fn new(xml: &str) -> Result<Self, String> {
        Ok(XmlReader {
            inventory: parse(xml)?,
            xids: Mutex::new(Vec::new()),
        })
    }
}

impl GpuReader for XmlReader {
    fn read(&self) -> Result<GpuInventory, GpuError> {
        Ok(self.inventory.clone())
    }

    fn poll_xid(&self) -> Vec<XidEvent> {
        std::mem::take(&mut *self.xids.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
