//! Discovery under the pod logs root and the labels a path gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::logs::StreamLabels;
use crate::sources::tail::{Discover, FileSpec};

/// The most pod directories looked at in one discovery.
const MAX_PODS: usize = 10_000;

/// What a pod log path says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPath {
    /// The namespace.
    pub namespace: String,
    /// The pod name.
    pub pod: String,
    /// The pod UID.
    pub uid: String,
    /// The container name.
    pub container: String,
}

/// Parses `<root>/<namespace>_<pod>_<uid>/<container>/<file>`; `None` for anything else, and for
/// files that are not current or rotated plain logs (`0.log`, `0.log.20240101-120000`).
pub fn parse_pod_path(root: &Path, path: &Path) -> Option<PodPath> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.iter();
    let pod_dir = parts.next()?.to_str()?;
    let container = parts.next()?.to_str()?;
    let file = parts.next()?.to_str()?;
    if parts.next().is_some() || !is_log_file(file) {
        return None;
    }
    let (namespace, rest) = pod_dir.split_once('_')?;
    let (pod, uid) = rest.rsplit_once('_')?;
    if namespace.is_empty() || pod.is_empty() || uid.is_empty() || container.is_empty() {
        return None;
    }
    Some(PodPath {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        uid: uid.to_string(),
        container: container.to_string(),
    })
}

fn is_log_file(name: &str) -> bool {
    let Some((num, rest)) = name.split_once(".log") else {
        return false;
    };
    !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && (rest.is_empty()
            || (rest.starts_with('.') && !rest.ends_with(".gz") && !rest.ends_with(".tmp")))
}

/// Finds the files of the `kubernetes_pods` source.
#[derive(Debug)]
pub struct PodsDiscover {
    root: PathBuf,
    node_name: String,
    labels: BTreeMap<String, String>,
    cache: BTreeMap<PathBuf, Arc<StreamLabels>>,
    api: Option<super::api::PodApi>,
}

impl PodsDiscover {
    /// Discovery under `root`, labelling with `node_name` and the static labels.
    pub fn new(root: PathBuf, node_name: String, labels: BTreeMap<String, String>) -> Self {
        PodsDiscover {
            root,
            node_name,
            labels,
            cache: BTreeMap::new(),
            api: None,
        }
    }

    /// Also copies pod labels from the Kubernetes API onto each pod's streams.
    pub fn with_api(mut self, api: super::api::PodApi) -> Self {
        self.api = Some(api);
        self
    }

    fn labels_for(&mut self, p: &PodPath) -> Arc<StreamLabels> {
        // A later pair wins a name clash (`StreamLabels::new`): the pod's own labels come first,
        // so neither they nor the static labels can replace what the path says.
        let mut pairs: Vec<(String, String)> = match &mut self.api {
            Some(api) => api.labels(p),
            None => Vec::new(),
        };
        pairs.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        pairs.push(("namespace".into(), p.namespace.clone()));
        pairs.push(("pod".into(), p.pod.clone()));
        pairs.push(("container".into(), p.container.clone()));
        pairs.push(("node_name".into(), self.node_name.clone()));
        Arc::new(StreamLabels::new(pairs))
    }
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.flatten().take(MAX_PODS).map(|e| e.path()).collect();
    v.sort();
    v
}

impl Discover for PodsDiscover {
    fn discover(&mut self) -> Vec<FileSpec> {
        let mut out = Vec::new();
        for pod_dir in read_dir_sorted(&self.root) {
            for container_dir in read_dir_sorted(&pod_dir) {
                for file in read_dir_sorted(&container_dir) {
                    let Some(pp) = parse_pod_path(&self.root, &file) else {
                        continue;
                    };
                    let labels = match self.cache.get(&file) {
                        Some(l) => Arc::clone(l),
                        None => {
                            let l = self.labels_for(&pp);
                            self.cache.insert(file.clone(), Arc::clone(&l));
                            l
                        }
                    };
                    out.push(FileSpec { path: file, labels });
                }
            }
        }
        let keep: std::collections::HashSet<&PathBuf> = out.iter().map(|s| &s.path).collect();
        self.cache.retain(|p, _| keep.contains(p));
        out
    }
}

pub use crate::node::node_name;
