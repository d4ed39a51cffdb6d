//! The disk implementation of [`crate::store::ObjectStore`].
//!
//! - `layout`: where each file lives under the data directory.
//! - `format`: the self-describing object file (data, JSON footer, per-block CRC32C).
//! - `index`: the in-memory, ordered index of every bucket, rebuilt from the files at start-up.
//! - `store`: [`DiskStore`], the durable write path (temp file, fsync, rename, fsync directory).
//! - `multipart`: uploads in progress and their completion.
//! - `versions`: bucket versioning: noncurrent versions, delete markers, where a version goes.
//! - `conditional`: write conditions, checked under the key's lock with the rename.
//! - `rewrite`: new attributes (tags) for an object's unchanged bytes.
//! - `bucket_config`: a bucket's sub-resource documents (tagging, CORS).
//! - `small_log`: the small-object log (segments, records, group commit, replay of a torn tail).
//! - `logged`: the store's side of it: replay into the index, reads, kill records, compaction.
//! - `fsutil`: fsync of directories and file-system capacity.

mod bucket_config;
mod conditional;
pub mod format;
mod fsutil;
mod index;
pub mod layout;
mod logged;
mod multipart;
mod rewrite;
pub mod small_log;
mod store;
mod versions;

pub use fsutil::capacity;
pub use logged::{CompactReport, FoldedWrite, run_compaction};
pub use store::{DiskStore, OpenReport, StoreOptions};
