use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{HostCollector, HostConfig};
use super::filesystem::{self, FsStats, StatFs, StatOutcome};
use super::{cpu, diskstats, meminfo, netdev, pressure, simple};
use crate::event::Family;
use crate::exposition::{ParseLimits, parse};

const STAT: &str = "cpu  100 2 30 400 5 0 6 7 0 0
cpu0 50 1 15 200 3 0 3 4 8 9
cpu2 50 1 15 200 2 0 3 3 0 0
intr 12345 1 2 3
ctxt 999
btime 1795224822
processes 4242
procs_running 3
procs_blocked 1
softirq 1 2 3
";

#[test]
fn stat_parses_cpus_with_their_numbers() {
    let s = cpu::parse_stat(STAT).expect("parse");
    assert_eq!(s.cpus.len(), 2);
    assert_eq!(s.cpus[1].cpu, "2", "offline CPU 1 leaves a gap, kept");
    assert_eq!(s.btime, Some(1_795_224_822));
    let fams = cpu::cpu_families(&s, 100.0);
    let secs = &fams[0];
    assert_eq!(secs.metrics.len(), 16);
    let idle = secs
        .metrics
        .iter()
        .find(|m| m.labels.get("cpu") == Some("0") && m.labels.get("mode") == Some("idle"))
        .and_then(|m| m.value.as_scalar());
    assert_eq!(idle, Some(2.0));
    let guest = fams[1]
        .metrics
        .iter()
        .find(|m| m.labels.get("cpu") == Some("0") && m.labels.get("mode") == Some("nice"))
        .and_then(|m| m.value.as_scalar());
    assert_eq!(guest, Some(0.09));
    let st = cpu::stat_families(&s);
    assert_eq!(st.len(), 6);
    assert!(cpu::parse_stat("cpu0 a b c\n").is_err());
    assert!(cpu::parse_stat("intr 1\n").is_err());
}

#[test]
fn meminfo_names_match_node_exporter() {
    let text = "MemTotal:       24684096 kB\nActive(anon):     1000 kB\nHugePages_Total:       0\n";
    let pairs = meminfo::parse_meminfo(text).expect("parse");
    assert_eq!(
        pairs,
        vec![
            (
                "node_memory_MemTotal_bytes".to_string(),
                24684096.0 * 1024.0
            ),
            ("node_memory_Active_anon_bytes".to_string(), 1000.0 * 1024.0),
            ("node_memory_HugePages_Total".to_string(), 0.0),
        ]
    );
    assert!(meminfo::parse_meminfo("garbage\n").is_err());
}

#[test]
fn netdev_parses_glued_names_and_excludes_lo() {
    let text = "Inter-|   Receive |  Transmit\n face |bytes packets\n    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0:123456789012 2 0 0 0 0 0 0 5 6 0 0 0 0 0 0\n";
    let devs = netdev::parse_net_dev(text).expect("parse");
    let eth0 = devs.iter().find(|d| d.name == "eth0").expect("eth0");
    assert_eq!(eth0.counters[0], 123_456_789_012);
    assert_eq!(eth0.counters[8], 5);
    let lo = devs.iter().find(|d| d.name == "lo").expect("lo");
    assert_eq!(lo.counters, std::array::from_fn(|i| i as u64 + 1));
    let re = regex::Regex::new("^lo$").expect("re");
    let fams = netdev::netdev_families(&devs, &re, Path::new("/nonexistent"));
    assert_eq!(fams.len(), 17);
    assert!(fams.iter().all(|f| f.metrics.len() == 1));
    assert!(netdev::parse_net_dev("a\nb\neth0: 1 2\n").is_err());
    assert!(netdev::parse_net_dev("a\nb\neth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n").is_err());
}

#[test]
fn pressure_and_loadavg() {
    let (some, full) = pressure::parse_pressure(
        "io",
        "some avg10=0.87 avg60=1.58 avg300=2.69 total=17364931\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
    )
    .expect("parse");
    assert_eq!((some, full), (17_364_931, Some(5)));
    let cpu = pressure::parse_pressure("cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=9");
    assert_eq!(cpu, Ok((9, None)), "no trailing newline still parses");
    assert!(pressure::parse_pressure("cpu", "nonsense").is_err());
    assert_eq!(
        simple::parse_loadavg("0.50 0.25 0.10 1/123 456\n").expect("parse"),
        [0.5, 0.25, 0.1]
    );
    // The same f64 node_exporter parses from the text, not the f32's widening.
    assert_eq!(
        simple::parse_loadavg("0.15 7.07 1234.56 3/4280 2496732\n").expect("parse"),
        [0.15, 7.07, 1234.56]
    );
    assert!(simple::parse_loadavg("0.5").is_err());
}

