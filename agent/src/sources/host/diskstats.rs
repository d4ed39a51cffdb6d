//! `/proc/diskstats` -> `node_disk_*{device}` and `node_disk_info` (from the udev database),
//! with node_exporter's names, units and default device exclusion.

use std::collections::HashMap;
use std::path::Path;

use procfs::DiskStat;
use regex::Regex;

use super::error::read_bounded;
use crate::event::{Family, Labels};

/// Linux counts diskstats sectors in 512-byte units whatever the device's sector size.
const SECTOR_BYTES: f64 = 512.0;

/// Parses `/proc/diskstats` text; lines that do not parse are skipped and counted.
pub(crate) fn parse_diskstats(text: &str) -> (Vec<DiskStat>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match DiskStat::from_line(line) {
            Ok(d) => out.push(d),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

struct Spec {
    name: &'static str,
    help: &'static str,
    counter: bool,
    get: fn(&DiskStat) -> Option<f64>,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "node_disk_reads_completed_total",
        help: "The total number of reads completed successfully.",
        counter: true,
        get: |d| Some(d.reads as f64),
    },
    Spec {
        name: "node_disk_reads_merged_total",
        help: "The total number of reads merged.",
        counter: true,
        get: |d| Some(d.merged as f64),
    },
    Spec {
        name: "node_disk_read_bytes_total",
        help: "The total number of bytes read successfully.",
        counter: true,
        get: |d| Some(d.sectors_read as f64 * SECTOR_BYTES),
    },
    Spec {
        name: "node_disk_read_time_seconds_total",
        help: "The total number of seconds spent by all reads.",
        counter: true,
        get: |d| Some(d.time_reading as f64 / 1000.0),
    },
    Spec {
        name: "node_disk_writes_completed_total",
        help: "The total number of writes completed successfully.",
        counter: true,
        get: |d| Some(d.writes as f64),
    },
    Spec {
        name: "node_disk_writes_merged_total",
        help: "The number of writes merged.",
        counter: true,
        get: |d| Some(d.writes_merged as f64),
    },
    Spec {
        name: "node_disk_written_bytes_total",
        help: "The total number of bytes written successfully.",
        counter: true,
        get: |d| Some(d.sectors_written as f64 * SECTOR_BYTES),
    },
    Spec {
        name: "node_disk_write_time_seconds_total",
        help: "This is the total number of seconds spent by all writes.",
        counter: true,
        get: |d| Some(d.time_writing as f64 / 1000.0),
    },
    Spec {
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        counter: false,
        get: |d| Some(d.in_progress as f64),
    },
    Spec {
        name: "node_disk_io_time_seconds_total",
        help: "Total seconds spent doing I/Os.",
        counter: true,
        get: |d| Some(d.time_in_progress as f64 / 1000.0),
    },
    Spec {
        name: "node_disk_io_time_weighted_seconds_total",
        help: "The weighted # of seconds spent doing I/Os.",
        counter: true,
        get: |d| Some(d.weighted_time_in_progress as f64 / 1000.0),
    },
    Spec {
        name: "node_disk_discards_completed_total",
        help: "The total number of discards completed successfully.",
        counter: true,
        get: |d| d.discards.map(|v| v as f64),
    },
    Spec {
        name: "node_disk_discards_merged_total",
        help: "The total number of discards merged.",
        counter: true,
        get: |d| d.discards_merged.map(|v| v as f64),
    },
    Spec {
        name: "node_disk_discarded_sectors_total",
        help: "The total number of sectors discarded successfully.",
        counter: true,
        get: |d| d.sectors_discarded.map(|v| v as f64),
    },
    Spec {
        name: "node_disk_discard_time_seconds_total",
        help: "This is the total number of seconds spent by all discards.",
        counter: true,
        get: |d| d.time_discarding.map(|v| v as f64 / 1000.0),
    },
    Spec {
        name: "node_disk_flush_requests_total",
        help: "The total number of flush requests completed successfully",
        counter: true,
        get: |d| d.flushes.map(|v| v as f64),
    },
    Spec {
        name: "node_disk_flush_requests_time_seconds_total",
        help: "This is the total number of seconds spent by all flush requests.",
        counter: true,
        get: |d| d.time_flushing.map(|v| v as f64 / 1000.0),
    },
];

/// Reads `E:KEY=VALUE` properties of one block device from the udev database.
pub(crate) fn udev_properties(udev_data: &Path, major: i32, minor: i32) -> HashMap<String, String> {
    let path = udev_data.join(format!("b{major}:{minor}"));
    let Ok(text) = read_bounded(&path, 64 * 1024) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Families for the devices not excluded.
pub(crate) fn diskstats_families(
    disks: &[DiskStat],
    exclude: &Regex,
    udev_data: &Path,
) -> Vec<Family> {
    let mut fams: Vec<Family> = SPECS
        .iter()
        .map(|s| {
            if s.counter {
                Family::counter(s.name, s.help)
            } else {
                Family::gauge(s.name, s.help)
            }
        })
        .collect();
    let mut info = Family::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
    for d in disks {
        if exclude.is_match(&d.name) {
            continue;
        }
        let l = Labels::new().with("device", d.name.as_str());
        for (spec, fam) in SPECS.iter().zip(fams.iter_mut()) {
            if let Some(v) = (spec.get)(d) {
                fam.push(l.clone(), v);
            }
        }
        let props = udev_properties(udev_data, d.major, d.minor);
        let prop = |k: &str| props.get(k).cloned().unwrap_or_default();
        let serial = props
            .get("SCSI_IDENT_SERIAL")
            .cloned()
            .unwrap_or_else(|| prop("ID_SERIAL_SHORT"));
        info.push(
            Labels::from_pairs([
                ("device", d.name.clone()),
                ("major", d.major.to_string()),
                ("minor", d.minor.to_string()),
                ("model", prop("ID_MODEL")),
                ("path", prop("ID_PATH")),
                ("revision", prop("ID_REVISION")),
                ("serial", serial),
                ("wwn", prop("ID_WWN")),
            ]),
            1.0,
        );
    }
    fams.push(info);
    fams.retain(|f| !f.metrics.is_empty());
    fams
}
