//! The agent's one disk queue ([`DiskQueue`]): durable, CRC32C-checked, segmented, bounded, with
//! a per-sink policy for a full queue ([`WhenFull`]: `block` or `drop_oldest`).
//!
//! The remote_write sink appends each collection to it (its WAL) and the Loki sink each pod-log
//! chunk (its spill buffer); both acknowledge what the receiver accepted, which is what frees
//! the disk. The on-disk format, the fsync policy, the byte bound and crash recovery are
//! described in [`segments`] and [`segment`]; the sharing and the policies in [`disk_queue`].

mod disk_queue;
mod error;
mod segment;
mod segments;

pub use disk_queue::{DiskQueue, Next, WhenFull};
pub use error::BufferError;
pub use segment::{HEADER_BYTES, MAX_RECORD_BYTES};
pub use segments::{AppendReport, Cursor, OpenReport, QueueConfig, ReadBatch, Segments, Weigher};

#[cfg(test)]
mod tests;
