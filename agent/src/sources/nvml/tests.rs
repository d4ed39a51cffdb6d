use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::smi_xml::{XmlReader, parse};
use super::*;
use crate::event::{Family, MetricKind};
use crate::sources::Source;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpu")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(data_dir().join(name))
        .unwrap_or_else(|e| panic!("read fixture {name}: {e}"))
}

fn xml_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    names
}

/// The value of the one series of `name` whose labels include all of `want`.
fn value(fams: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let f = fams.iter().find(|f| f.name == name)?;
    let hits: Vec<f64> = f
        .metrics
        .iter()
        .filter(|m| want.iter().all(|(k, v)| m.labels.get(k) == Some(*v)))
        .filter_map(|m| m.value.as_scalar())
        .collect();
    assert!(
        hits.len() <= 1,
        "{name} {want:?}: {} series match",
        hits.len()
    );
    hits.first().copied()
}

fn render_fixture(name: &str) -> (GpuInventory, Vec<Family>) {
    let inv = parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let fams = families(&inv, "node-a", &HashMap::new(), &[]);
    (inv, fams)
}

fn config() -> NvmlConfig {
    NvmlConfig {
        hostname: Some("node-a".into()),
        pod_attribution: false,
        ..NvmlConfig::default()
    }
}

fn xml_loader(name: &str) -> (Arc<XmlReader>, Loader) {
    let reader = Arc::new(XmlReader::new(&fixture(name)).expect("fixture parses"));
    let r = Arc::clone(&reader);
    let loader: Loader = Arc::new(move || Ok(Arc::clone(&r) as Arc<dyn GpuReader>));
    (reader, loader)
}

#[test]
fn every_fixture_parses_and_renders_the_dcgm_families() {
    let names = xml_fixtures();
    assert!(names.len() >= 7, "fixtures: {names:?}");
    for name in names {
        let (inv, fams) = render_fixture(&name);
        assert!(!inv.gpus.is_empty(), "{name}: no GPU");
        assert_eq!(
            value(&fams, "nodewatch_gpu_devices", &[]),
            Some(inv.gpus.len() as f64)
        );
        for g in &inv.gpus {
            assert!(g.uuid.starts_with("GPU-"), "{name}: uuid {:?}", g.uuid);
            assert!(!g.name.is_empty(), "{name}: no product name");
            let l = [("gpu", "0"), ("UUID", g.uuid.as_str())];
            for fam in [
                "DCGM_FI_DEV_FB_USED",
                "DCGM_FI_DEV_FB_FREE",
                "DCGM_FI_DEV_SM_CLOCK",
                "DCGM_FI_DEV_MEM_CLOCK",
                "DCGM_FI_DEV_XID_ERRORS",
                "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
                "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
            ] {
                assert!(value(&fams, fam, &l).is_some(), "{name}: {fam} missing");
            }
            let used = g.memory.expect("fb memory").used_bytes as f64 / (1024.0 * 1024.0);
            assert_eq!(
                value(&fams, "DCGM_FI_DEV_FB_USED", &l),
                Some(used),
                "{name}"
            );
            assert_eq!(value(&fams, "nodewatch_gpu_present", &l), Some(1.0));
            for f in &fams {
                assert!(
                    DCGM_FAMILIES.contains(&f.name.as_str())
                        || f.name.starts_with("nodewatch_gpu_"),
                    "{name}: unexpected family {}",
                    f.name
                );
            }
        }
    }
}

