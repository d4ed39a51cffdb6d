use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::event::Family;
use crate::metrics::AgentMetrics;
use crate::sources::Source;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smartctl")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap_or_else(|e| panic!("read fixture {name}: {e}"))
}

fn exit_status(bytes: &[u8]) -> i32 {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("fixture is JSON");
    v.pointer("/smartctl/exit_status")
        .and_then(|x| x.as_i64())
        .unwrap_or(0) as i32
}

fn spec(name: &str, ty: Option<&str>) -> DeviceSpec {
    DeviceSpec {
        name: name.to_string(),
        device_type: ty.map(str::to_string),
    }
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
    (hits.len() == 1).then(|| hits[0])
}

fn parse_fixture(name: &str) -> Result<Vec<Family>, SmartctlError> {
    let bytes = fixture(name);
    device_families(&spec("/dev/sdx", None), exit_status(&bytes), &bytes)
}

#[test]
fn every_fixture_parses_without_panic() {
    let mut device_files = 0;
    let entries = std::fs::read_dir(data_dir()).expect("fixture dir");
    for e in entries {
        let path = e.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let bytes = std::fs::read(&path).expect("read");
        if name.starts_with("scan-") {
            let devs = parse_scan(&bytes, 256).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!devs.is_empty(), "{name}: no devices");
            continue;
        }
        device_files += 1;
        let status = exit_status(&bytes);
        let r = device_families(&spec("/dev/sdx", None), status, &bytes);
        if status & 0b11 != 0 {
            assert!(r.is_err(), "{name}: exit {status} must be a failed query");
        } else {
            let fams = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                value(&fams, "smartctl_device", &[("device", "sdx")]),
                Some(1.0),
                "{name}: smartctl_device"
            );
        }
    }
    assert!(device_files >= 20, "only {device_files} device fixtures");
}

#[test]
fn ata_reallocated_sectors_raw_304() {
    let f = parse_fixture("ata-hdd-seagate-st3500418as-realloc304.json").expect("parse");
    let realloc = value(
        &f,
        "smartctl_device_attribute",
        &[
            ("attribute_name", "Reallocated_Sector_Ct"),
            ("attribute_value_type", "raw"),
        ],
    );
    assert_eq!(realloc, Some(304.0));
    assert_eq!(
        value(
            &f,
            "smartctl_device_temperature",
            &[("temperature_type", "current")]
        ),
        Some(33.0)
    );
    assert_eq!(
        value(&f, "smartctl_device_power_on_seconds", &[]),
        Some(44668.0 * 3600.0)
    );
    assert_eq!(value(&f, "smartctl_device_smart_status", &[]), Some(1.0));
    assert_eq!(
        value(
            &f,
            "smartctl_device_interface_speed",
            &[("speed_type", "max")]
        ),
        Some(3.0e9)
    );
    let flags = value(
        &f,
        "smartctl_device_attribute",
        &[
            ("attribute_name", "Spin_Up_Time"),
            ("attribute_value_type", "value"),
            ("attribute_flags_short", "PO----"),
            ("attribute_flags_long", "prefailure,updated_online"),
            ("attribute_id", "3"),
        ],
    );
    assert_eq!(flags, Some(97.0));
}

#[test]
fn megaraid_disk_realloc_387_with_exit_4_still_parses() {
    let f = parse_fixture("megaraid-sat-wd4000fyyx-disk1-realloc387.a.json").expect("parse");
    assert_eq!(
        value(
            &f,
            "smartctl_device_attribute",
            &[
                ("attribute_name", "Reallocated_Sector_Ct"),
                ("attribute_value_type", "raw")
            ]
        ),
        Some(387.0)
    );
    assert_eq!(
        value(&f, "smartctl_device_smartctl_exit_status", &[]),
        Some(4.0)
    );
}

