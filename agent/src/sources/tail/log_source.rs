//! How a log source hands itself to the sink that ships its lines: the log sources' `build`
//! adds a [`LogSource`] to the shared [`LogSources`], and each Loki endpoint starts its own
//! tailer for every one of them (its own positions, so a slow endpoint never holds back another).

use std::sync::{Arc, Mutex};

use super::{Discover, LogTelemetry, ProcessorConfig, TailConfig};
use crate::component::BuildContext;

/// Makes a fresh discovery for one pipeline (one Loki endpoint).
pub type DiscoverFactory = Box<dyn Fn() -> Result<Box<dyn Discover>, String> + Send + Sync>;

/// One log source, ready to be tailed by any number of pipelines.
pub struct LogSource {
    /// How files are watched and read.
    pub tail: TailConfig,
    /// What each line goes through.
    pub processor: Arc<ProcessorConfig>,
    /// The discovery of the source's files.
    pub discover: DiscoverFactory,
    /// Whether the lines go through the sink's disk buffer (pod logs, which the kubelet rotates
    /// away quickly).
    pub buffered: bool,
}

impl LogSource {
    /// Adds a log source being built to the [`LogSources`] the sinks tail: its lines count into
    /// the source's component counters and those of the transforms `processor` turns on.
    pub fn register(
        ctx: &mut BuildContext,
        tail: TailConfig,
        mut processor: ProcessorConfig,
        buffered: bool,
        discover: DiscoverFactory,
    ) {
        processor.telemetry = LogTelemetry::for_source(ctx, &processor);
        ctx.shared::<LogSources>().add(LogSource {
            tail,
            processor: Arc::new(processor),
            discover,
            buffered,
        });
    }
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSource")
            .field("source", &self.processor.source)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

/// The log sources built so far (a [`crate::component::BuildContext`] shared value).
#[derive(Debug, Default)]
pub struct LogSources(Mutex<Vec<Arc<LogSource>>>);

impl LogSources {
    /// Adds a source.
    pub fn add(&self, s: LogSource) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(s));
    }

    /// The sources, in the order they were added.
    pub fn list(&self) -> Vec<Arc<LogSource>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
