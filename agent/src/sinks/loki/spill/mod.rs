//! The Loki sink's disk spill buffer for pod logs: the kubelet rotates and deletes pod logs, so
//! "stop reading and resume later" can lose lines while Loki is down. Pod-log chunks are written
//! here (CRC32C-checked records in segment files, fsynced) and only then do their file positions
//! move; a reader hands the records to the sink in order, and a record leaves the buffer (the
//! cursor moves, whole segments are deleted) only after Loki acknowledged it.
//!
//! On disk, under `<data_dir>/loki/<sink>/spill/`:
//! - `seg-<n 20 digits>.log`: records `[len u32 LE][crc32c u32 LE][payload len bytes]`;
//! - `cursor.json`: `{"segment":n,"offset":o}`, the first byte not yet acknowledged, replaced
//!   atomically (write, fsync, rename, fsync dir).
//!
//! A torn record at the end of the last segment (a crash mid-write, never acknowledged upstream,
//! so its lines are read again from the file) is cut off at open. A record whose CRC does not
//! match elsewhere ends that segment: its lines are counted as dropped (`reason="spill_corrupt"`).
//! The total size is bounded by `max_bytes`; at the bound `append` waits (the tailer stops
//! reading) and says so.

mod codec;
mod queue;
mod reader;

pub use codec::{decode_entries, encode_entries};
pub use queue::{SpillCursor, SpillError, SpillQueue};
pub use reader::SpillReader;

#[cfg(test)]
mod tests;