#[test]
fn nvme_media_errors_7() {
    let f = parse_fixture("nvme-samsung-970evo-500gb-media-errors.x.json").expect("parse");
    assert_eq!(value(&f, "smartctl_device_media_errors", &[]), Some(7.0));
    assert!(value(&f, "smartctl_device_percentage_used", &[]).is_some());
    assert!(value(&f, "smartctl_device_available_spare", &[]).is_some());
}

#[test]
fn nvme_critical_warning_16_and_failed_status() {
    let f = parse_fixture("nvme-samsung-mzwll3t2hajq-FAILED-critical-warning.json").expect("parse");
    assert_eq!(
        value(&f, "smartctl_device_critical_warning", &[]),
        Some(16.0)
    );
    assert_eq!(value(&f, "smartctl_device_smart_status", &[]), Some(0.0));
    assert_eq!(
        value(&f, "smartctl_device_available_spare", &[]),
        Some(100.0)
    );
    assert_eq!(
        value(&f, "smartctl_device_bytes_read", &[]),
        Some(146_935_678.0 * 512_000.0)
    );
}

#[test]
fn scsi_grown_defects_260_and_error_counters() {
    let f = parse_fixture("scsi-seagate-st373453lc-grown-defects-260.json").expect("parse");
    assert_eq!(
        value(&f, "smartctl_scsi_grown_defect_list", &[]),
        Some(260.0)
    );
    assert_eq!(
        value(&f, "smartctl_read_total_uncorrected_errors", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "smartctl_write_total_uncorrected_errors", &[]),
        Some(535.0)
    );
    assert_eq!(
        value(
            &f,
            "smartctl_write_errors_corrected_by_rereads_rewrites",
            &[]
        ),
        Some(1973.0)
    );
}

#[test]
fn failing_usb_disk_reports_failed_status() {
    let f = parse_fixture("usbjmicron-hdd-hitachi-hds721050dle630-FAILING.a.json").expect("parse");
    assert_eq!(value(&f, "smartctl_device_smart_status", &[]), Some(0.0));
    assert_eq!(
        value(
            &f,
            "smartctl_device_attribute",
            &[
                ("attribute_name", "Reallocated_Sector_Ct"),
                ("attribute_value_type", "raw")
            ]
        ),
        Some(1975.0)
    );
}

#[test]
fn open_failed_is_a_query_error() {
    let e = parse_fixture("win-open-failed-exit2.a.json").expect_err("must fail");
    assert!(e.to_string().contains("Open failed"), "{e}");
}

#[test]
fn truncated_json_is_an_error() {
    let bytes = fixture("ata-hdd-seagate-st3500418as-realloc304.json");
    let cut = &bytes[..bytes.len() / 2];
    let e = device_families(&spec("/dev/sda", None), 0, cut).expect_err("truncated");
    assert!(matches!(e, SmartctlError::Json { .. }), "{e}");
    assert!(parse_scan(&b"{\"devices\": ["[..], 10).is_err());
}

#[test]
fn scan_keeps_megaraid_types_and_labels_them_apart() {
    let devs = parse_scan(&fixture("scan-megaraid.telegraf.json"), 256).expect("scan");
    let raid: Vec<_> = devs
        .iter()
        .filter(|d| {
            d.device_type
                .as_deref()
                .is_some_and(|t| t.starts_with("megaraid,"))
        })
        .collect();
    assert_eq!(raid.len(), 7);
    assert!(raid.iter().all(|d| d.name == "/dev/bus/6"));
    assert_eq!(device_label(raid[0]), "bus_6_megaraid_8");
    let labels: std::collections::HashSet<_> = raid.iter().map(|d| device_label(d)).collect();
    assert_eq!(labels.len(), 7, "each RAID slot gets its own device label");
    assert_eq!(
        parse_scan(&fixture("scan-megaraid.telegraf.json"), 3)
            .map(|d| d.len())
            .ok(),
        Some(3)
    );
}

