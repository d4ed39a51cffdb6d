//! A durable, CRC32C-checked, segmented on-disk queue ([`DiskQueue`]).
//!
//! The remote_write sink appends each collection to it and acknowledges what a receiver accepted;
//! other sinks (logs) can use it the same way. The on-disk format, the fsync policy, the byte
//! bound and crash recovery are described in [`queue`] and [`segment`].

mod error;
mod queue;
mod segment;
mod shared;

pub use error::BufferError;
pub use queue::{AppendReport, Cursor, DiskQueue, OpenReport, QueueConfig, ReadBatch, Weigher};
pub use segment::{HEADER_BYTES, MAX_RECORD_BYTES};
pub use shared::{FullPolicy, Next, SharedQueue};

#[cfg(test)]
mod tests;
