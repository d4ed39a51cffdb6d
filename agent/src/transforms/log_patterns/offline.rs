//! `node-agent patterns FILE...`: the live transform ([`LogPatterns::process`]) over files, for
//! tuning and tests. Each file is one stream group (`filename`, like the files source); lines are
//! read as the tailer reads them (invalid UTF-8 replaced).

use std::io::{BufRead as _, Read as _, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::config::LogPatternsConfig;
use super::transform::LogPatterns;
use crate::logs::{LogEntry, Metadata, StreamLabels};
use crate::sinks::alertmanager::{AlertmanagerConfig, Links};
use crate::transforms::detect::AlertBook;

/// Entries handed to the transform at once (like a tailer's chunk).
const CHUNK: usize = 1024;
/// The longest line read (longer ones are cut, like the tailer's line bound).
const MAX_LINE: usize = 256 * 1024;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `count<TAB>id<TAB>template`, busiest first.
    Templates,
    /// One template id per input line, in input order.
    Assignments,
    /// The templates as a JSON array.
    Json,
}

/// What failed.
#[derive(Debug, thiserror::Error)]
pub enum PatternsError {
    /// A file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Output could not be written.
    #[error("write output: {0}")]
    Write(std::io::Error),
}

/// Mines `files` with `cfg` and prints the result.
pub fn run_patterns(
    cfg: &LogPatternsConfig,
    files: &[PathBuf],
    output: Output,
    out: &mut dyn Write,
) -> Result<(), PatternsError> {
    let mut cfg = cfg.clone();
    cfg.enabled = true;
    cfg.persist = false;
    let lp = LogPatterns::open(
        cfg,
        None,
        Links::new(&AlertmanagerConfig::default()),
        String::new(),
        Arc::new(AlertBook::new()),
    );
    let w = PatternsError::Write;
    for path in files {
        let stream = Arc::new(StreamLabels::new(vec![
            ("filename".to_string(), path.display().to_string()),
            ("job".to_string(), "files".to_string()),
        ]));
        let f = std::fs::File::open(path).map_err(|source| PatternsError::Read {
            path: path.clone(),
            source,
        })?;
        let mut r = std::io::BufReader::with_capacity(128 * 1024, f);
        let mut buf = Vec::new();
        let mut chunk: Vec<LogEntry> = Vec::with_capacity(CHUNK);
        loop {
            buf.clear();
            let n = r
                .by_ref()
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut buf)
                .map_err(|source| PatternsError::Read {
                    path: path.clone(),
                    source,
                })?;
            if n > 0 {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                chunk.push(LogEntry {
                    ts_ns: 0,
                    line: String::from_utf8_lossy(&buf).into_owned().into(),
                    stream: Arc::clone(&stream),
                    metadata: Metadata::new(),
                });
            }
            if chunk.len() >= CHUNK || (n == 0 && !chunk.is_empty()) {
                lp.process(&mut chunk);
                if output == Output::Assignments {
                    for e in &chunk {
                        let id = e.metadata.last().map_or("", |(_, v)| v.as_str());
                        writeln!(out, "{id}").map_err(w)?;
                    }
                }
                chunk.clear();
            }
            if n == 0 {
                break;
            }
        }
    }
    if output == Output::Assignments {
        return Ok(());
    }
    let g = lp.lock();
    let m = &g.miner;
    let mut all: Vec<_> = m.slab.iter().flatten().collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    match output {
        Output::Json => {
            let v: Vec<_> = all
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id_hex(),
                        "group": m.group(t.group).map(|g| g.key.to_string()),
                        "count": t.count,
                        "template": t.render(),
                        "examples": t.examples,
                        "level": t.level,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::Array(v)).map_err(w)?;
        }
        _ => {
            for t in all {
                writeln!(out, "{}\t{}\t{}", t.count, t.id_hex(), t.render()).map_err(w)?;
            }
            writeln!(
                out,
                "# {} templates, {} lines, {} bytes",
                m.live(),
                m.stats.lines,
                m.memory_bytes()
            )
            .map_err(w)?;
        }
    }
    Ok(())
}
