//! [`NvmlReader`]: the real [`GpuReader`], over `nvml-wrapper` (which `dlopen`s
//! `libnvidia-ml.so.1` at run time, so the agent runs unchanged on hosts without a driver).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Mutex;

use nvml_wrapper::Device;
use nvml_wrapper::EventSet;
use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};
use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::ProcessInfo;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::sys_exports::field_id::{
    NVML_FI_DEV_MEMORY_TEMP, NVML_FI_DEV_REMAPPED_COR, NVML_FI_DEV_REMAPPED_FAILURE,
    NVML_FI_DEV_REMAPPED_PENDING, NVML_FI_DEV_REMAPPED_UNC,
};

use super::error::GpuError;
use super::reader::GpuReader;
use super::snapshot::{
    GpuInventory, GpuProcess, GpuSnapshot, MemoryInfo, MigInstance, ProcessKind, RemappedRows,
    XidEvent,
};

/// The most XID events taken from one GPU's event set per poll.
const MAX_XID_PER_POLL: usize = 64;
/// The most GPUs (and MIG instances per GPU) read.
const MAX_DEVICES: u32 = 64;

/// One GPU's XID event set.
struct XidSet {
    uuid: String,
    set: EventSet<'static>,
}

impl std::fmt::Debug for XidSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XidSet").field("uuid", &self.uuid).finish()
    }
}

/// Reads GPUs through NVML.
#[derive(Debug)]
pub struct NvmlReader {
    /// Loaded once and kept for the life of the process (NVML handles borrow it).
    nvml: &'static Nvml,
    xid_sets: Vec<Mutex<XidSet>>,
    /// Per GPU index, the newest process-utilisation sample time seen (µs).
    last_sample_us: Mutex<HashMap<u32, u64>>,
}

impl NvmlReader {
    /// Loads and initialises NVML (from `library_path`, or the loader's search). Any failure
    /// means "no GPU here": [`GpuError::NotPresent`].
    pub fn load(library_path: Option<&Path>) -> Result<Self, GpuError> {
        let mut builder = Nvml::builder();
        if let Some(p) = library_path {
            builder.lib_path(OsStr::new(p.as_os_str()));
        }
        let nvml = builder
            .init()
            .map_err(|e| GpuError::NotPresent(e.to_string()))?;
        let count = nvml
            .device_count()
            .map_err(|e| GpuError::NotPresent(format!("device count: {e}")))?;
        if count == 0 {
            return Err(GpuError::NotPresent("NVML loaded but sees no GPU".into()));
        }
        // Leaked on purpose: the reader lives as long as the agent, and NVML's device and
        // event-set handles borrow the library.
        let nvml: &'static Nvml = Box::leak(Box::new(nvml));
        let mut xid_sets = Vec::new();
        for i in 0..count.min(MAX_DEVICES) {
            match register_xid(nvml, i) {
                Ok(s) => xid_sets.push(Mutex::new(s)),
                Err(e) => tracing::info!(gpu = i, error = %e, "XID events not available"),
            }
        }
        Ok(NvmlReader {
            nvml,
            xid_sets,
            last_sample_us: Mutex::new(HashMap::new()),
        })
    }

    fn read_device(&self, index: u32, dev: &Device<'_>) -> Result<GpuSnapshot, GpuError> {
        let q = |what: &str, e: NvmlError| GpuError::Query {
            what: format!("gpu {index} {what}"),
            message: e.to_string(),
        };
        let uuid = dev.uuid().map_err(|e| q("uuid", e))?;
        let mut s = GpuSnapshot {
            index,
            minor_number: dev.minor_number().ok(),
            uuid,
            name: dev.name().unwrap_or_default(),
            ..GpuSnapshot::default()
        };
        if let Ok(u) = dev.utilization_rates() {
            s.gpu_util_percent = Some(f64::from(u.gpu));
            s.mem_copy_util_percent = Some(f64::from(u.memory));
        }
        s.memory = dev.memory_info().ok().map(|m| MemoryInfo {
            total_bytes: m.total,
            used_bytes: m.used,
            free_bytes: m.free,
        });
        s.gpu_temp_c = dev.temperature(TemperatureSensor::Gpu).ok().map(f64::from);
        s.power_watts = dev.power_usage().ok().map(|mw| f64::from(mw) / 1000.0);
        s.sm_clock_mhz = dev.clock_info(Clock::SM).ok().map(f64::from);
        s.mem_clock_mhz = dev.clock_info(Clock::Memory).ok().map(f64::from);
        s.ecc_sbe_volatile_total = dev
            .total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
            .ok();
        s.ecc_dbe_volatile_total = dev
            .total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
            .ok();
        s.pcie_replay_counter = dev.pcie_replay_counter().ok().map(u64::from);
        s.throttle_reasons = dev.current_throttle_reasons().ok().map(|r| r.bits());
        self.read_fields(dev, &mut s);
        s.mig_enabled = dev.mig_mode().ok().map(|m| m.current == 1);
        let mut procs = processes(dev);
        if s.mig_enabled == Some(true) {
            let n = dev.mig_device_count().unwrap_or(0).min(MAX_DEVICES);
            for i in 0..n {
                let Ok(mig) = dev.mig_device_by_index(i) else {
                    continue;
                };
                s.mig_instances.push(MigInstance {
                    index: i,
                    gpu_instance_id: None,
                    compute_instance_id: None,
                    memory: mig.memory_info().ok().map(|m| MemoryInfo {
                        total_bytes: m.total,
                        used_bytes: m.used,
                        free_bytes: m.free,
                    }),
                });
                procs.extend(processes(&mig));
            }
        }
        self.add_utilisation(index, dev, &mut procs);
        s.processes = procs;
        Ok(s)
    }

