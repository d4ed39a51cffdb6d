//! What the in-process CPU benches share: a numeric setting from the environment, and this
//! thread's CPU time.

/// The number in the environment variable `name`, or `default` when it is unset or not a number.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This thread's CPU time in ns (`CLOCK_THREAD_CPUTIME_ID`: time on CPU, not wall time, so
/// other processes on a busy machine do not count; to the nanosecond, where
/// `/proc/thread-self/schedstat` moves in scheduler ticks of 4 ms here).
pub fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec.max(0) as u64) * 1_000_000_000 + t.tv_nsec.max(0) as u64
}
