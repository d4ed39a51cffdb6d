//! Plain data read from one GPU: what [`super::GpuReader`] returns. Units are NVML's base units
//! (bytes, degrees Celsius, watts, MHz); the renderer converts to dcgm-exporter's.

/// Everything read in one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuInventory {
    /// The driver version, when known.
    pub driver_version: Option<String>,
    /// One entry per GPU, in NVML index order.
    pub gpus: Vec<GpuSnapshot>,
}

/// Framebuffer memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryInfo {
    /// Total bytes.
    pub total_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
}

/// Row remapping state (Ampere and newer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemappedRows {
    /// Rows remapped for correctable errors.
    pub correctable: u64,
    /// Rows remapped for uncorrectable errors.
    pub uncorrectable: u64,
    /// A remapping waits for a GPU reset.
    pub pending: bool,
    /// A remapping failed.
    pub failure: bool,
}

/// What kind of context a process has on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// CUDA/compute.
    Compute,
    /// Graphics.
    Graphics,
    /// Both.
    ComputeAndGraphics,
}

/// One process using a GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    /// The host pid.
    pub pid: u32,
    /// Compute, graphics or both.
    pub kind: ProcessKind,
    /// GPU memory the process uses, when the driver says.
    pub used_memory_bytes: Option<u64>,
    /// SM utilisation of the process over the last interval, in percent; `None` when the
    /// driver gives no per-process samples.
    pub sm_util_percent: Option<f64>,
}

/// One MIG GPU instance.
#[derive(Debug, Clone, PartialEq)]
pub struct MigInstance {
    /// The MIG device index within the parent GPU.
    pub index: u32,
    /// The GPU instance id, when known.
    pub gpu_instance_id: Option<u32>,
    /// The compute instance id, when known.
    pub compute_instance_id: Option<u32>,
    /// The instance's memory, when known.
    pub memory: Option<MemoryInfo>,
}

/// One GPU. Every reading is optional: a GPU that does not support one still reports the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSnapshot {
    /// The NVML index (dcgm-exporter's `gpu` label).
    pub index: u32,
    /// The device minor number (`/dev/nvidia<N>`, dcgm-exporter's `device` label).
    pub minor_number: Option<u32>,
    /// `GPU-...`.
    pub uuid: String,
    /// The product name (`modelName`).
    pub name: String,
    /// GPU utilisation, percent.
    pub gpu_util_percent: Option<f64>,
    /// Memory (copy engine) utilisation, percent.
    pub mem_copy_util_percent: Option<f64>,
    /// Framebuffer memory.
    pub memory: Option<MemoryInfo>,
    /// GPU temperature, Celsius.
    pub gpu_temp_c: Option<f64>,
    /// HBM temperature, Celsius.
    pub memory_temp_c: Option<f64>,
    /// Power draw, watts.
    pub power_watts: Option<f64>,
    /// SM clock, MHz.
    pub sm_clock_mhz: Option<f64>,
    /// Memory clock, MHz.
    pub mem_clock_mhz: Option<f64>,
    /// Volatile single-bit (corrected) ECC errors, all memories.
    pub ecc_sbe_volatile_total: Option<u64>,
    /// Volatile double-bit (uncorrected) ECC errors, all memories.
    pub ecc_dbe_volatile_total: Option<u64>,
    /// Row remapping.
    pub remapped_rows: Option<RemappedRows>,
    /// PCIe replays.
    pub pcie_replay_counter: Option<u64>,
    /// The clock throttle (event) reasons, NVML's bit mask.
    pub throttle_reasons: Option<u64>,
    /// Whether MIG mode is on.
    pub mig_enabled: Option<bool>,
    /// The MIG instances, when MIG is on.
    pub mig_instances: Vec<MigInstance>,
    /// The processes on the GPU.
    pub processes: Vec<GpuProcess>,
}

/// NVML's clock throttle reason bits (`nvmlClocksThrottleReason*`), by nvidia-smi's name.
pub const THROTTLE_REASON_BITS: [(&str, u64); 9] = [
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clocks_setting", 0x100),
];

/// One XID critical error event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XidEvent {
    /// The GPU it happened on.
    pub uuid: String,
    /// The XID.
    pub xid: u64,
}
