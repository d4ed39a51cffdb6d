//! The hybrid logical clock and the object [`Version`] it stamps.
//!
//! An HLC value is one `u64`: Unix milliseconds in the high 48 bits and a logical counter in the low
//! 16 bits. [`Hlc::tick`] never returns the same value twice on one node and never goes backwards, even
//! when the wall clock does; [`Hlc::observe`] pulls the clock past every version seen from a peer or
//! from disk, so that a write made after seeing a version always wins over it (last writer wins).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

const LOGICAL_BITS: u32 = 16;

/// The version of an object or tombstone: compared by HLC, then by the writer's node tag, so every
/// node picks the same winner. The default (0, 0) is older than anything written with a version.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Version {
    /// The hybrid logical clock value when the write was made.
    pub hlc: u64,
    /// [`node_tag`] of the node that made the write.
    pub node: u32,
}

impl Version {
    /// The wall-clock milliseconds part of the HLC.
    pub fn millis(self) -> u64 {
        self.hlc >> LOGICAL_BITS
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}.{:08x}", self.hlc, self.node)
    }
}

/// The tie-breaker a node id stands for in a [`Version`]. Configuration refuses peers whose tags
/// collide, so the order is total within a cluster.
pub fn node_tag(node_id: &str) -> u32 {
    crc32c::crc32c(node_id.as_bytes())
}

/// A hybrid logical clock.
#[derive(Debug)]
pub struct Hlc {
    node: u32,
    last: AtomicU64,
    now_ms: fn() -> u64,
}

impl Hlc {
    pub fn new(node_id: &str) -> Self {
        Self::with_clock(node_id, now_ms)
    }

    /// A clock reading time from `now_ms` (tests use a fake one).
    pub fn with_clock(node_id: &str, now_ms: fn() -> u64) -> Self {
        Hlc {
            node: node_tag(node_id),
            last: AtomicU64::new(0),
            now_ms,
        }
    }

    pub fn node(&self) -> u32 {
        self.node
    }

    /// A fresh version, greater than every version this clock made or observed.
    pub fn tick(&self) -> Version {
        let physical = (self.now_ms)() << LOGICAL_BITS;
        let mut cur = self.last.load(Ordering::Relaxed);
        loop {
            let next = physical.max(cur + 1);
            match self
                .last
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Version {
                        hlc: next,
                        node: self.node,
                    };
                }
                Err(seen) => cur = seen,
            }
        }
    }

    /// Moves the clock past a version made elsewhere.
    pub fn observe(&self, v: Version) {
        self.last.fetch_max(v.hlc, Ordering::AcqRel);
    }

    /// The latest value made or observed.
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