    /// Memory temperature and row remapping come as NVML field values.
    fn read_fields(&self, dev: &Device<'_>, s: &mut GpuSnapshot) {
        let ids = [
            FieldId(NVML_FI_DEV_MEMORY_TEMP),
            FieldId(NVML_FI_DEV_REMAPPED_COR),
            FieldId(NVML_FI_DEV_REMAPPED_UNC),
            FieldId(NVML_FI_DEV_REMAPPED_PENDING),
            FieldId(NVML_FI_DEV_REMAPPED_FAILURE),
        ];
        let Ok(values) = dev.field_values_for(&ids) else {
            return;
        };
        let mut got: [Option<f64>; 5] = [None; 5];
        for (slot, v) in got.iter_mut().zip(values) {
            *slot = v.ok().and_then(|v| v.value.ok()).map(|v| match v {
                SampleValue::F64(x) => x,
                SampleValue::U32(x) => f64::from(x),
                SampleValue::U64(x) => x as f64,
                SampleValue::I64(x) => x as f64,
            });
        }
        s.memory_temp_c = got[0].filter(|t| *t > 0.0);
        if let (Some(c), Some(u)) = (got[1], got[2]) {
            s.remapped_rows = Some(RemappedRows {
                correctable: c as u64,
                uncorrectable: u as u64,
                pending: got[3].is_some_and(|x| x != 0.0),
                failure: got[4].is_some_and(|x| x != 0.0),
            });
        }
    }

    /// Adds each process' SM utilisation since the last read (0 for a process with no sample),
    /// when the driver supports per-process samples.
    fn add_utilisation(&self, index: u32, dev: &Device<'_>, procs: &mut [GpuProcess]) {
        let mut last = self
            .last_sample_us
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let since = last.get(&index).copied().unwrap_or(0);
        let samples = match dev.process_utilization_stats(since) {
            Ok(s) => s,
            Err(NvmlError::NotFound) => Vec::new(),
            Err(_) => return,
        };
        let mut newest: HashMap<u32, (u64, u32)> = HashMap::new();
        let mut max_ts = since;
        for smp in samples {
            max_ts = max_ts.max(smp.timestamp);
            let e = newest
                .entry(smp.pid)
                .or_insert((smp.timestamp, smp.sm_util));
            if smp.timestamp >= e.0 {
                *e = (smp.timestamp, smp.sm_util);
            }
        }
        last.insert(index, max_ts);
        for p in procs {
            p.sm_util_percent = Some(newest.get(&p.pid).map_or(0.0, |(_, u)| f64::from(*u)));
        }
    }
}

fn register_xid(nvml: &'static Nvml, index: u32) -> Result<XidSet, NvmlError> {
    let dev = nvml.device_by_index(index)?;
    let uuid = dev.uuid()?;
    let set = nvml.create_event_set()?;
    let set = dev
        .register_events(EventTypes::CRITICAL_XID_ERROR, set)
        .map_err(|e| e.error)?;
    Ok(XidSet { uuid, set })
}

fn processes(dev: &Device<'_>) -> Vec<GpuProcess> {
    let mut out: Vec<GpuProcess> = Vec::new();
    let mut add = |list: Vec<ProcessInfo>, kind: ProcessKind| {
        for p in list {
            let mem = match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            };
            match out.iter_mut().find(|q| q.pid == p.pid) {
                Some(q) => {
                    if q.kind != kind {
                        q.kind = ProcessKind::ComputeAndGraphics;
                    }
                    q.used_memory_bytes = q.used_memory_bytes.or(mem);
                }
                None => out.push(GpuProcess {
                    pid: p.pid,
                    kind,
                    used_memory_bytes: mem,
                    sm_util_percent: None,
                }),
            }
        }
    };
    if let Ok(l) = dev.running_compute_processes() {
        add(l, ProcessKind::Compute);
    }
    if let Ok(l) = dev.running_graphics_processes() {
        add(l, ProcessKind::Graphics);
    }
    out
}

impl GpuReader for NvmlReader {
    fn read(&self) -> Result<GpuInventory, GpuError> {
        let count = self.nvml.device_count().map_err(|e| GpuError::Query {
            what: "device count".into(),
            message: e.to_string(),
        })?;
        let mut inv = GpuInventory {
            driver_version: self.nvml.sys_driver_version().ok(),
            gpus: Vec::new(),
        };
        for i in 0..count.min(MAX_DEVICES) {
            let dev = match self.nvml.device_by_index(i) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(gpu = i, error = %e, "open GPU");
                    continue;
                }
            };
            match self.read_device(i, &dev) {
                Ok(s) => inv.gpus.push(s),
                Err(e) => tracing::warn!(gpu = i, error = %e, "read GPU"),
            }
        }
        Ok(inv)
    }

    fn poll_xid(&self) -> Vec<XidEvent> {
        let mut out = Vec::new();
        for m in &self.xid_sets {
            let g = m.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..MAX_XID_PER_POLL {
                match g.set.wait(0) {
                    Ok(ev) => {
                        if let Some(XidError::Value(xid)) = ev.event_data {
                            out.push(XidEvent {
                                uuid: g.uuid.clone(),
                                xid,
                            });
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        out
    }
}