#[test]
fn standby_detection() {
    let standby = br#"{"smartctl":{"exit_status":2,"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]}}"#;
    assert!(standby_skipped(2, standby));
    assert!(!standby_skipped(0, standby));
    assert!(!standby_skipped(
        2,
        &fixture("win-open-failed-exit2.a.json")
    ));
}

/// Replays fixtures; devices map to (exit status, bytes) or an error.
#[derive(Debug)]
struct Replay {
    scan: Vec<u8>,
    devices: std::sync::Mutex<HashMap<String, Result<RawOutput, String>>>,
}

#[async_trait]
impl SmartReader for Replay {
    async fn scan(&self) -> Result<RawOutput, SmartctlError> {
        Ok(RawOutput {
            exit_status: 0,
            stdout: self.scan.clone(),
        })
    }
    async fn query(&self, d: &DeviceSpec, _wake: bool) -> Result<RawOutput, SmartctlError> {
        let g = self.devices.lock().expect("lock");
        match g.get(&d.name) {
            Some(Ok(r)) => Ok(r.clone()),
            Some(Err(m)) => Err(SmartctlError::Timeout {
                what: format!("{} {m}", d.name),
                timeout_ms: 1,
            }),
            None => Err(SmartctlError::Timeout {
                what: d.name.clone(),
                timeout_ms: 1,
            }),
        }
    }
}

#[tokio::test]
async fn failed_query_keeps_last_values_marked_stale() {
    let ok = fixture("ata-hdd-seagate-st3500418as-realloc304.json");
    let scan =
        br#"{"devices":[{"name":"/dev/sda","type":"sat"},{"name":"/dev/nvme0","type":"nvme"}]}"#;
    let mut devs = HashMap::new();
    devs.insert(
        "/dev/sda".to_string(),
        Ok(RawOutput {
            exit_status: 0,
            stdout: ok.clone(),
        }),
    );
    devs.insert(
        "/dev/nvme0".to_string(),
        Ok(RawOutput {
            exit_status: 0,
            stdout: fixture("nvme-samsung-970evo-500gb-media-errors.x.json"),
        }),
    );
    let reader = Arc::new(Replay {
        scan: scan.to_vec(),
        devices: std::sync::Mutex::new(devs),
    });
    let metrics = Arc::new(AgentMetrics::new());
    metrics.register("smartctl");
    let src =
        SmartctlSource::with_reader(&SmartctlConfig::default(), reader.clone(), metrics.clone());
    let first = src.collect().await.expect("collect");
    assert_eq!(
        value(&first, "smartctl_device_stale", &[("device", "sda")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &first,
            "smartctl_device_media_errors",
            &[("device", "nvme0")]
        ),
        Some(7.0)
    );

    // sda now returns truncated JSON, nvme0 times out.
    {
        let mut g = reader.devices.lock().expect("lock");
        g.insert(
            "/dev/sda".to_string(),
            Ok(RawOutput {
                exit_status: 0,
                stdout: ok[..100].to_vec(),
            }),
        );
        g.insert("/dev/nvme0".to_string(), Err("hung".to_string()));
    }
    let second = src.collect().await.expect("collect");
    assert_eq!(
        value(&second, "smartctl_device_stale", &[("device", "sda")]),
        Some(1.0)
    );
    assert_eq!(
        value(&second, "smartctl_device_stale", &[("device", "nvme0")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &second,
            "smartctl_device_attribute",
            &[
                ("device", "sda"),
                ("attribute_name", "Reallocated_Sector_Ct"),
                ("attribute_value_type", "raw")
            ]
        ),
        Some(304.0),
        "last values are kept"
    );
    assert_eq!(
        value(
            &second,
            "smartctl_device_media_errors",
            &[("device", "nvme0")]
        ),
        Some(7.0)
    );
    assert_eq!(
        metrics.parse_errors("smartctl"),
        1,
        "truncated JSON is counted"
    );
}

/// End to end through a real process: a fake `smartctl` script prints fixtures by device.
#[tokio::test]
async fn fake_smartctl_script_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = data_dir();
    let scan = r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0},"devices":[
{"name":"/dev/sda","info_name":"/dev/sda","type":"sat","protocol":"ATA"},
{"name":"/dev/sdb","info_name":"/dev/sdb","type":"sat","protocol":"ATA"},
{"name":"/dev/sdc","info_name":"/dev/sdc","type":"sat","protocol":"ATA"},
{"name":"/dev/bus/0","info_name":"/dev/bus/0 [megaraid_disk_01]","type":"megaraid,1","protocol":"SCSI"}]}"#;
    std::fs::write(dir.path().join("scan.json"), scan).expect("write scan");
    // A hand-written standby answer: no public capture of one exists (see fixtures/README.md).
    std::fs::write(
        dir.path().join("standby.json"),
        r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":2,"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]}}"#,
    )
    .expect("write standby");
    let script = format!(
        r#"#!/bin/sh
# Fake smartctl: prints a fixture chosen by the device argument.
for a in "$@"; do last="$a"; done
case " $* " in
  *" --scan-open "*) cat '{tmp}/scan.json'; exit 0 ;;
