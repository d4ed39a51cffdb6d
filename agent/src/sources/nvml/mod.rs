//! The nvml source: GPU metrics through NVML (`nvml-wrapper`, loaded at run time), exposed with
//! dcgm-exporter's names and labels (`DCGM_FI_DEV_GPU_UTIL`, `DCGM_FI_DEV_FB_USED`, ... with
//! `gpu`, `UUID`, `device`, `modelName`, `Hostname`), plus per-pod GPU memory and utilisation
//! (`nodewatch_gpu_pod_*`), found through `/proc/<pid>/cgroup` and the kubelet's log directories.
//!
//! A host without the NVML library or without a GPU is "not present": logged once at info,
//! `nodewatch_gpu_devices 0`, and the collection still succeeds (unless `enabled = true`).
//! NVML is reached only through the [`GpuReader`] trait; tests replay `nvidia-smi -q -x`
//! captures through it.

mod config;
mod error;
mod nvml_reader;
mod pods;
mod reader;
mod render;
mod snapshot;
mod source;

pub use config::{Enabled, NvmlConfig};
pub use error::GpuError;
pub use nvml_reader::NvmlReader;
pub use pods::{CgroupPod, PodContainer, PodIndex, PodUsage, attribute, parse_cgroup};
pub use reader::GpuReader;
pub use render::{DCGM_FAMILIES, count_family, families, gpu_labels, pod_families};
pub use snapshot::{
    GpuInventory, GpuProcess, GpuSnapshot, MemoryInfo, MigInstance, ProcessKind, RemappedRows,
    THROTTLE_REASON_BITS, XidEvent,
};
pub use source::{Loader, NvmlSource};

#[cfg(test)]
mod smi_xml;
#[cfg(test)]
mod tests;
