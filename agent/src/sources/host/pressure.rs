//! `/proc/pressure/{cpu,io,memory}` (PSI, parsed by `procfs`) -> `node_pressure_*`, as
//! node_exporter 1.5 names them (no `cpu` stalled series: node_exporter 1.5 has none).

use std::path::Path;

use procfs::FromBufRead;
use procfs::{CpuPressure, IoPressure, MemoryPressure};

use super::error::{HostError, parse_err, read_bounded};
use crate::event::{Family, Labels};

/// The `total=` microseconds of the `some` line and, for `io` and `memory`, the `full` line, parsed
/// by `procfs`. procfs slices each line after its 5-byte `some `/`full ` prefix, so the text must be
/// ASCII and end in a newline; anything else is refused here, as a parse error, not a panic.
pub(crate) fn parse_pressure(resource: &str, text: &str) -> Result<(u64, Option<u64>), String> {
    if !text.is_ascii() {
        return Err("not ASCII".to_string());
    }
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    let r = text.as_bytes();
    let err = |e: procfs::ProcError| format!("{resource} pressure: {e}");
    match resource {
        "cpu" => CpuPressure::from_buf_read(r)
            .map(|p| (p.some.total, None))
            .map_err(err),
        "io" => IoPressure::from_buf_read(r)
            .map(|p| (p.some.total, Some(p.full.total)))
            .map_err(err),
        "memory" => MemoryPressure::from_buf_read(r)
            .map(|p| (p.some.total, Some(p.full.total)))
            .map_err(err),
        other => Err(format!("unknown pressure resource {other:?}")),
    }
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
        let (some, full) = parse_pressure(res, &text).map_err(|r| parse_err(&path, r))?;
        out.push(
            Family::counter(
                format!("node_pressure_{res}_waiting_seconds_total"),
                waiting_help,
            )
            .with(Labels::new(), some as f64 / 1e6),
        );
        if let (Some(help), Some(v)) = (stalled_help, full) {
            out.push(
                Family::counter(format!("node_pressure_{res}_stalled_seconds_total"), help)
                    .with(Labels::new(), v as f64 / 1e6),
            );
        }
    }
    Ok(out)
}
