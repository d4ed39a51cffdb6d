//! Per-pod attribution: a GPU process' pid -> `/proc/<pid>/cgroup` -> pod UID (and container
//! id) -> the kubelet's log directories -> namespace, pod and container. No API server calls.
//!
//! cgroup paths handled (v1 lines `N:controllers:/path` and v2 `0::/path`):
//! - systemd driver: `.../kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`
//!   (also `docker-<id>.scope`, `crio-<id>.scope`; guaranteed pods have no QoS slice);
//! - cgroupfs driver: `/kubepods/burstable/pod<uid>/<container id>`.
//!
//! Pod log directories are `<pod_logs_root>/<namespace>_<pod>_<uid>/<container>/`; container
//! log links are `<container_logs_root>/<pod>_<namespace>_<container>-<container id>.log`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::Path;

use super::snapshot::GpuInventory;

/// The most bytes read from one `/proc/<pid>/cgroup`.
const MAX_CGROUP_BYTES: u64 = 64 * 1024;
/// The most directory entries read from each log root.
const MAX_DIR_ENTRIES: usize = 20_000;
/// The most container directories read per pod.
const MAX_CONTAINERS_PER_POD: usize = 64;

/// A pod and container, named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodContainer {
    /// The namespace.
    pub namespace: String,
    /// The pod name.
    pub pod: String,
    /// The container name; empty when it cannot be told apart from the pod's other containers.
    pub container: String,
}

/// Where a process sits, read from its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPod {
    /// The pod UID, with dashes.
    pub pod_uid: String,
    /// The container id, when the path has one.
    pub container_id: Option<String>,
}

fn is_uid(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn is_container_id(s: &str) -> bool {
    (8..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Finds the pod (and container) in one cgroup path.
fn parse_path(path: &str) -> Option<CgroupPod> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for (i, seg) in segs.iter().enumerate() {
        let uid = if let Some(stem) = seg.strip_suffix(".slice") {
            // systemd: kubepods-burstable-pod<uid_>.slice, kubepods-pod<uid_>.slice
            match stem.rfind("-pod") {
                Some(p) if stem.starts_with("kubepods") => stem[p + 4..].replace('_', "-"),
                _ => continue,
            }
        } else if let Some(rest) = seg.strip_prefix("pod") {
            rest.to_string()
        } else {
            continue;
        };
        if !is_uid(&uid) {
            continue;
        }
        let container_id = segs.get(i + 1).and_then(|next| {
            let stem = next.strip_suffix(".scope").unwrap_or(next);
            let id = stem.rsplit_once('-').map_or(stem, |(_, id)| id);
            is_container_id(id).then(|| id.to_string())
        });
        return Some(CgroupPod {
            pod_uid: uid,
            container_id,
        });
    }
    None
}

/// Reads the text of `/proc/<pid>/cgroup` (v1 or v2) and returns the pod it names, if any.
pub fn parse_cgroup(text: &str) -> Option<CgroupPod> {
    let mut best: Option<CgroupPod> = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(found) = parse_path(path) {
            if found.container_id.is_some() {
                return Some(found);
            }
            best.get_or_insert(found);
        }
    }
    best
}

/// Pods and containers known to the kubelet on this node, from its log directories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodIndex {
    /// Pod UID -> (namespace, pod, container names).
    pods: HashMap<String, (String, String, Vec<String>)>,
    /// Container id -> (namespace, pod, container).
    containers: HashMap<String, PodContainer>,
}

