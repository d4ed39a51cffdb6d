//! `/proc/net/dev` (parsed by `procfs`) -> `node_network_{receive,transmit}_*_total{device}`, with
//! node_exporter 1.5's names (its netlink path adds `receive_nohandler`, which we read from sysfs).

use std::path::Path;

use procfs::FromBufRead;
use procfs::net::{DeviceStatus, InterfaceDeviceStatus};
use regex::Regex;

use super::error::read_bounded;
use crate::event::{Family, Labels};

const RX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
const TX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
];

/// One interface's 16 counters, in `/proc/net/dev` column order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetDev {
    pub name: String,
    pub counters: [u64; 16],
}

impl From<DeviceStatus> for NetDev {
    fn from(d: DeviceStatus) -> Self {
        NetDev {
            counters: [
                d.recv_bytes,
                d.recv_packets,
                d.recv_errs,
                d.recv_drop,
                d.recv_fifo,
                d.recv_frame,
                d.recv_compressed,
                d.recv_multicast,
                d.sent_bytes,
                d.sent_packets,
                d.sent_errs,
                d.sent_drop,
                d.sent_fifo,
                d.sent_colls,
                d.sent_carrier,
                d.sent_compressed,
            ],
            name: d.name,
        }
    }
}

/// Parses `/proc/net/dev` text with `procfs`, sorted by interface name. procfs splits a line at
/// whitespace; kernels before 2.6 glued a long counter to the name (`eth0:123456789012`), so a
/// space is put after each name's colon first. A line without a colon is an error.
pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<NetDev>, String> {
    let mut spaced = String::with_capacity(text.len() + 64);
    for (i, line) in text.lines().enumerate() {
        if i < 2 {
            spaced.push_str(line);
        } else if line.trim().is_empty() {
            continue;
        } else {
            let (name, rest) = line
                .split_once(':')
                .ok_or_else(|| format!("line without a colon: {line:?}"))?;
            spaced.push_str(name);
            spaced.push_str(": ");
            spaced.push_str(rest);
        }
        spaced.push('\n');
    }
    let status =
        InterfaceDeviceStatus::from_buf_read(spaced.as_bytes()).map_err(|e| e.to_string())?;
    let mut out: Vec<NetDev> = status.0.into_values().map(NetDev::from).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Families for the devices not excluded.
pub(crate) fn netdev_families(devs: &[NetDev], exclude: &Regex, sysfs: &Path) -> Vec<Family> {
    let mut rx: Vec<Family> = RX
        .iter()
        .map(|f| {
            Family::counter(
                format!("node_network_receive_{f}_total"),
                format!("Network device statistic receive_{f}."),
            )
        })
        .collect();
    let mut nohandler = Family::counter(
        "node_network_receive_nohandler_total",
        "Network device statistic receive_nohandler.",
    );
    let mut tx: Vec<Family> = TX
        .iter()
        .map(|f| {
            Family::counter(
                format!("node_network_transmit_{f}_total"),
                format!("Network device statistic transmit_{f}."),
            )
        })
        .collect();
    for dev in devs {
        if exclude.is_match(&dev.name) {
            continue;
        }
        let l = Labels::new().with("device", dev.name.as_str());
        for (i, fam) in rx.iter_mut().enumerate() {
            fam.push(l.clone(), dev.counters[i] as f64);
        }
        for (i, fam) in tx.iter_mut().enumerate() {
            fam.push(l.clone(), dev.counters[8 + i] as f64);
        }
        let nh = read_bounded(
            &sysfs
                .join("class/net")
                .join(&dev.name)
                .join("statistics/rx_nohandler"),
            64,
        )
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
        nohandler.push(l, nh as f64);
    }
    let mut out = rx;
    out.push(nohandler);
    out.extend(tx);
    out
}
