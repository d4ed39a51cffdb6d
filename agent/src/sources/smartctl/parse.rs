//! smartctl JSON -> smartctl_exporter's families.

use serde_json::Value as Json;

use super::error::SmartctlError;
use crate::event::{Family, Labels};

/// A device to query: what `--scan-open` lists, or what the config names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    /// The device path (`/dev/sda`, `/dev/bus/6`).
    pub name: String,
    /// The `-d` type (`sat`, `nvme`, `megaraid,14`, `cciss,2`), when known.
    pub device_type: Option<String>,
}

/// The `device` label: the path without `/dev/`, with a RAID slot appended, `/` made `_`
/// (`/dev/bus/6 -d megaraid,14` -> `bus_6_megaraid_14`).
pub fn device_label(spec: &DeviceSpec) -> String {
    let mut s = spec.name.trim_start_matches("/dev/").to_string();
    if let Some(t) = &spec.device_type
        && (t.starts_with("megaraid,") || t.starts_with("cciss,") || t.contains('+'))
    {
        let slot = t.rsplit('+').next().unwrap_or(t);
        s.push('_');
        s.push_str(slot);
    }
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn parse_json(what: &str, bytes: &[u8]) -> Result<Json, SmartctlError> {
    serde_json::from_slice(bytes).map_err(|source| SmartctlError::Json {
        what: what.to_string(),
        source,
    })
}

/// Reads `smartctl --scan[-open] -j` output. Devices whose open failed are skipped.
pub fn parse_scan(bytes: &[u8], max_devices: usize) -> Result<Vec<DeviceSpec>, SmartctlError> {
    let v = parse_json("scan", bytes)?;
    let mut out = Vec::new();
    let Some(devices) = v.get("devices").and_then(Json::as_array) else {
        return Ok(out);
    };
    for d in devices {
        let Some(name) = d.get("name").and_then(Json::as_str) else {
            continue;
        };
        if name.is_empty() || name.starts_with('-') || d.get("open_error").is_some() {
            continue;
        }
        let device_type = d
            .get("type")
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty() && !t.starts_with('-') && !t.contains(char::is_whitespace))
            .map(str::to_string);
        let spec = DeviceSpec {
            name: name.to_string(),
            device_type,
        };
        if !out.contains(&spec) {
            out.push(spec);
        }
        if out.len() >= max_devices {
            tracing::warn!(max_devices, "scan lists more devices than max_devices; cut");
            break;
        }
    }
    Ok(out)
}

