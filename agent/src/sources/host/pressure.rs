//! `/proc/pressure/{cpu,io,memory}` (PSI) -> `node_pressure_*`, as node_exporter 1.5 names them.

use std::path::Path;

use super::error::{HostError, parse_err, read_bounded};
use crate::event::{Family, Labels};

/// The `total=` microseconds of the `some` and `full` lines.
pub(crate) fn parse_pressure(text: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let total = words
            .find_map(|w| w.strip_prefix("total="))
            .map(|t| {
                t.parse::<u64>()
                    .map_err(|_| format!("bad total in {line:?}"))
            })
            .transpose()?;
        match kind {
            Some("some") => some = total,
            Some("full") => full = total,
            _ => {}
        }
    }
    if some.is_none() {
        return Err("no 'some' line".to_string());
    }
    Ok((some, full))
}

/// Reads the three PSI files. A missing `/proc/pressure` (PSI off in the kernel) is an error.
pub(crate) fn pressure_families(procfs: &Path) -> Result<Vec<Family>, HostError> {
    let mut out = Vec::new();
    let specs: [(&str, &str, Option<&str>); 3] = [
        (
            "cpu",
            "Total time in seconds that processes have waited for CPU time",
            None,
        ),
        (
            "io",
            "Total time in seconds that processes have waited due to IO congestion",
            Some("Total time in seconds no process could make progress due to IO congestion"),
        ),
        (
            "memory",
            "Total time in seconds that processes have waited for memory",
            Some("Total time in seconds no process could make progress due to memory congestion"),
        ),
    ];
    for (res, waiting_help, stalled_help) in specs {
        let path = procfs.join("pressure").join(res);
        let text = read_bounded(&path, 4096)?;
        let (some, full) = parse_pressure(&text).map_err(|r| parse_err(&path, r))?;
        if let Some(v) = some {
            out.push(
                Family::counter(
                    format!("node_pressure_{res}_waiting_seconds_total"),
                    waiting_help,
                )
                .with(Labels::new(), v as f64 / 1e6),
            );
        }
        if let (Some(help), Some(v)) = (stalled_help, full) {
            out.push(
                Family::counter(format!("node_pressure_{res}_stalled_seconds_total"), help)
                    .with(Labels::new(), v as f64 / 1e6),
            );
        }
    }
    Ok(out)
}
