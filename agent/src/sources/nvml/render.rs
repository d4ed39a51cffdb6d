//! Snapshots -> metric families with dcgm-exporter's names, units and labels (`gpu`, `UUID`,
//! `device`, `modelName`, `Hostname`, `DCGM_FI_DRIVER_VERSION`), plus the nodewatch GPU
//! families (`nodewatch_gpu_present`, `nodewatch_gpu_devices`, per-pod usage, MIG instances).

use std::collections::HashMap;

use super::pods::PodUsage;
use super::snapshot::{GpuInventory, GpuSnapshot};
use crate::event::{Family, Labels, MetricKind};

const MIB: f64 = 1024.0 * 1024.0;

/// One DCGM family: name, type, help (dcgm-exporter's `default-counters.csv`) and how to read it.
struct Field {
    name: &'static str,
    kind: MetricKind,
    help: &'static str,
    get: fn(&GpuSnapshot) -> Option<f64>,
}

const FIELDS: &[Field] = &[
    Field {
        name: "DCGM_FI_DEV_SM_CLOCK",
        kind: MetricKind::Gauge,
        help: "SM clock frequency (in MHz).",
        get: |g| g.sm_clock_mhz,
    },
    Field {
        name: "DCGM_FI_DEV_MEM_CLOCK",
        kind: MetricKind::Gauge,
        help: "Memory clock frequency (in MHz).",
        get: |g| g.mem_clock_mhz,
    },
    Field {
        name: "DCGM_FI_DEV_GPU_TEMP",
        kind: MetricKind::Gauge,
        help: "GPU temperature (in C).",
        get: |g| g.gpu_temp_c,
    },
    Field {
        name: "DCGM_FI_DEV_MEMORY_TEMP",
        kind: MetricKind::Gauge,
        help: "Memory temperature (in C).",
        get: |g| g.memory_temp_c,
    },
    Field {
        name: "DCGM_FI_DEV_POWER_USAGE",
        kind: MetricKind::Gauge,
        help: "Power draw (in W).",
        get: |g| g.power_watts,
    },
    Field {
        name: "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
        kind: MetricKind::Counter,
        help: "Total number of PCIe retries.",
        get: |g| g.pcie_replay_counter.map(|v| v as f64),
    },
    Field {
        name: "DCGM_FI_DEV_GPU_UTIL",
        kind: MetricKind::Gauge,
        help: "GPU utilization (in %).",
        get: |g| g.gpu_util_percent,
    },
    Field {
        name: "DCGM_FI_DEV_MEM_COPY_UTIL",
        kind: MetricKind::Gauge,
        help: "Memory utilization (in %).",
        get: |g| g.mem_copy_util_percent,
    },
    Field {
        name: "DCGM_FI_DEV_FB_FREE",
        kind: MetricKind::Gauge,
        help: "Framebuffer memory free (in MiB).",
        get: |g| g.memory.map(|m| (m.free_bytes as f64 / MIB).round()),
    },
    Field {
        name: "DCGM_FI_DEV_FB_USED",
        kind: MetricKind::Gauge,
        help: "Framebuffer memory used (in MiB).",
        get: |g| g.memory.map(|m| (m.used_bytes as f64 / MIB).round()),
    },
    Field {
        name: "DCGM_FI_DEV_FB_TOTAL",
        kind: MetricKind::Gauge,
        help: "Framebuffer memory total (in MiB).",
        get: |g| g.memory.map(|m| (m.total_bytes as f64 / MIB).round()),
    },
    Field {
        name: "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        kind: MetricKind::Counter,
        help: "Total number of single-bit volatile ECC errors.",
        get: |g| g.ecc_sbe_volatile_total.map(|v| v as f64),
    },
    Field {
        name: "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        kind: MetricKind::Counter,
        help: "Total number of double-bit volatile ECC errors.",
        get: |g| g.ecc_dbe_volatile_total.map(|v| v as f64),
    },
    Field {
        name: "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        kind: MetricKind::Counter,
        help: "Number of remapped rows for correctable errors.",
        get: |g| g.remapped_rows.map(|r| r.correctable as f64),
    },
    Field {
        name: "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        kind: MetricKind::Counter,
        help: "Number of remapped rows for uncorrectable errors.",
        get: |g| g.remapped_rows.map(|r| r.uncorrectable as f64),
    },
    Field {
        name: "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        kind: MetricKind::Gauge,
        help: "Whether remapping of rows has failed.",
        get: |g| g.remapped_rows.map(|r| f64::from(u8::from(r.failure))),
    },
    Field {
        name: "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
        kind: MetricKind::Gauge,
        help: "Current clock throttle reasons (bit mask of NVML clocks throttle reasons).",
        get: |g| g.throttle_reasons.map(|v| v as f64),
    },
];