#[test]
fn a100_80gb_values_come_from_the_capture() {
    let (inv, fams) = render_fixture("nvidia-smi-a100-sxm4-80gb.drv535.xml");
    assert_eq!(inv.gpus.len(), 1);
    let uuid = "GPU-513536b6-7d19-9063-b049-1e69664bb298";
    let l = [
        ("gpu", "0"),
        ("UUID", uuid),
        ("device", "nvidia1"),
        ("modelName", "NVIDIA A100-SXM4-80GB"),
        ("Hostname", "node-a"),
        ("DCGM_FI_DRIVER_VERSION", "535.54.03"),
    ];
    let v = |n| value(&fams, n, &l);
    assert_eq!(v("DCGM_FI_DEV_FB_USED"), Some(50.0));
    assert_eq!(v("DCGM_FI_DEV_FB_FREE"), Some(80999.0));
    assert_eq!(v("DCGM_FI_DEV_FB_TOTAL"), Some(81920.0));
    assert_eq!(v("DCGM_FI_DEV_GPU_TEMP"), Some(27.0));
    assert_eq!(v("DCGM_FI_DEV_MEMORY_TEMP"), Some(44.0));
    assert_eq!(v("DCGM_FI_DEV_POWER_USAGE"), Some(67.03));
    assert_eq!(v("DCGM_FI_DEV_SM_CLOCK"), Some(1275.0));
    assert_eq!(v("DCGM_FI_DEV_MEM_CLOCK"), Some(1593.0));
    assert_eq!(v("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"), Some(0.0));
    assert_eq!(v("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"), Some(0.0));
    assert_eq!(v("DCGM_FI_DEV_PCIE_REPLAY_COUNTER"), Some(0.0));
    assert_eq!(v("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"), Some(0.0));
    assert_eq!(v("DCGM_FI_DEV_XID_ERRORS"), Some(0.0));
    // nvidia-smi says N/A for these on this MIG-enabled GPU: no series rather than a made-up 0.
    assert_eq!(v("DCGM_FI_DEV_GPU_UTIL"), None);
    assert_eq!(v("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS"), None);
    // MIG: four 1g instances, GPU instance ids 3..=6, 12 MiB used of 19968 MiB each.
    assert_eq!(inv.gpus[0].mig_enabled, Some(true));
    for (i, gi) in [(0, "3"), (1, "4"), (2, "5"), (3, "6")] {
        let ml = [
            ("UUID", uuid),
            ("mig_device", &i.to_string()[..]),
            ("GPU_I_ID", gi),
        ];
        assert_eq!(
            value(&fams, "nodewatch_gpu_mig_memory_used_bytes", &ml),
            Some(12.0 * 1024.0 * 1024.0)
        );
        assert_eq!(
            value(&fams, "nodewatch_gpu_mig_memory_total_bytes", &ml),
            Some(19968.0 * 1024.0 * 1024.0)
        );
    }
}

#[test]
fn other_captures_give_their_own_readings() {
    // A10G (DTD v11): row remapping present, all zero, no failure; one process (Xorg).
    let (inv, fams) = render_fixture("nvidia-smi-a10g.drv515.xml");
    let l = [("gpu", "0")];
    assert_eq!(
        value(&fams, "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", &l),
        Some(0.0)
    );
    assert_eq!(
        value(&fams, "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", &l),
        Some(0.0)
    );
    assert_eq!(value(&fams, "DCGM_FI_DEV_ROW_REMAP_FAILURE", &l), Some(0.0));
    assert_eq!(value(&fams, "DCGM_FI_DEV_POWER_USAGE", &l), Some(25.58));
    assert_eq!(inv.gpus[0].processes.len(), 1);
    assert_eq!(inv.gpus[0].processes[0].pid, 725);
    assert_eq!(
        inv.gpus[0].processes[0].used_memory_bytes,
        Some(22 * 1024 * 1024)
    );

    // Quadro P400 on driver 418: the old throttle block says gpu_idle is Active (bit 0x1);
    // the old single_bit/double_bit ECC block is all N/A, so no ECC series.
    let (_, fams) = render_fixture("nvidia-smi-quadro-p400.drv418.xml");
    assert_eq!(
        value(&fams, "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", &l),
        Some(1.0)
    );
    assert_eq!(value(&fams, "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", &l), None);

    // RTX 3080 on the v13 schema: power is average_power_draw.
    let (_, fams) = render_fixture("nvidia-smi-rtx3080.drv595-v13.xml");
    assert_eq!(value(&fams, "DCGM_FI_DEV_POWER_USAGE", &l), Some(139.62));

    // Tesla T4: two processes, python with 1005 MiB.
    let (inv, _) = render_fixture("nvidia-smi-tesla-t4.drv515.xml");
    let py = inv.gpus[0]
        .processes
        .iter()
        .find(|p| p.pid == 5762)
        .expect("python");
    assert_eq!(py.used_memory_bytes, Some(1005 * 1024 * 1024));
    assert_eq!(py.kind, ProcessKind::Compute);
}

