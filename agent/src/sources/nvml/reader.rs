//! The [`GpuReader`] trait: the one narrow door to NVML.

use super::error::GpuError;
use super::snapshot::{GpuInventory, XidEvent};

/// Where GPU readings come from. The real one is [`super::NvmlReader`]; tests replay
/// `nvidia-smi -q -x` captures. Calls block (NVML is a C library); the source runs them on a
/// blocking thread.
pub trait GpuReader: Send + Sync + std::fmt::Debug + 'static {
    /// Reads every GPU.
    fn read(&self) -> Result<GpuInventory, GpuError>;
    /// Takes the XID critical error events that arrived since the last call, without waiting.
    fn poll_xid(&self) -> Vec<XidEvent>;
}
