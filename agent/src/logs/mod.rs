//! The log pipeline's shared pieces: the entry that flows from the tailers to the Loki sink
//! ([`LogEntry`], [`Chunk`]), the acknowledgement that moves a file's saved position
//! ([`Positions`]), line timestamps ([`timestamp`]) and the log telemetry ([`LogMetrics`]). The
//! wiring of sources to one pipeline per Loki endpoint is the sink's (`sinks::loki::pipeline`).
//!
//! Flow: a tailer thread (`sources::tail`) reads files, the transforms (`transforms::*`) turn
//! raw lines into entries, chunks of entries go through a bounded channel to the Loki sink
//! (`sinks::loki`), which pushes them and, on success, acknowledges each chunk's file offsets to
//! [`Positions`]. Only that acknowledgement moves a saved position.

mod entry;
mod positions;
mod text;
pub mod timestamp;

pub use crate::metrics::LogMetrics;
pub use entry::{Ack, Chunk, ChunkBuffer, LogEntry, MetaStr, Metadata, StreamLabels};
pub use positions::{FileKey, Positions, PositionsError, Record};
pub use text::Text;

#[cfg(test)]
mod tests;
