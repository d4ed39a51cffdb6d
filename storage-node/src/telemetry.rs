//! The log subscriber: one JSON object per line on stdout, and optionally appended to a file.

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Installs the global subscriber. Fails if the filter does not parse or the file cannot be opened.
pub fn init(level: &str, file: Option<&Path>) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(level).map_err(|e| format!("invalid log level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter);
    let result = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("open log file {}: {e}", path.display()))?;
            builder
                .with_writer(std::io::stdout.and(Mutex::new(f)))
                .try_init()
        }
        None => builder.with_writer(std::io::stdout).try_init(),
    };
    result.map_err(|e| format!("install log subscriber: {e}"))
}