/// Hostile `/proc` content: every parser answers with an error, none panics.
#[test]
fn hostile_proc_text_is_an_error_not_a_panic() {
    let hostile = [
        "",
        "\n",
        "some",
        "full",
        "some\u{e9}\u{e9}\u{e9}",
        "some avg10=x avg60 total=-1",
        "\0\0\0",
        "cpu",
        ":",
        "a\nb\n:",
        "a\nb\nx: 99999999999999999999999 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
        "nan nan nan 1/2 3",
        "1 2",
        "intr x",
        "Active(anon): abc kB",
    ];
    for text in hostile {
        for res in ["cpu", "io", "memory"] {
            let _ = pressure::parse_pressure(res, text);
        }
        let _ = simple::parse_loadavg(text);
        let _ = netdev::parse_net_dev(text);
        let _ = cpu::parse_stat(text);
        let _ = meminfo::parse_meminfo(text);
        let _ = diskstats::parse_diskstats(text);
        let _ = filesystem::parse_mounts(text);
    }
    assert!(pressure::parse_pressure("cpu", "some").is_err());
    assert!(pressure::parse_pressure("memory", "some\u{e9}\u{e9}").is_err());
    assert!(pressure::parse_pressure("io", "some avg10=0 avg60=0 avg300=0 total=1\n").is_err());
    assert!(netdev::parse_net_dev("a\nb\n:").is_err());
}