/// Label names and types of dcgm-exporter's real Tesla T4 scrape (the first, fully real part
/// of the DataDog capture) against ours for the T4 capture.
#[test]
fn labels_and_types_match_a_real_dcgm_exporter_scrape() {
    let text = fixture("dcgm-exporter-tesla-t4-a10g.datadog.metrics.txt");
    let real = crate::exposition::parse(&text, &crate::exposition::ParseLimits::default())
        .expect("dcgm-exporter text parses");
    let (_, ours) = render_fixture("nvidia-smi-tesla-t4.drv515.xml");
    let real_temp = real
        .iter()
        .find(|f| f.name == "DCGM_FI_DEV_GPU_TEMP")
        .expect("real GPU_TEMP");
    let mut want: BTreeSet<&str> = real_temp.metrics[0].labels.iter().map(|(k, _)| k).collect();
    // dcgm-exporter's own process name is not a property of the GPU.
    want.remove("DCGM_FI_PROCESS_NAME");
    let mut compared = 0;
    for f in &ours {
        if !f.name.starts_with("DCGM_") {
            continue;
        }
        let got: BTreeSet<&str> = f.metrics[0].labels.iter().map(|(k, _)| k).collect();
        assert_eq!(got, want, "{}: label names", f.name);
        if let Some(r) = real.iter().find(|r| r.name == f.name) {
            assert_eq!(r.kind, f.kind, "{}: type", f.name);
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} families compared");
}

#[test]
fn rendered_output_passes_promtool() {
    let mut all = Vec::new();
    for name in xml_fixtures() {
        let (_, fams) = render_fixture(&name);
        all.extend(fams);
    }
    all.extend(pod_families(&[PodUsage {
        gpu: 0,
        uuid: "GPU-x".into(),
        who: PodContainer {
            namespace: "ml".into(),
            pod: "trainer-0".into(),
            container: "main".into(),
        },
        memory_bytes: 1 << 20,
        utilization_ratio: Some(0.5),
    }]));
    // Lint findings allowed: names we keep on purpose, dcgm-exporter's (counters without `_total`,
    // `PCIE_REPLAY_COUNTER`, the camelCase `modelName` label) and `nodewatch_gpu_present`'s
    // `modelName` label, kept equal to dcgm-exporter's.
    crate::test_support::assert_promtool_accepts(all.iter(), |l| {
        let dcgm = l.starts_with("DCGM_FI_DEV_");
        (dcgm && l.contains("_total"))
            || ((dcgm || l.starts_with("nodewatch_gpu_")) && l.contains("camelCase"))
            || (l.starts_with("DCGM_FI_DEV_PCIE_REPLAY_COUNTER ") && l.contains("type 'counter'"))
    });
}

#[tokio::test]
async fn a_missing_library_is_not_present_not_an_error() {
    let missing = Path::new("/nonexistent/nodewatch-test/libnvidia-ml.so.1");
    let e = NvmlReader::load(Some(missing)).expect_err("no such library");
    assert!(matches!(e, GpuError::NotPresent(_)), "{e}");

    let cfg = NvmlConfig {
        library_path: Some(missing.to_path_buf()),
        ..config()
    };
    let src = NvmlSource::new(&cfg);
    for _ in 0..3 {
        let fams = src
            .collect()
            .await
            .expect("not present is a successful collection");
        assert_eq!(fams.len(), 1);
        assert_eq!(value(&fams, "nodewatch_gpu_devices", &[]), Some(0.0));
    }
    assert!(!src.present());

    // Loading is retried only after retry_load_secs, not every interval.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let loader: Loader = Arc::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
        Err(GpuError::NotPresent("test".into()))
    });
    let src = NvmlSource::with_loader(&config(), loader);
    for _ in 0..5 {
        src.collect().await.expect("ok");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // enabled = true makes a missing library a failed collection.
    let required = NvmlConfig {
        enabled: Enabled::On,
        library_path: Some(missing.to_path_buf()),
        ..config()
    };
    assert!(NvmlSource::new(&required).collect().await.is_err());
}

#[test]
fn enabled_accepts_auto_true_and_false() {
    let parse = |s: &str| crate::config::parse(s).map(|c| c.sources.nvml.enabled);
    assert_eq!(parse("").expect("empty"), Enabled::Auto);
    assert_eq!(
        parse("[sources.nvml]\nenabled = \"auto\"\n").expect("auto"),
        Enabled::Auto
    );
    assert_eq!(
        parse("[sources.nvml]\nenabled = true\n").expect("true"),
        Enabled::On
    );
    assert_eq!(
        parse("[sources.nvml]\nenabled = false\n").expect("false"),
        Enabled::Off
    );
    assert!(parse("[sources.nvml]\nenabled = \"maybe\"\n").is_err());
    assert!(parse("[sources.nvml]\nbogus = 1\n").is_err());
    let e = parse("[sources.nvml]\ninterval_secs = 1\ntimeout_ms = 5000\n").expect_err("timeout");
    assert!(e.to_string().contains("sources.nvml.timeout_ms"), "{e}");
}