esac
case "$* " in
  *"-d megaraid,1 -- /dev/bus/0 "*) cat '{data}/megaraid-sat-wd4000fyyx-disk1-realloc387.a.json'; exit 4 ;;
esac
case "$last" in
  /dev/sda) cat '{data}/ata-hdd-seagate-st3500418as-realloc304.json'; exit 0 ;;
  /dev/sdb) cat '{tmp}/standby.json'; exit 2 ;;
  /dev/sdc) cat '{data}/win-open-failed-exit2.a.json'; exit 2 ;;
esac
echo '{{}}'; exit 1
"#,
        tmp = dir.path().display(),
        data = data.display()
    );
    let bin = dir.path().join("smartctl");
    std::fs::write(&bin, script).expect("write script");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    assert_eq!(resolve_binary(&bin), Some(bin.clone()));
    let metrics = Arc::new(AgentMetrics::new());
    let src = SmartctlSource::new(&SmartctlConfig::default(), bin, metrics).expect("build");
    let f = src.collect().await.expect("collect");
    assert_eq!(
        value(
            &f,
            "smartctl_device_attribute",
            &[
                ("device", "sda"),
                ("attribute_name", "Reallocated_Sector_Ct"),
                ("attribute_value_type", "raw")
            ]
        ),
        Some(304.0)
    );
    assert_eq!(
        value(
            &f,
            "smartctl_device_attribute",
            &[
                ("device", "bus_0_megaraid_1"),
                ("attribute_name", "Reallocated_Sector_Ct"),
                ("attribute_value_type", "raw")
            ]
        ),
        Some(387.0),
        "the megaraid type from the scan is passed back with -d"
    );
    assert_eq!(
        value(&f, "smartctl_device_stale", &[("device", "sda")]),
        Some(0.0)
    );
    assert_eq!(
        value(&f, "smartctl_device_stale", &[("device", "sdb")]),
        Some(1.0),
        "standby"
    );
    assert_eq!(
        value(&f, "smartctl_device_stale", &[("device", "sdc")]),
        Some(1.0),
        "open failed"
    );
    assert_eq!(
        value(&f, "smartctl_device", &[("device", "sdb")]),
        None,
        "standby disk never read"
    );
    assert!(f.iter().any(|x| x.name == "smartctl_version"));
}

#[tokio::test]
async fn hung_smartctl_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("smartctl");
    std::fs::write(&bin, "#!/bin/sh\nexec sleep 30\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let reader = CommandReader::new(bin, std::time::Duration::from_millis(200), 1 << 20);
    let start = std::time::Instant::now();
    let e = reader.scan().await.expect_err("must time out");
    assert!(matches!(e, SmartctlError::Timeout { .. }), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
