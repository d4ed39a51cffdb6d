//! The mean op latency of each OSD over the last collection interval, from the deltas of
//! `ceph_osd_op_{r,w}_latency_sum/_count` between two reads: the series the anomaly detector
//! watches (`nodewatch_ceph_osd_op_latency_seconds{ceph_daemon, op}`), since it scores batches,
//! not counter pairs.

use std::collections::HashMap;

use crate::event::{Family, Labels};

/// The counter pairs, by `op` label value.
const PAIRS: [(&str, &str, &str); 2] = [
    (
        "read",
        "ceph_osd_op_r_latency_sum",
        "ceph_osd_op_r_latency_count",
    ),
    (
        "write",
        "ceph_osd_op_w_latency_sum",
        "ceph_osd_op_w_latency_count",
    ),
];

/// The last (sum, count) per daemon and op.
#[derive(Debug, Default)]
pub struct LatencyTracker {
    last: HashMap<(String, &'static str), (f64, f64)>,
}

fn value_of(families: &[Family], name: &str, daemon: &str) -> Option<f64> {
    families
        .iter()
        .find(|f| f.name == name)?
        .metrics
        .iter()
        .find(|m| m.labels.get("ceph_daemon") == Some(daemon))
        .and_then(|m| m.value.as_scalar())
}

impl LatencyTracker {
    /// Adds one daemon's interval means (from its fresh `families`) to `out`. A first read, a
    /// counter reset (daemon restart) or an interval with no ops gives no sample.
    pub fn observe(&mut self, daemon: &str, families: &[Family], out: &mut Family) {
        for (op, sum_name, count_name) in PAIRS {
            let (Some(sum), Some(count)) = (
                value_of(families, sum_name, daemon),
                value_of(families, count_name, daemon),
            ) else {
                continue;
            };
            let prev = self.last.insert((daemon.to_string(), op), (sum, count));
            let Some((psum, pcount)) = prev else {
                continue;
            };
            let (dsum, dcount) = (sum - psum, count - pcount);
            if dcount > 0.0 && dsum >= 0.0 {
                out.push(
                    Labels::new().with("ceph_daemon", daemon).with("op", op),
                    dsum / dcount,
                );
            }
        }
    }

    /// Forgets daemons not in `present`, so the map stays bounded by the sockets read.
    pub fn retain(&mut self, present: &[String]) {
        self.last.retain(|(d, _), _| present.contains(d));
    }

    /// The (empty) family the means go into.
    pub fn family() -> Family {
        Family::gauge(
            "nodewatch_ceph_osd_op_latency_seconds",
            "Mean latency of a Ceph OSD's client reads or writes over the agent's last collection interval.",
        )
    }
}