#[tokio::test]
async fn xid_errors_keep_the_last_value_seen() {
    let (reader, loader) = xml_loader("nvidia-smi-tesla-t4.drv515.xml");
    let uuid = reader.inventory.gpus[0].uuid.clone();
    let src = NvmlSource::with_loader(&config(), loader);
    let l = [("UUID", uuid.as_str())];
    let fams = src.collect().await.expect("collect");
    assert_eq!(value(&fams, "DCGM_FI_DEV_XID_ERRORS", &l), Some(0.0));
    reader.xids.lock().expect("lock").extend([
        XidEvent {
            uuid: uuid.clone(),
            xid: 13,
        },
        XidEvent {
            uuid: uuid.clone(),
            xid: 79,
        },
    ]);
    let fams = src.collect().await.expect("collect");
    assert_eq!(value(&fams, "DCGM_FI_DEV_XID_ERRORS", &l), Some(79.0));
    let fams = src.collect().await.expect("collect");
    assert_eq!(
        value(&fams, "DCGM_FI_DEV_XID_ERRORS", &l),
        Some(79.0),
        "kept"
    );
}

/// A reader whose `read` blocks until the test lets it go.
#[derive(Debug)]
struct StuckReader {
    release: std::sync::Mutex<mpsc::Receiver<()>>,
    inner: XmlReader,
}

impl GpuReader for StuckReader {
    fn read(&self) -> Result<GpuInventory, GpuError> {
        let _ = self
            .release
            .lock()
            .expect("lock")
            .recv_timeout(Duration::from_secs(30));
        self.inner.read()
    }
    fn poll_xid(&self) -> Vec<XidEvent> {
        Vec::new()
    }
}

