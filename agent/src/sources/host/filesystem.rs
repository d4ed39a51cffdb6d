//! Mounts -> `node_filesystem_*{device,fstype,mountpoint}`, as node_exporter 1.5 does it, with one
//! difference that matters: every `statfs` runs on its own thread with its own timeout, and a
//! mount whose `statfs` has not come back is reported as `node_filesystem_device_error 1` and not
//! asked again until its thread returns. A hung NFS server costs one series, never the scrape,
//! and never more than one stuck thread per mount.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::event::{Family, Labels};

/// The most mounts looked at in one collection.
const MAX_MOUNTS: usize = 4096;

/// One line of `/proc/1/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub options: String,
}

impl Mount {
    fn readonly(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Undoes the kernel's octal escapes in mount fields (`\040` is a space).
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mounts text (`/proc/mounts` format). Short lines are skipped.
pub(crate) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .take(MAX_MOUNTS)
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let (Some(device), Some(mp), Some(fs_type), Some(options)) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                return None;
            };
            Some(Mount {
                device: unescape_octal(device),
                mount_point: unescape_octal(mp),
                fs_type: fs_type.to_string(),
                options: options.to_string(),
            })
        })
        .collect()
}

/// The numbers `statfs` gives for one mount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FsStats {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// How one mount's `statfs` ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StatOutcome {
    Ok(FsStats),
    Failed,
    /// Did not answer within the timeout, or an earlier call still has not.
    Stuck,
}

/// Something that can `statfs` a path (a trait so tests can make a mount hang).
pub(crate) trait StatFs: Send + Sync + 'static {
    fn statfs(&self, path: &Path) -> std::io::Result<FsStats>;
}

/// The real `statfs(2)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SysStatFs;

impl StatFs for SysStatFs {
    fn statfs(&self, path: &Path) -> std::io::Result<FsStats> {
        let s = rustix::fs::statfs(path).map_err(std::io::Error::from)?;
        let bsize = s.f_bsize as f64;
        Ok(FsStats {
            size: s.f_blocks as f64 * bsize,
            free: s.f_bfree as f64 * bsize,
            avail: s.f_bavail as f64 * bsize,
            files: s.f_files as f64,
            files_free: s.f_ffree as f64,
        })
    }
}

/// Runs `statfs` on each path, each on its own thread, all bounded by `timeout`. Paths in `stuck`
/// are not asked again; a path that times out is added to `stuck` and removed by its own thread
/// when the call finally returns.
pub(crate) fn stat_all(
    statfs: Arc<dyn StatFs>,
    paths: &[PathBuf],
    timeout: Duration,
    stuck: &Arc<Mutex<HashSet<PathBuf>>>,
) -> Vec<StatOutcome> {
    let lock = |s: &Arc<Mutex<HashSet<PathBuf>>>| {
        s.lock()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    };
    let already_stuck = lock(stuck);
    let (tx, rx) = mpsc::channel::<(usize, std::io::Result<FsStats>)>();
    let mut outcomes = vec![StatOutcome::Stuck; paths.len()];
    let mut pending = 0usize;
    let mut spawned: Vec<(usize, Arc<Mutex<bool>>)> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        if already_stuck.contains(path) {
            continue;
        }
        let tx = tx.clone();
        let statfs = Arc::clone(&statfs);
        let path = path.clone();
        let stuck = Arc::clone(stuck);
        let abandoned = Arc::new(Mutex::new(false));
        let abandoned_t = Arc::clone(&abandoned);
        let spawn = std::thread::Builder::new()
            .name("statfs".to_string())
            .spawn(move || {
                let r = statfs.statfs(&path);
                let gave_up = abandoned_t.lock().map(|g| *g).unwrap_or(true);
                if gave_up {
                    tracing::info!(mount_point = %path.display(), "statfs of a stuck mount returned");
                    if let Ok(mut g) = stuck.lock() {
                        g.remove(&path);
                    }
                } else {
                    let _ = tx.send((i, r));
                }
            });
        match spawn {
            Ok(_) => {
                pending += 1;
                spawned.push((i, abandoned));
            }
            Err(_) => outcomes[i] = StatOutcome::Failed,
        }
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut answered = vec![false; paths.len()];
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, r)) => {
                pending -= 1;
                answered[i] = true;
                outcomes[i] = match r {
                    Ok(s) => StatOutcome::Ok(s),
                    Err(_) => StatOutcome::Failed,
                };
            }
            Err(_) => break,
        }
    }
    // Whatever has not answered is stuck: mark it so, under the same lock the thread checks.
    for (i, abandoned) in spawned {
        if answered[i] {
            continue;
        }
        if let Ok(mut g) = stuck.lock() {
            g.insert(paths[i].clone());
        }
        if let Ok(mut a) = abandoned.lock() {
            *a = true;
        }
        // The thread may have sent just before we flagged it; take that answer if so.
        while let Ok((j, r)) = rx.try_recv() {
            answered[j] = true;
            outcomes[j] = match r {
                Ok(s) => StatOutcome::Ok(s),
                Err(_) => StatOutcome::Failed,
            };
            if let Ok(mut g) = stuck.lock() {
                g.remove(&paths[j]);
            }
        }
        if !answered[i] {
            tracing::warn!(mount_point = %paths[i].display(), "statfs timed out; mark mount stuck");
        }
    }
    outcomes
}

