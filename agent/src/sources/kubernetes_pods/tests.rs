//! Unit tests: pod paths, discovery and labels.

use std::path::Path;

use super::*;
use crate::sources::tail::Discover;

#[test]
fn pod_paths_give_namespace_pod_uid_container() {
    let root = Path::new("/var/log/pods");
    let p = parse_pod_path(root, Path::new("/var/log/pods/kube-system_coredns-5d78c9869d-abcde_0b9d7c1e-1111-2222-3333-444455556666/coredns/0.log")).expect("ok");
    assert_eq!(p.namespace, "kube-system");
    assert_eq!(p.pod, "coredns-5d78c9869d-abcde");
    assert_eq!(p.uid, "0b9d7c1e-1111-2222-3333-444455556666");
    assert_eq!(p.container, "coredns");
    assert!(parse_pod_path(root, Path::new("/var/log/pods/ns_pod_uid/c/1.log.20240101-120000")).is_some());
    for bad in [
        "/var/log/pods/ns_pod_uid/c/0.log.20240101-120000.gz",
        "/var/log/pods/ns_pod_uid/c/0.log.tmp",
        "/var/log/pods/ns_pod_uid/c/app.log",
        "/var/log/pods/nounderscore/c/0.log",
        "/var/log/pods/ns_pod_uid/0.log",
        "/elsewhere/ns_pod_uid/c/0.log",
    ] {
        assert!(parse_pod_path(root, Path::new(bad)).is_none(), "{bad}");
    }
}

#[test]
fn discovery_labels_each_file_from_its_path() {
    let d = tempfile::tempdir().expect("ok");
    let dir = d.path().join("default_web-0_uid-1/nginx");
    std::fs::create_dir_all(&dir).expect("ok");
    std::fs::write(dir.join("0.log"), "").expect("ok");
    std::fs::write(dir.join("0.log.20240101-000000.gz"), "").expect("ok");
    let mut disc = PodsDiscover::new(d.path().to_path_buf(), "node-a".into(), Default::default());
    let specs = disc.discover();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].labels.rendered, r#"{container="nginx", namespace="default", node_name="node-a", pod="web-0"}"#);
}