#[tokio::test]
async fn a_hung_read_is_not_stacked() {
    let (tx, rx) = mpsc::channel();
    let reader = Arc::new(StuckReader {
        release: std::sync::Mutex::new(rx),
        inner: XmlReader::new(&fixture("nvidia-smi-a10g.drv515.xml")).expect("parse"),
    });
    let loader: Loader = Arc::new(move || Ok(Arc::clone(&reader) as Arc<dyn GpuReader>));
    let src = NvmlSource::with_loader(&config(), loader);
    // The runner abandons the first collection at its timeout; the blocking read goes on.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), src.collect())
            .await
            .is_err()
    );
    let e = src.collect().await.expect_err("busy");
    assert!(e.to_string().contains("still running"), "{e}");
    tx.send(()).expect("release");
    // Once the read ends, the next collection runs.
    let mut ok = false;
    for _ in 0..200 {
        tx.send(()).ok();
        if let Ok(f) = src.collect().await {
            ok = value(&f, "nodewatch_gpu_devices", &[]) == Some(1.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "collection never recovered");
}

#[test]
fn cgroup_paths_of_every_driver_and_version() {
    let uid = "0c6f1bb4-8a3e-4bd1-9a8e-5b9c2e1d7f10";
    let id = "4f1c2a9b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
    let cases = [
        // cgroup v2, systemd driver, containerd
        format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id}.scope\n",
            uid.replace('-', "_")
        ),
        // cgroup v2, systemd, guaranteed (no QoS slice), CRI-O
        format!(
            "0::/kubepods.slice/kubepods-pod{}.slice/crio-{id}.scope\n",
            uid.replace('-', "_")
        ),
        // cgroup v1, cgroupfs driver
        format!(
            "12:pids:/kubepods/besteffort/pod{uid}/{id}\n11:memory:/kubepods/besteffort/pod{uid}/{id}\n1:name=systemd:/kubepods/besteffort/pod{uid}/{id}\n"
        ),
        // cgroup v1, systemd driver, docker
        format!(
            "4:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/docker-{id}.scope\n",
            uid.replace('-', "_")
        ),
    ];
    for c in &cases {
        let got = parse_cgroup(c).unwrap_or_else(|| panic!("no pod in {c}"));
        assert_eq!(got.pod_uid, uid, "{c}");
        assert_eq!(got.container_id.as_deref(), Some(id), "{c}");
    }
    assert_eq!(parse_cgroup("0::/system.slice/ssh.service\n"), None);
    assert_eq!(
        parse_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
        None
    );
    assert_eq!(parse_cgroup("garbage without colons\n"), None);
    let pod_only = parse_cgroup(&format!("0::/kubepods/pod{uid}\n")).expect("pod level");
    assert_eq!(pod_only.container_id, None);
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Two pods share the RTX 4000 of the capture (its four real processes). nvidia-smi -q has no
/// per-process utilisation, so the test gives each process an SM percentage to check the sums.
#[tokio::test]
async fn two_pods_sharing_one_gpu_are_attributed_apart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let proc_root = tmp.path().join("proc");
    let pods_root = tmp.path().join("var/log/pods");
    let containers_root = tmp.path().join("var/log/containers");
    let uid_a = "6a3e1f4c-2b7d-4e8a-9c1f-0d2b3a4c5e6f";
    let uid_b = "b7c8d9e0-1f2a-4b3c-8d4e-5f6a7b8c9d0e";
    let id_a = "a".repeat(64);
    let id_worker = "b1".repeat(32);
    let id_sidecar = "c2".repeat(32);
    // pid 4937: pod A, cgroup v2 with the systemd driver.
    write(
        &proc_root.join("4937/cgroup"),
        &format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id_a}.scope\n",
            uid_a.replace('-', "_")
        ),
    );
    // pid 34626: pod B's worker, cgroup v1 with the cgroupfs driver.
    write(
        &proc_root.join("34626/cgroup"),
        &format!("12:memory:/kubepods/burstable/pod{uid_b}/{id_worker}\n0::/\n"),
    );
    // pid 3190: also pod B's worker, cgroup v1 with the systemd driver.
    write(
        &proc_root.join("3190/cgroup"),
        &format!(
            "4:devices:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/docker-{id_worker}.scope\n",
            uid_b.replace('-', "_")
        ),
    );
    // pid 1842: a host process, in no pod.
    write(
        &proc_root.join("1842/cgroup"),
        "0::/system.slice/display-manager.service\n",
    );
    std::fs::create_dir_all(pods_root.join(format!("ml_trainer-a_{uid_a}/main"))).expect("mkdir");
    std::fs::create_dir_all(pods_root.join(format!("ml_server-b_{uid_b}/worker"))).expect("mkdir");
    std::fs::create_dir_all(pods_root.join(format!("ml_server-b_{uid_b}/sidecar"))).expect("mkdir");
    std::fs::create_dir_all(&containers_root).expect("mkdir");
    for (name, id) in [
        ("trainer-a_ml_main", &id_a),
        ("server-b_ml_worker", &id_worker),
        ("server-b_ml_sidecar", &id_sidecar),
    ] {
        std::fs::write(containers_root.join(format!("{name}-{id}.log")), "").expect("write");
    }

    let mut reader =
        XmlReader::new(&fixture("nvidia-smi-rtx4000-sff-ada.drv595-v13.xml")).expect("parse");
    let gpu = &mut reader.inventory.gpus[0];
    let pids: Vec<u32> = gpu.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [1842, 3190, 4937, 34626], "the capture's processes");
    for p in &mut gpu.processes {
        p.sm_util_percent = Some(match p.pid {
            4937 => 30.0,
            34626 => 20.0,
            3190 => 5.0,
            _ => 40.0,
        });
    }
    let uuid = gpu.uuid.clone();
    let reader = Arc::new(reader);
    let loader: Loader = Arc::new(move || Ok(Arc::clone(&reader) as Arc<dyn GpuReader>));
    let cfg = NvmlConfig {
        pod_attribution: true,
        proc_root,
        pod_logs_root: pods_root,
        container_logs_root: containers_root,
        ..config()
    };
    let fams = NvmlSource::with_loader(&cfg, loader)
        .collect()
        .await
        .expect("collect");
    let mib = 1024.0 * 1024.0;
    let a = [
        ("UUID", uuid.as_str()),
        ("namespace", "ml"),
        ("pod", "trainer-a"),
        ("container", "main"),
    ];
    let b = [
        ("UUID", uuid.as_str()),
        ("namespace", "ml"),
        ("pod", "server-b"),
        ("container", "worker"),
    ];
    // python (160 MiB) in pod A; code (451 MiB) + chromium (183 MiB) in pod B's worker.
    assert_eq!(
        value(&fams, "nodewatch_gpu_pod_memory_used_bytes", &a),
        Some(160.0 * mib)
    );
    assert_eq!(
        value(&fams, "nodewatch_gpu_pod_memory_used_bytes", &b),
        Some(634.0 * mib)
    );
    assert_eq!(
        value(&fams, "nodewatch_gpu_pod_utilization_ratio", &a),
        Some(0.30)
    );
    assert_eq!(
        value(&fams, "nodewatch_gpu_pod_utilization_ratio", &b),
        Some(0.25)
    );
    let pod_series = fams
        .iter()
        .find(|f| f.name == "nodewatch_gpu_pod_memory_used_bytes")
        .map_or(0, |f| f.metrics.len());
    assert_eq!(
        pod_series, 2,
        "the host process is in no pod; the sidecar uses no GPU"
    );
    assert!(fams.iter().all(|f| f.kind != MetricKind::Histogram));
}
