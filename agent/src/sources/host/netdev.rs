//! `/proc/net/dev` -> `node_network_{receive,transmit}_*_total{device}`, with node_exporter 1.5's
//! names (its netlink path adds `receive_nohandler`, which we read from sysfs).

use std::path::Path;

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

/// Parses `/proc/net/dev` text. The name is split at the colon, so a long counter glued to the
/// name (`eth0:123456789012`) still parses.
pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<NetDev>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line without a colon: {line:?}"))?;
        let mut counters = [0u64; 16];
        let mut n = 0;
        for w in rest.split_whitespace() {
            if n == 16 {
                return Err(format!("too many columns: {line:?}"));
            }
            counters[n] = w.parse().map_err(|_| format!("bad counter {w:?}"))?;
            n += 1;
        }
        if n != 16 {
            return Err(format!("expected 16 columns, got {n}: {line:?}"));
        }
        out.push(NetDev {
            name: name.trim().to_string(),
            counters,
        });
    }
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
