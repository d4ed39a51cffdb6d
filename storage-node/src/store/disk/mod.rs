//! The disk implementation of [`crate::store::ObjectStore`].
//!
//! - `layout`: where each file lives under the data directory.
//! - `format`: the self-describing object file (data, JSON footer, per-block CRC32C).
//! - `index`: the in-memory, ordered index of every bucket, rebuilt from the files at start-up.
//! - `store`: [`DiskStore`], the durable write path (temp file, fsync, rename, fsync directory).
//! - `multipart`: uploads in progress and their completion.
//! - `versions`: bucket versioning: noncurrent versions, delete markers, where a version goes.
//! - `fsutil`: fsync of directories and file-system capacity.

pub mod format;
mod fsutil;
mod index;
pub mod layout;
mod multipart;
mod store;
mod versions;

pub use fsutil::capacity;
pub use store::{DiskStore, OpenReport};
