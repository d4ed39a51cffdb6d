//! The `kubernetes_pods` log source: discovers
//! `<root>/<namespace>_<pod>_<uid>/<container>/<n>.log` (and kubelet's rotated `<n>.log.<time>`,
//! not the `.gz` ones), labels entries with `namespace`, `pod`, `container`, `node_name` and the
//! container `stream` (and, optionally, pod labels from the Kubernetes API: `api`), and parses the CRI or docker json-file format with partial lines joined.

mod api;
mod config;
mod source;

pub use api::{PodApi, PodApiConfig, label_name, pick};
pub use config::KubernetesPodsConfig;
pub use source::{PodPath, PodsDiscover, node_name, parse_pod_path};

#[cfg(test)]
mod tests;
