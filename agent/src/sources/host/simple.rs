//! The small collectors: `loadavg` (`/proc/loadavg`, parsed by `procfs`), `uname` and `time`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use procfs::{FromRead, LoadAverage};

use super::error::{HostError, parse_err, read_bounded};
use crate::event::{Family, Labels};

/// Parses `/proc/loadavg` with `procfs` and returns its three load averages.
pub(crate) fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let l = LoadAverage::from_read(text.as_bytes()).map_err(|e| format!("bad loadavg: {e}"))?;
    Ok([exact(l.one), exact(l.five), exact(l.fifteen)])
}

/// procfs keeps a load average as an `f32`; the kernel prints it with two decimals, and the
/// shortest text that round-trips an `f32` is that text again, so reading it back gives the `f64`
/// node_exporter parses (0.15, not 0.15000000596046448).
fn exact(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// `node_load1`, `node_load5`, `node_load15`.
pub(crate) fn loadavg_families(procfs: &Path) -> Result<Vec<Family>, HostError> {
    let path = procfs.join("loadavg");
    let text = read_bounded(&path, 4096)?;
    let [l1, l5, l15] = parse_loadavg(&text).map_err(|r| parse_err(&path, r))?;
    Ok(vec![
        Family::gauge("node_load1", "1m load average.").with(Labels::new(), l1),
        Family::gauge("node_load5", "5m load average.").with(Labels::new(), l5),
        Family::gauge("node_load15", "15m load average.").with(Labels::new(), l15),
    ])
}

/// `node_uname_info`.
pub(crate) fn uname_families() -> Vec<Family> {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    vec![
        Family::gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
        )
        .with(
            Labels::from_pairs([
                ("domainname", s(u.domainname())),
                ("machine", s(u.machine())),
                ("nodename", s(u.nodename())),
                ("release", s(u.release())),
                ("sysname", s(u.sysname())),
                ("version", s(u.version())),
            ]),
            1.0,
        ),
    ]
}

/// `node_time_seconds`, `node_time_zone_offset_seconds` and the clock source infos.
pub(crate) fn time_families(sysfs: &Path) -> Vec<Family> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut out = vec![
        Family::gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
        )
        .with(Labels::new(), now),
    ];
    let (zone, offset) = super::simple::local_zone(now as i64);
    out.push(
        Family::gauge(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
        )
        .with(Labels::new().with("time_zone", zone), offset as f64),
    );
    let mut available = Family::gauge(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
    );
    let mut current = Family::gauge(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
    );
    let base = sysfs.join("devices/system/clocksource");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten().take(64) {
            let name = entry.file_name();
            let Some(dev) = name.to_str().and_then(|n| n.strip_prefix("clocksource")) else {
                continue;
            };
            if dev.is_empty() || !dev.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(text) = read_bounded(&entry.path().join("available_clocksource"), 4096) {
                for cs in text.split_whitespace().take(64) {
                    available.push(
                        Labels::from_pairs([("clocksource", cs), ("device", dev)]),
                        1.0,
                    );
                }
            }
            if let Ok(text) = read_bounded(&entry.path().join("current_clocksource"), 4096) {
                let cs = text.trim();
                if !cs.is_empty() {
                    current.push(
                        Labels::from_pairs([("clocksource", cs), ("device", dev)]),
                        1.0,
                    );
                }
            }
        }
    }
    for f in [available, current] {
        if !f.metrics.is_empty() {
            out.push(f);
        }
    }
    out
}

/// The local time zone's abbreviation and UTC offset at `now`, from `$TZ` or `/etc/localtime`
/// (TZif). Without either, UTC, as Go (and so node_exporter) assumes.
pub(crate) fn local_zone(now: i64) -> (String, i64) {
    let path = match std::env::var("TZ") {
        Ok(tz) if !tz.is_empty() => {
            let tz = tz.trim_start_matches(':');
            if tz == "UTC" || tz.contains("..") {
                return ("UTC".to_string(), 0);
            }
            if tz.starts_with('/') {
                std::path::PathBuf::from(tz)
            } else {
                Path::new("/usr/share/zoneinfo").join(tz)
            }
        }
        _ => std::path::PathBuf::from("/etc/localtime"),
    };
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() <= 1024 * 1024 => {
            tzif_zone_at(&bytes, now).unwrap_or_else(|| ("UTC".to_string(), 0))
        }
        _ => ("UTC".to_string(), 0),
    }
}

/// Finds the zone abbreviation and offset at `now` in a TZif file: the type of the last
/// transition at or before `now` (Debian's tzdata is built "fat", so transitions run to 2037),
/// the first type when there are no transitions.
pub(crate) fn tzif_zone_at(data: &[u8], now: i64) -> Option<(String, i64)> {
    fn be32(d: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
    }
    fn be64(d: &[u8], at: usize) -> Option<i64> {
        Some(i64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
    }
    struct Header {
        isutcnt: usize,
        isstdcnt: usize,
        leapcnt: usize,
        timecnt: usize,
        typecnt: usize,
        charcnt: usize,
    }
    fn header(d: &[u8], at: usize) -> Option<Header> {
        if d.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let c = |i: usize| be32(d, at + 20 + 4 * i).map(|v| v as usize);
        Some(Header {
            isutcnt: c(0)?,
            isstdcnt: c(1)?,
            leapcnt: c(2)?,
            timecnt: c(3)?,
            typecnt: c(4)?,
            charcnt: c(5)?,
        })
    }
    let h1 = header(data, 0)?;
    let version = *data.get(4)?;
    let (h, base, tsize) = if version >= b'2' {
        let v1_len = h1.timecnt * 5
            + h1.typecnt * 6
            + h1.charcnt
            + h1.leapcnt * 8
            + h1.isstdcnt
            + h1.isutcnt;
        let at = 44 + v1_len;
        (header(data, at)?, at + 44, 8)
    } else {
        (h1, 44, 4)
    };
    if h.typecnt == 0 || h.timecnt > 100_000 || h.typecnt > 256 {
        return None;
    }
    let times_at = base;
    let idx_at = times_at + h.timecnt * tsize;
    let types_at = idx_at + h.timecnt;
    let chars_at = types_at + h.typecnt * 6;
    let mut ty = 0usize;
    for i in 0..h.timecnt {
        let t = if tsize == 8 {
            be64(data, times_at + i * 8)?
        } else {
            i64::from(be32(data, times_at + i * 4)? as i32)
        };
        if t > now {
            break;
        }
        ty = usize::from(*data.get(idx_at + i)?);
    }
    if ty >= h.typecnt {
        return None;
    }
    let rec = types_at + ty * 6;
    let utoff = i64::from(be32(data, rec)? as i32);
    let abbr_idx = usize::from(*data.get(rec + 5)?);
    let chars = data.get(chars_at..chars_at + h.charcnt)?;
    let abbr = chars.get(abbr_idx..)?;
    let end = abbr.iter().position(|&b| b == 0).unwrap_or(abbr.len());
    let name = String::from_utf8_lossy(&abbr[..end]).into_owned();
    Some((name, utoff))
}
