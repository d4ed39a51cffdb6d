//! Slow ops of one OSD, as its health check counts them: `dump_ops_in_flight` against
//! `osd_op_complaint_time` (an op in flight longer than that is slow; `OSD::get_health_metrics`
//! reports the same count to the mgr as `SLOW_OPS`), plus the age of the oldest op in flight.

use serde_json::Value as Json;

use crate::event::{Family, Labels};

/// Ceph's default `osd_op_complaint_time`, used when the daemon's answer cannot be read.
pub const DEFAULT_COMPLAINT_SECS: f64 = 30.0;

/// The most ops looked at in one reply (the reply itself is bounded by `max_reply_bytes`).
const MAX_OPS: usize = 100_000;

/// What `dump_ops_in_flight` said.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OpsInFlight {
    /// Ops in flight.
    pub count: u64,
    /// Ops in flight for at least the complaint time.
    pub slow: u64,
    /// The age of the oldest op in flight, seconds (0 with none).
    pub oldest_age_secs: f64,
}

/// Reads `config get osd_op_complaint_time` (`{"osd_op_complaint_time": "30.000000"}`).
pub fn complaint_time(reply: &Json) -> Option<f64> {
    let v = reply.get("osd_op_complaint_time")?;
    let secs = match v {
        Json::String(s) => s.trim().parse::<f64>().ok()?,
        other => other.as_f64()?,
    };
    (secs.is_finite() && secs > 0.0).then_some(secs)
}

/// Reads a `dump_ops_in_flight` reply (`{"ops": [{"age": 6.2, ...}], "num_ops": 2}`).
pub fn ops_in_flight(reply: &Json, complaint_secs: f64) -> Option<OpsInFlight> {
    let ops = reply.get("ops")?.as_array()?;
    let mut out = OpsInFlight {
        count: reply
            .get("num_ops")
            .and_then(Json::as_u64)
            .unwrap_or(ops.len() as u64),
        ..OpsInFlight::default()
    };
    for op in ops.iter().take(MAX_OPS) {
        let Some(age) = op.get("age").and_then(Json::as_f64) else {
            continue;
        };
        if !age.is_finite() || age < 0.0 {
            continue;
        }
        if age >= complaint_secs {
            out.slow += 1;
        }
        out.oldest_age_secs = out.oldest_age_secs.max(age);
    }
    Some(out)
}

/// The families of the OSDs' ops, one series per daemon each.
#[derive(Debug)]
pub struct OpsFamilies {
    health: Family,
    in_flight: Family,
    oldest: Family,
    complaint: Family,
}

impl Default for OpsFamilies {
    fn default() -> Self {
        OpsFamilies {
            // The mgr prometheus module's name, help and labels for the same number.
            health: Family::gauge(
                "ceph_daemon_health_metrics",
                "Health metrics for Ceph daemons",
            ),
            in_flight: Family::gauge(
                "nodewatch_ceph_ops_in_flight",
                "Ops in flight in a Ceph OSD (dump_ops_in_flight).",
            ),
            oldest: Family::gauge(
                "nodewatch_ceph_oldest_op_age_seconds",
                "Age of the oldest op in flight in a Ceph OSD; 0 with none.",
            ),
            complaint: Family::gauge(
                "nodewatch_ceph_op_complaint_time_seconds",
                "The OSD's osd_op_complaint_time: an op in flight this long is a slow op.",
            ),
        }
    }
}

impl OpsFamilies {
    /// Adds one OSD's numbers.
    pub fn push(&mut self, daemon: &str, ops: &OpsInFlight, complaint_secs: f64) {
        let l = Labels::new().with("ceph_daemon", daemon);
        self.health
            .push(l.clone().with("type", "SLOW_OPS"), ops.slow as f64);
        self.in_flight.push(l.clone(), ops.count as f64);
        self.oldest.push(l.clone(), ops.oldest_age_secs);
        self.complaint.push(l, complaint_secs);
    }

    /// The families that have series.
    pub fn finish(self) -> Vec<Family> {
        [self.health, self.in_flight, self.oldest, self.complaint]
            .into_iter()
            .filter(|f| !f.metrics.is_empty())
            .collect()
    }
}
