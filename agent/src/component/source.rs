//! The one trait every metrics source implements.

use std::fmt;

use async_trait::async_trait;

use crate::event::Family;

/// The error a source returns from one collection. Each source has its own `thiserror` enum; the
/// runner only logs it and counts it, so it is boxed here.
pub type CollectError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A metrics source: something that, when asked, returns the current families it sees.
///
/// The runner ([`crate::topology`]) calls [`Source::collect`] on its own task, once per interval,
/// under a timeout, and never starts a second collection while one is still running. A source
/// that does blocking work (reading `/proc`, `statfs`, a subprocess) must do it off the async
/// threads and bound it itself, since a timed-out blocking call cannot be cancelled.
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug + 'static {
    /// The source's name: the `collector`/`source` label value and the store key.
    fn name(&self) -> &str;

    /// Collects one batch. An `Err` means the whole batch is unusable; partial failures
    /// (one disk, one mount) are reported inside the batch instead.
    async fn collect(&self) -> Result<Vec<Family>, CollectError>;
}
