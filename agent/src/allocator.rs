//! The process' memory after a burst: glibc's allocator keeps what the program freed, so without
//! help the agent stays at its peak RSS long after a burst of log lines has been shipped.
//!
//! Two causes, two fixes (measured with heaptrack and `/proc/<pid>/smaps`; see ARCHITECTURE.md):
//! - Each thread that allocates may get an arena of its own, and `malloc_trim` gives back the
//!   free pages inside every arena but trims the top of the main arena only; after a burst, each
//!   worker arena kept megabytes at its top. [`tune`] caps glibc at one arena (`M_ARENA_MAX` 1;
//!   threads still have their own tcache for small blocks). Pinning the mmap and trim thresholds
//!   instead did as well for memory but cost about a quarter more CPU per shipped line (ten times
//!   the page faults).
//! - Free chunks stay resident. [`trim_when_idle`] calls `malloc_trim(0)` once after each burst
//!   of work, on the first tick the process is idle.
//!
//! Off glibc both are no-ops: other allocators return memory themselves or have no such calls.

use std::time::Duration;

/// How often the process' CPU time is looked at.
const TICK: Duration = Duration::from_secs(5);

/// A tick is idle when the process used less CPU than this share of one core during it.
const IDLE_CPU_SHARE: f64 = 0.02;

/// Trim only after at least this much CPU time was spent since the last trim (a burst; a million
/// log lines cost the agent about half a CPU-second).
const BURST_CPU_SECS: f64 = 0.05;

/// Caps glibc at one arena (call once, before the runtime starts threads).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "mallopt FFI")]
pub fn tune() {
    // SAFETY: mallopt takes two integers and no pointers; glibc serializes it with every other
    // allocator call.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 };
    if !ok {
        tracing::warn!("mallopt refused M_ARENA_MAX; RSS may stay at its peak after a burst");
    }
}

/// Caps glibc at one arena (nothing to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

/// Gives the allocator's free pages back to the system; returns whether any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim FFI")]
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes an integer and no pointers; glibc locks each arena while it walks
    // it.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Gives the allocator's free pages back to the system (nothing to do off glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

/// This process' user + system CPU seconds, from `/proc/self/stat`.
fn cpu_secs() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    let tps = procfs::ticks_per_second().max(1) as f64;
    Some((stat.utime + stat.stime) as f64 / tps)
}

/// Decides, tick by tick, when to trim: on the first idle tick after a burst.
#[derive(Debug, Default)]
pub struct IdleTrim {
    last_cpu: Option<f64>,
    busy_secs: f64,
}

impl IdleTrim {
    /// Feeds the process' CPU seconds at the end of a tick of `tick` length; returns whether to
    /// trim now.
    pub fn observe(&mut self, cpu_secs: f64, tick: Duration) -> bool {
        let Some(last) = self.last_cpu.replace(cpu_secs) else {
            return false;
        };
        let used = (cpu_secs - last).max(0.0);
        self.busy_secs += used;
        let idle = used < IDLE_CPU_SHARE * tick.as_secs_f64();
        if idle && self.busy_secs >= BURST_CPU_SECS {
            self.busy_secs = 0.0;
            return true;
        }
        false
    }
}

/// Every 5 s, trims the allocator when the process has gone idle after a burst of work. Runs
/// until the runtime stops.
pub async fn trim_when_idle() {
    let mut state = IdleTrim::default();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(cpu) = cpu_secs() else { continue };
        if state.observe(cpu, TICK) {
            // Well under a millisecond for the agent's heap; run in place rather than on a new
            // blocking thread (which would get an arena of its own).
            let released = trim();
            tracing::debug!(released, "trimmed the allocator after a burst");
        }
    }
}

#[cfg(test)]
mod tests;