/// The family names this module can produce (for the metric-name contract tests).
pub const DCGM_FAMILIES: [&str; 18] = [
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_TOTAL",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
    "DCGM_FI_DEV_XID_ERRORS",
];

/// dcgm-exporter's label set for one GPU.
pub fn gpu_labels(g: &GpuSnapshot, hostname: &str, driver: Option<&str>) -> Labels {
    let mut l = Labels::new()
        .with("gpu", g.index.to_string())
        .with("UUID", g.uuid.clone())
        .with(
            "device",
            format!("nvidia{}", g.minor_number.unwrap_or(g.index)),
        )
        .with("modelName", g.name.clone())
        .with("Hostname", hostname);
    if let Some(d) = driver {
        l.insert("DCGM_FI_DRIVER_VERSION", d);
    }
    l
}

/// `nodewatch_gpu_devices` alone: the "not present" batch.
pub fn count_family(n: usize) -> Family {
    Family::gauge(
        "nodewatch_gpu_devices",
        "GPUs NVML sees on this node (0 when NVML is not present).",
    )
    .with(Labels::new(), n as f64)
}

/// Every family for one inventory. `last_xid` maps a UUID to the last XID seen on it.
pub fn families(
    inv: &GpuInventory,
    hostname: &str,
    last_xid: &HashMap<String, u64>,
    pods: &[PodUsage],
) -> Vec<Family> {
    let driver = inv.driver_version.as_deref();
    let mut out: Vec<Family> = FIELDS
        .iter()
        .map(|f| Family::new(f.name, f.help, f.kind))
        .collect();
    let mut xid = Family::gauge(
        "DCGM_FI_DEV_XID_ERRORS",
        "Value of the last XID error encountered.",
    );
    let mut present = Family::gauge("nodewatch_gpu_present", "1 for each GPU NVML sees.");
    let mut mig_used = Family::gauge(
        "nodewatch_gpu_mig_memory_used_bytes",
        "Framebuffer memory used by a MIG GPU instance.",
    );
    let mut mig_total = Family::gauge(
        "nodewatch_gpu_mig_memory_total_bytes",
        "Framebuffer memory of a MIG GPU instance.",
    );
    for g in &inv.gpus {
        let labels = gpu_labels(g, hostname, driver);
        for (fam, field) in out.iter_mut().zip(FIELDS) {
            if let Some(v) = (field.get)(g) {
                fam.push(labels.clone(), v);
            }
        }
        xid.push(
            labels.clone(),
            last_xid.get(&g.uuid).copied().unwrap_or(0) as f64,
        );
        present.push(
            Labels::new()
                .with("gpu", g.index.to_string())
                .with("UUID", g.uuid.clone())
                .with("modelName", g.name.clone()),
            1.0,
        );
        for m in &g.mig_instances {
            let Some(mem) = m.memory else { continue };
            let mut l = Labels::new()
                .with("gpu", g.index.to_string())
                .with("UUID", g.uuid.clone())
                .with("modelName", g.name.clone())
                .with("Hostname", hostname)
                .with("mig_device", m.index.to_string());
            if let Some(id) = m.gpu_instance_id {
                l.insert("GPU_I_ID", id.to_string());
            }
            mig_used.push(l.clone(), mem.used_bytes as f64);
            mig_total.push(l, mem.total_bytes as f64);
        }
    }
    out.push(xid);
    out.push(present);
    out.push(count_family(inv.gpus.len()));
    out.push(mig_used);
    out.push(mig_total);
    out.extend(pod_families(pods));
    out.retain(|f| !f.metrics.is_empty());
    out
}

/// `nodewatch_gpu_pod_memory_used_bytes` and `nodewatch_gpu_pod_utilization_ratio`.
pub fn pod_families(pods: &[PodUsage]) -> Vec<Family> {
    let mut mem = Family::gauge(
        "nodewatch_gpu_pod_memory_used_bytes",
        "GPU memory used by a container's processes on one GPU.",
    );
    let mut util = Family::gauge(
        "nodewatch_gpu_pod_utilization_ratio",
        "SM utilisation of a container's processes on one GPU over the last interval (0-1).",
    );
    for p in pods {
        let l = Labels::new()
            .with("gpu", p.gpu.to_string())
            .with("UUID", p.uuid.clone())
            .with("namespace", p.who.namespace.clone())
            .with("pod", p.who.pod.clone())
            .with("container", p.who.container.clone());
        mem.push(l.clone(), p.memory_bytes as f64);
        if let Some(u) = p.utilization_ratio {
            util.push(l, u);
        }
    }
    vec![mem, util]
}