impl PodIndex {
    /// Scans `<pod_logs_root>` and `<container_logs_root>`. Missing directories give an empty
    /// index (not a Kubernetes node).
    pub fn scan(pod_logs_root: &Path, container_logs_root: &Path) -> PodIndex {
        let mut idx = PodIndex::default();
        if let Ok(rd) = std::fs::read_dir(pod_logs_root) {
            for e in rd.take(MAX_DIR_ENTRIES).flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                // <namespace>_<pod>_<uid>: names never hold '_', so split from both ends.
                let Some((ns, rest)) = name.split_once('_') else {
                    continue;
                };
                let Some((pod, uid)) = rest.rsplit_once('_') else {
                    continue;
                };
                if ns.is_empty() || pod.is_empty() || !is_uid(uid) {
                    continue;
                }
                let mut containers: Vec<String> = std::fs::read_dir(e.path())
                    .map(|rd| {
                        rd.take(MAX_CONTAINERS_PER_POD)
                            .flatten()
                            .filter(|c| c.file_type().is_ok_and(|t| t.is_dir()))
                            .filter_map(|c| c.file_name().to_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                containers.sort();
                idx.pods.insert(
                    uid.to_string(),
                    (ns.to_string(), pod.to_string(), containers),
                );
            }
        }
        if let Ok(rd) = std::fs::read_dir(container_logs_root) {
            for e in rd.take(MAX_DIR_ENTRIES).flatten() {
                let name = e.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                    continue;
                };
                let Some((head, id)) = stem.rsplit_once('-') else {
                    continue;
                };
                let mut parts = head.splitn(3, '_');
                let (Some(pod), Some(ns), Some(container)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if !is_container_id(id) || container.contains('_') {
                    continue;
                }
                idx.containers.insert(
                    id.to_string(),
                    PodContainer {
                        namespace: ns.to_string(),
                        pod: pod.to_string(),
                        container: container.to_string(),
                    },
                );
            }
        }
        idx
    }

    /// How many pods the index knows.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Names the pod and container of a process' cgroup.
    pub fn resolve(&self, cg: &CgroupPod) -> Option<PodContainer> {
        let (ns, pod, containers) = self.pods.get(&cg.pod_uid)?;
        let by_id = cg
            .container_id
            .as_ref()
            .and_then(|id| self.containers.get(id))
            .filter(|c| &c.namespace == ns && &c.pod == pod);
        let container = match (by_id, containers.as_slice()) {
            (Some(c), _) => c.container.clone(),
            (None, [only]) => only.clone(),
            _ => String::new(),
        };
        Some(PodContainer {
            namespace: ns.clone(),
            pod: pod.clone(),
            container,
        })
    }
}

/// One container's use of one GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    /// The GPU's index.
    pub gpu: u32,
    /// The GPU's UUID.
    pub uuid: String,
    /// Who.
    pub who: PodContainer,
    /// GPU memory of all the container's processes on this GPU.
    pub memory_bytes: u64,
    /// SM utilisation of all its processes, as a ratio (0..1); `None` without samples.
    pub utilization_ratio: Option<f64>,
}

/// Reads one process' cgroup file under `proc_root` (bounded).
fn read_cgroup(proc_root: &Path, pid: u32) -> Option<String> {
    let f = std::fs::File::open(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    let mut text = String::new();
    f.take(MAX_CGROUP_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Attributes every GPU process to its pod and container, summing the processes of one
/// container on one GPU. Processes outside pods (or of pods the kubelet's directories do not
/// name) are left out. At most `max_processes` processes are looked at.
pub fn attribute(
    inv: &GpuInventory,
    proc_root: &Path,
    index: &PodIndex,
    max_processes: usize,
) -> Vec<PodUsage> {
    let mut sums: BTreeMap<(u32, String, PodContainer), (u64, Option<f64>)> = BTreeMap::new();
    let mut seen = 0usize;
    let mut cgroups: HashMap<u32, Option<CgroupPod>> = HashMap::new();
    for gpu in &inv.gpus {
        for p in &gpu.processes {
            if seen >= max_processes {
                break;
            }
            seen += 1;
            let cg = cgroups
                .entry(p.pid)
                .or_insert_with(|| read_cgroup(proc_root, p.pid).and_then(|t| parse_cgroup(&t)));
            let Some(who) = cg.as_ref().and_then(|cg| index.resolve(cg)) else {
                continue;
            };
            let e = sums
                .entry((gpu.index, gpu.uuid.clone(), who))
                .or_insert((0, None));
            e.0 += p.used_memory_bytes.unwrap_or(0);
            if let Some(u) = p.sm_util_percent {
                e.1 = Some(e.1.unwrap_or(0.0) + u);
            }
        }
    }
    sums.into_iter()
        .map(|((gpu, uuid, who), (mem, util))| PodUsage {
            gpu,
            uuid,
            who,
            memory_bytes: mem,
            utilization_ratio: util.map(|u| (u / 100.0).clamp(0.0, 1.0)),
        })
        .collect()
}