fn messages(v: &Json) -> Vec<String> {
    v.pointer("/smartctl/messages")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("string").and_then(Json::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether smartctl skipped the device because it is in a low-power mode (`-n standby`).
pub fn standby_skipped(exit_status: i32, stdout: &[u8]) -> bool {
    if exit_status < 0 || exit_status & 0b10 == 0 {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<Json>(stdout) else {
        return false;
    };
    messages(&v).iter().any(|m| {
        let m = m.to_ascii_uppercase();
        m.contains("STANDBY") || m.contains("SLEEP") || m.contains("IDLE MODE")
    })
}

struct Out {
    device: String,
    fams: Vec<Family>,
}

impl Out {
    fn gauge(&mut self, name: &str, help: &str, extra: &[(&str, &str)], v: f64) {
        let mut l = Labels::new().with("device", self.device.as_str());
        for (k, val) in extra {
            l.insert(*k, *val);
        }
        match self.fams.iter_mut().find(|f| f.name == name) {
            Some(f) => f.push(l, v),
            None => self.fams.push(Family::gauge(name, help).with(l, v)),
        }
    }
}

fn num(v: &Json, ptr: &str) -> Option<f64> {
    let x = v.pointer(ptr)?;
    x.as_f64()
        .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
}

fn text(v: &Json, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn attribute_flags_long(flags: &Json) -> String {
    [
        "prefailure",
        "updated_online",
        "performance",
        "error_rate",
        "event_count",
        "auto_keep",
    ]
    .iter()
    .filter(|f| flags.get(**f).and_then(Json::as_bool) == Some(true))
    .copied()
    .collect::<Vec<_>>()
    .join(",")
}

/// Turns one device's `smartctl -j -x` output into families, each series labelled
/// `device=<label>`. Fails only when the output is not JSON or smartctl says the query failed;
/// a missing section just means fewer families.
pub fn device_families(
    spec: &DeviceSpec,
    exit_status: i32,
    stdout: &[u8],
) -> Result<Vec<Family>, SmartctlError> {
    let what = spec.name.as_str();
    let v = parse_json(what, stdout)?;
    if !v.is_object() {
        return Err(SmartctlError::Query {
            what: what.to_string(),
            status: exit_status,
            message: "output is not a JSON object".to_string(),
        });
    }
    if exit_status < 0 || exit_status & 0b11 != 0 {
        return Err(SmartctlError::Query {
            what: what.to_string(),
            status: exit_status,
            message: messages(&v).into_iter().next().unwrap_or_default(),
        });
    }
    let mut o = Out {
        device: device_label(spec),
        fams: Vec::new(),
    };

    o.gauge(
        "smartctl_device",
        "Device info",
        &[
            ("interface", &text(&v, "/device/type")),
            ("protocol", &text(&v, "/device/protocol")),
            ("model_family", &text(&v, "/model_family")),
            ("model_name", &text(&v, "/model_name")),
            ("serial_number", &text(&v, "/serial_number")),
            (
                "ata_additional_product_id",
                &text(&v, "/ata_additional_product_id"),
            ),
            ("firmware_version", &text(&v, "/firmware_version")),
            ("ata_version", &text(&v, "/ata_version/string")),
            ("sata_version", &text(&v, "/sata_version/string")),
            ("form_factor", &text(&v, "/form_factor/name")),
        ],
        1.0,
    );
    o.gauge(
        "smartctl_device_smartctl_exit_status",
        "Exit status of smartctl on device",
        &[],
        f64::from(exit_status),
    );
    if let Some(passed) = v.pointer("/smart_status/passed").and_then(Json::as_bool) {
        o.gauge(
            "smartctl_device_smart_status",
            "General smart status",
            &[],
            f64::from(u8::from(passed)),
        );
    }
    if let Some(x) = num(&v, "/user_capacity/blocks") {
        o.gauge(
            "smartctl_device_capacity_blocks",
            "Device capacity in blocks",
            &[],
            x,
        );
    }
    if let Some(x) = num(&v, "/user_capacity/bytes") {
        o.gauge(
            "smartctl_device_capacity_bytes",
            "Device capacity in bytes",
            &[],
            x,
        );
    }
    for (t, ptr) in [
        ("logical", "/logical_block_size"),
        ("physical", "/physical_block_size"),
    ] {
        if let Some(x) = num(&v, ptr) {
            o.gauge(
                "smartctl_device_block_size",
                "Device block size",
                &[("blocks_type", t)],
                x,
            );
        }
    }
    for t in ["max", "current"] {
        if let (Some(u), Some(b)) = (
            num(&v, &format!("/interface_speed/{t}/units_per_second")),
            num(&v, &format!("/interface_speed/{t}/bits_per_unit")),
        ) {
            o.gauge(
                "smartctl_device_interface_speed",
                "Device interface speed, bits per second",
                &[("speed_type", t)],
                u * b,
            );
        }
    }
    if let Some(x) = num(&v, "/rotation_rate") {
        o.gauge(
            "smartctl_device_rotation_rate",
            "Device rotation rate",
            &[],
            x,
        );
    }
    if let Some(h) = num(&v, "/power_on_time/hours") {
        let m = num(&v, "/power_on_time/minutes").unwrap_or(0.0);
        o.gauge(
            "smartctl_device_power_on_seconds",
            "Device power on seconds",
            &[],
            h * 3600.0 + m * 60.0,
        );
    }
    if let Some(x) = num(&v, "/power_cycle_count") {
        o.gauge(
            "smartctl_device_power_cycle_count",
            "Device power cycle count",
            &[],
            x,
        );
    }
    if let Some(temps) = v.get("temperature").and_then(Json::as_object) {
        for (k, t) in temps.iter().take(16) {
            if let Some(t) = t.as_f64() {
                o.gauge(
                    "smartctl_device_temperature",
                    "Device temperature celsius",
                    &[("temperature_type", k.as_str())],
                    t,
                );
            }
        }
    }

    // ATA attributes.
    if let Some(table) = v
        .pointer("/ata_smart_attributes/table")
        .and_then(Json::as_array)
    {
        for a in table.iter().take(256) {
            let name = text(a, "/name");
            let id = text(a, "/id");
            let flags = a.get("flags").cloned().unwrap_or(Json::Null);
            let short = text(&flags, "/string").trim().to_string();
            let long = attribute_flags_long(&flags);
            for (vt, ptr) in [
                ("value", "/value"),
                ("worst", "/worst"),
                ("thresh", "/thresh"),
                ("raw", "/raw/value"),
            ] {
                if let Some(x) = num(a, ptr) {
                    o.gauge(
                        "smartctl_device_attribute",
                        "Device attributes",
                        &[
                            ("attribute_name", &name),
                            ("attribute_flags_short", &short),
                            ("attribute_flags_long", &long),
                            ("attribute_value_type", vt),
                            ("attribute_id", &id),
                        ],
                        x,
                    );
                }
            }
        }
    }
    for (t, ptr) in [
        ("summary", "/ata_smart_error_log/summary/count"),
        ("extended", "/ata_smart_error_log/extended/count"),
    ] {
        if let Some(x) = num(&v, ptr) {
            o.gauge(
                "smartctl_device_error_log_count",
                "Device SMART error log count",
                &[("error_log_type", t)],
                x,
            );
        }
    }
    for t in ["standard", "extended"] {
        if let Some(x) = num(&v, &format!("/ata_smart_self_test_log/{t}/count")) {
            o.gauge(
                "smartctl_device_self_test_log_count",
                "Device SMART self test log count",
                &[("self_test_log_type", t)],
                x,
            );
        }
        if let Some(x) = num(
            &v,
            &format!("/ata_smart_self_test_log/{t}/error_count_total"),
        ) {
            o.gauge(
                "smartctl_device_self_test_log_error_count",
                "Device SMART self test log error count",
                &[("self_test_log_type", t)],
                x,
            );
        }
    }

    // NVMe health log.
    if let Some(log) = v.get("nvme_smart_health_information_log") {
        let rows: [(&str, &str, &str); 6] = [
            (
                "smartctl_device_critical_warning",
                "This field indicates critical warnings for the state of the controller",
                "/critical_warning",
            ),
            (
                "smartctl_device_available_spare",
                "Normalized percentage (0 to 100%) of the remaining spare capacity available",
                "/available_spare",
            ),
            (
                "smartctl_device_available_spare_threshold",
                "Normalized percentage (0 to 100%) below which the available spare raises an event",
                "/available_spare_threshold",
            ),
            (
                "smartctl_device_percentage_used",
                "Device write percentage used",
                "/percentage_used",
            ),
            (
                "smartctl_device_media_errors",
                "Unrecovered data integrity errors the controller detected",
                "/media_errors",
            ),
            (
                "smartctl_device_num_err_log_entries",
                "Error Information log entries over the life of the controller",
                "/num_err_log_entries",
            ),
        ];
        for (name, help, ptr) in rows {
            if let Some(x) = num(log, ptr) {
                o.gauge(name, help, &[], x);
            }
        }
        // NVMe data units are 1000 blocks of 512 bytes.
        if let Some(x) = num(log, "/data_units_read") {
            o.gauge(
                "smartctl_device_bytes_read",
                "Bytes read from the device",
                &[],
                x * 512_000.0,
            );
        }
        if let Some(x) = num(log, "/data_units_written") {
            o.gauge(
                "smartctl_device_bytes_written",
                "Bytes written to the device",
                &[],
                x * 512_000.0,
            );
        }
        if v.get("power_on_time").is_none()
            && let Some(h) = num(log, "/power_on_hours")
        {
            o.gauge(
                "smartctl_device_power_on_seconds",
                "Device power on seconds",
                &[],
                h * 3600.0,
            );
        }
        if v.get("power_cycle_count").is_none()
            && let Some(x) = num(log, "/power_cycles")
        {
            o.gauge(
                "smartctl_device_power_cycle_count",
                "Device power cycle count",
                &[],
                x,
            );
        }
        if v.get("temperature").is_none()
            && let Some(t) = num(log, "/temperature")
        {
            o.gauge(
                "smartctl_device_temperature",
                "Device temperature celsius",
                &[("temperature_type", "current")],
                t,
            );
        }
    }

    // SCSI.
    let model_family = text(&v, "/model_family");
    let model_name = {
        let m = text(&v, "/model_name");
        if m.is_empty() {
            text(&v, "/scsi_model_name")
        } else {
            m
        }
    };
    let serial = text(&v, "/serial_number");
    let ident: [(&str, &str); 3] = [
        ("model_family", &model_family),
        ("model_name", &model_name),
        ("serial_number", &serial),
    ];
    if let Some(x) = num(&v, "/scsi_grown_defect_list") {
        o.gauge(
            "smartctl_scsi_grown_defect_list",
            "Device SCSI grown defect list counter",
            &ident,
            x,
        );
    }
    for dir in ["read", "write"] {
        for (field, help) in [
            (
                "errors_corrected_by_rereads_rewrites",
                "Errors Corrected by ReReads/ReWrites",
            ),
            ("total_uncorrected_errors", "Total Uncorrected Errors"),
        ] {
            if let Some(x) = num(&v, &format!("/scsi_error_counter_log/{dir}/{field}")) {
                o.gauge(
                    &format!("smartctl_{dir}_{field}"),
                    &format!("{} {help}", if dir == "read" { "Read" } else { "Write" }),
                    &ident,
                    x,
                );
            }
        }
    }
    Ok(o.fams)
}

/// `smartctl_version{...} 1` from any smartctl JSON output.
pub(crate) fn version_family(stdout: &[u8]) -> Option<Family> {
    let v: Json = serde_json::from_slice(stdout).ok()?;
    let version = v.pointer("/smartctl/version").and_then(Json::as_array)?;
    let version = version
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(".");
    let json_format = v
        .get("json_format_version")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    Some(Family::gauge("smartctl_version", "smartctl version").with(
        Labels::from_pairs([
            ("build_info", text(&v, "/smartctl/build_info")),
            ("json_format_version", json_format),
            ("smartctl_version", version),
            ("svn_revision", text(&v, "/smartctl/svn_revision")),
        ]),
        1.0,
    ))
}