/// Filesystem settings, compiled.
#[derive(Debug)]
pub(crate) struct FsFilter {
    pub mount_points_exclude: Regex,
    pub fs_types_exclude: Regex,
    pub rootfs: PathBuf,
}

/// The mounts to report: not excluded, deduplicated, with the rootfs prefix stripped.
pub(crate) fn select_mounts(mounts: Vec<Mount>, filter: &FsFilter) -> Vec<Mount> {
    let root = filter
        .rootfs
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mut m in mounts {
        if !root.is_empty() {
            if let Some(rest) = m.mount_point.strip_prefix(&root) {
                if rest.is_empty() {
                    m.mount_point = "/".to_string();
                } else if rest.starts_with('/') {
                    m.mount_point = rest.to_string();
                } else {
                    continue;
                }
            } else {
                continue;
            }
        }
        if filter.mount_points_exclude.is_match(&m.mount_point)
            || filter.fs_types_exclude.is_match(&m.fs_type)
        {
            continue;
        }
        if !seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())) {
            continue;
        }
        out.push(m);
    }
    out
}

/// Families for the selected mounts and their outcomes.
pub(crate) fn filesystem_families(mounts: &[Mount], outcomes: &[StatOutcome]) -> Vec<Family> {
    let mut size = Family::gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");
    let mut free = Family::gauge(
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
    );
    let mut avail = Family::gauge(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = Family::gauge("node_filesystem_files", "Filesystem total file nodes.");
    let mut files_free = Family::gauge(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
    );
    let mut readonly = Family::gauge("node_filesystem_readonly", "Filesystem read-only status.");
    let mut device_error = Family::gauge(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    );
    for (m, outcome) in mounts.iter().zip(outcomes) {
        let l = Labels::from_pairs([
            ("device", m.device.as_str()),
            ("fstype", m.fs_type.as_str()),
            ("mountpoint", m.mount_point.as_str()),
        ]);
        match outcome {
            StatOutcome::Ok(s) => {
                size.push(l.clone(), s.size);
                free.push(l.clone(), s.free);
                avail.push(l.clone(), s.avail);
                files.push(l.clone(), s.files);
                files_free.push(l.clone(), s.files_free);
                readonly.push(l.clone(), f64::from(u8::from(m.readonly())));
                device_error.push(l, 0.0);
            }
            StatOutcome::Failed | StatOutcome::Stuck => {
                device_error.push(l, 1.0);
            }
        }
    }
    vec![avail, device_error, files, files_free, free, readonly, size]
}