/// A procfs tree with broken files: each broken collector reports `node_scrape_collector_success`
/// 0 and is counted in `nodewatch_agent_parse_errors_total{source="host"}`; the good ones succeed.
#[test]
fn bad_proc_files_are_counted_as_parse_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc_dir = dir.path();
    std::fs::create_dir_all(proc_dir.join("pressure")).expect("mkdir");
    std::fs::create_dir_all(proc_dir.join("net")).expect("mkdir");
    let write = |rel: &str, text: &str| std::fs::write(proc_dir.join(rel), text).expect("write");
    write("loadavg", "garbage\n");
    write("pressure/cpu", "some");
    write(
        "pressure/io",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2\n",
    );
    write(
        "pressure/memory",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=3\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=4\n",
    );
    write("net/dev", "h1\nh2\n  eth0: 1 2 3\n");
    write(
        "diskstats",
        "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\nnot a disk line\n",
    );
    write("meminfo", "MemTotal:       1000 kB\n");
    let metrics = Arc::new(crate::metrics::AgentMetrics::new());
    metrics.register("host");
    let source = super::HostSource::with_metrics(
        &HostConfig {
            collectors: vec![
                HostCollector::Loadavg,
                HostCollector::Pressure,
                HostCollector::Netdev,
                HostCollector::Diskstats,
                HostCollector::Meminfo,
            ],
            procfs_path: proc_dir.to_path_buf(),
            sysfs_path: proc_dir.join("nosys"),
            udev_data_path: proc_dir.join("noudev"),
            ..HostConfig::default()
        },
        Arc::clone(&metrics),
    )
    .expect("build");
    let fams = source.collect_blocking();
    let success: BTreeMap<String, f64> = fams
        .iter()
        .find(|f| f.name == "node_scrape_collector_success")
        .expect("success family")
        .metrics
        .iter()
        .filter_map(|m| Some((m.labels.get("collector")?.to_string(), m.value.as_scalar()?)))
        .collect();
    let want: BTreeMap<String, f64> = [
        ("diskstats", 1.0),
        ("loadavg", 0.0),
        ("meminfo", 1.0),
        ("netdev", 0.0),
        ("pressure", 0.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(success, want);
    // loadavg, pressure, netdev, and the one bad diskstats line.
    assert_eq!(metrics.parse_errors("host"), 4);
    assert!(
        fams.iter()
            .any(|f| f.name == "node_disk_reads_completed_total")
    );
    assert!(fams.iter().any(|f| f.name == "node_memory_MemTotal_bytes"));
}

#[test]
fn tzif_utc_and_fallbacks() {
    assert_eq!(simple::tzif_zone_at(b"garbage", 0), None);
    if let Ok(bytes) = std::fs::read("/usr/share/zoneinfo/UTC") {
        assert_eq!(
            simple::tzif_zone_at(&bytes, 1_700_000_000),
            Some(("UTC".to_string(), 0))
        );
    }
    if let Ok(bytes) = std::fs::read("/usr/share/zoneinfo/Asia/Tokyo") {
        assert_eq!(
            simple::tzif_zone_at(&bytes, 1_700_000_000),
            Some(("JST".to_string(), 9 * 3600))
        );
    }
}

#[test]
fn mounts_unescape_filter_and_dedup() {
    let text = "/dev/vda / ext4 rw,relatime 0 0\n\
/dev/vdb /data\\040dir xfs ro,noatime 0 0\n\
proc /proc proc rw 0 0\n\
tmpfs /run tmpfs rw 0 0\n\
overlay /x overlay rw 0 0\n\
/dev/vda / ext4 rw,relatime 0 0\n";
    let c = HostConfig::default();
    let filter = filesystem::FsFilter {
        mount_points_exclude: regex::Regex::new(&c.filesystem_mount_points_exclude).expect("re"),
        fs_types_exclude: regex::Regex::new(&c.filesystem_fs_types_exclude).expect("re"),
        rootfs: PathBuf::from("/"),
    };
    let m = filesystem::select_mounts(filesystem::parse_mounts(text), &filter);
    let points: Vec<_> = m.iter().map(|m| m.mount_point.as_str()).collect();
    assert_eq!(points, vec!["/", "/data dir"]);
}

/// A statfs that hangs on one path (until released) and answers on the others.
#[derive(Debug)]
struct HangOn {
    path: PathBuf,
    release: Arc<Mutex<bool>>,
}

impl StatFs for HangOn {
    fn statfs(&self, path: &Path) -> std::io::Result<FsStats> {
        if path == self.path {
            for _ in 0..500 {
                if self.release.lock().map(|g| *g).unwrap_or(true) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(FsStats {
            size: 100.0,
            free: 50.0,
            avail: 40.0,
            files: 10.0,
            files_free: 5.0,
        })
    }
}

#[test]
fn hung_mount_is_a_device_error_and_not_asked_again() {
    let release = Arc::new(Mutex::new(false));
    let statfs: Arc<dyn StatFs> = Arc::new(HangOn {
        path: PathBuf::from("/nfs"),
        release: Arc::clone(&release),
    });
    let stuck = Arc::new(Mutex::new(HashSet::new()));
    let paths = vec![PathBuf::from("/"), PathBuf::from("/nfs")];
    let start = std::time::Instant::now();
    let out = filesystem::stat_all(
        Arc::clone(&statfs),
        &paths,
        Duration::from_millis(100),
        &stuck,
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(out[0], StatOutcome::Ok(_)));
    assert_eq!(out[1], StatOutcome::Stuck);
    // Asked again while still hung: not re-run, reported stuck at once.
    let start = std::time::Instant::now();
    let out = filesystem::stat_all(
        Arc::clone(&statfs),
        &paths,
        Duration::from_millis(100),
        &stuck,
    );
    assert_eq!(out[1], StatOutcome::Stuck);
    assert!(
        start.elapsed() < Duration::from_millis(90),
        "stuck mount was asked again"
    );
    // Released: the thread clears the stuck mark, and the next round reads it.
    *release.lock().expect("lock") = true;
    for _ in 0..200 {
        if stuck.lock().expect("lock").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = filesystem::stat_all(statfs, &paths, Duration::from_millis(500), &stuck);
    assert!(matches!(out[1], StatOutcome::Ok(_)));
    let mounts = filesystem::parse_mounts("a / ext4 rw 0 0\nb /nfs nfs ro 0 0\n");
    let fams = filesystem::filesystem_families(
        &mounts,
        &[
            StatOutcome::Ok(FsStats {
                size: 1.0,
                free: 1.0,
                avail: 1.0,
                files: 1.0,
                files_free: 1.0,
            }),
            StatOutcome::Stuck,
        ],
    );
    let err = fams
        .iter()
        .find(|f| f.name == "node_filesystem_device_error")
        .expect("family");
    assert_eq!(err.metrics.len(), 2);
    let size = fams
        .iter()
        .find(|f| f.name == "node_filesystem_size_bytes")
        .expect("family");
    assert_eq!(size.metrics.len(), 1);
}

// ---- comparison with node_exporter ----

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get_blocking(port: u16, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Series = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn series(fams: &[Family], keep: &dyn Fn(&str) -> bool) -> Series {
    let mut out = BTreeMap::new();
    for f in fams.iter().filter(|f| keep(&f.name)) {
        for m in &f.metrics {
            let labels = m
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if let Some(v) = m.value.as_scalar() {
                out.insert((f.name.clone(), labels), v);
            }
        }
    }
    out
}

#[test]
fn same_names_labels_and_values_as_node_exporter() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "node_exporter is installed in CI"
    );
    let port = free_port();
    let collectors = [
        "cpu",
        "meminfo",
        "loadavg",
        "diskstats",
        "filesystem",
        "netdev",
        "pressure",
        "stat",
        "time",
        "uname",
    ];
    let mut cmd = std::process::Command::new(NODE_EXPORTER);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for c in collectors {
        cmd.arg(format!("--collector.{c}"));
    }
    let _child = Child(cmd.spawn().expect("start node_exporter"));
    let mut theirs_text = None;
    for _ in 0..100 {
        if let Some(t) = http_get_blocking(port, "/metrics") {
            theirs_text = Some(t);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let theirs_text = theirs_text.expect("node_exporter answered");
    let ours_fams = super::HostSource::new(&HostConfig {
        collectors: HostCollector::ALL.to_vec(),
        ..HostConfig::default()
    })
    .expect("build")
    .collect_blocking();
    let theirs_fams = parse(&theirs_text, &ParseLimits::default()).expect("parse node_exporter");

    let keep = |n: &str| n.starts_with("node_") && n != "node_exporter_build_info";
    let ours = series(&ours_fams, &keep);
    let theirs = series(&theirs_fams, &keep);

    // Same metric names and label sets.
    let key_set = |s: &Series| -> BTreeSet<(String, BTreeMap<String, String>)> {
        s.keys()
            .map(|(n, l)| {
                let mut l = l.clone();
                // Durations differ by nature; the label sets must still match.
                if n == "node_scrape_collector_duration_seconds" {
                    l.clear();
                }
                (n.clone(), l)
            })
            .collect()
    };
    let (ok, tk) = (key_set(&ours), key_set(&theirs));
    let only_ours: Vec<_> = ok.difference(&tk).collect();
    let only_theirs: Vec<_> = tk.difference(&ok).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "series differ\nonly ours: {only_ours:#?}\nonly node_exporter: {only_theirs:#?}"
    );

    // Values within tolerance.
    let mut bad = Vec::new();
    for ((name, labels), theirs_v) in &theirs {
        let Some(ours_v) = ours.get(&(name.clone(), labels.clone())) else {
            continue;
        };
        let (o, t) = (*ours_v, *theirs_v);
        let ok = if name.starts_with("node_scrape_collector_duration") {
            true
        } else if name == "node_boot_time_seconds"
            || name.ends_with("_info")
            || name == "node_time_zone_offset_seconds"
        {
            (o - t).abs() <= 1.0
        } else if name == "node_time_seconds" {
            (o - t).abs() < 30.0
        } else if name.starts_with("node_procs_") || name == "node_disk_io_now" {
            // Counts of what is in flight at the instant of the read (runnable processes, I/Os
            // queued): on a busy machine they change between the two reads by more than any fixed
            // tolerance, so only the series and a sane value are compared.
            o >= 0.0 && o.fract() == 0.0
        } else if name.starts_with("node_load") {
            // Load averages move slowly, but with the system's load between the two reads.
            (o - t).abs() <= 2.0 + 0.5 * t.abs()
        } else if name.starts_with("node_memory_") || name.starts_with("node_filesystem_") {
            (o - t).abs() <= 64.0 * 1024.0 * 1024.0 + 0.05 * t.abs()
        } else {
            // Counters: ours were read after theirs, within seconds.
            (o - t).abs() <= 0.05 * t.abs() + 1000.0 || (o >= t && o - t <= 0.2 * t.abs() + 1e6)
        };
        if !ok {
            bad.push(format!("{name}{labels:?}: ours {o} node_exporter {t}"));
        }
    }
    assert!(
        bad.is_empty(),
        "values out of tolerance:\n{}",
        bad.join("\n")
    );
    assert!(ours.len() > 100, "suspiciously few series: {}", ours.len());
}

#[test]
fn full_host_exposition_passes_promtool() {
    let fams = super::HostSource::new(&HostConfig::default())
        .expect("build")
        .collect_blocking();
    let mut own = crate::metrics::AgentMetrics::new().families();
    own.extend(fams);
    // Lint findings allowed: node_exporter's own camelCase meminfo names, which we reproduce on
    // purpose so dashboards keep working.
    crate::test_support::assert_promtool_accepts(own.iter(), |l| {
        l.starts_with("node_memory_") && l.contains("camelCase")
    });
}
