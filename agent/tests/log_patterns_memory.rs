//! The log-template miner's memory, measured by the allocator (not estimated): a counting
//! global allocator (`stats_alloc`) tracks the bytes live on the heap; the miner with 10,000 templates (ten
//! distinct words each, in realistic 100-150 byte lines, two lines each so every template
//! holds two examples) must hold at most 16 MiB, and its own estimate (`memory_bytes`, what
//! `nodewatch_agent_log_patterns_memory_bytes` shows and `max_memory_bytes` bounds) must not
//! undercount the measure by more than a quarter.
//!
//! One test in this binary: the counter is process-wide, and a second test running in parallel
//! would be counted too.

use agent::transforms::log_patterns::{LogPatternsConfig, Miner};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// A word of letters only (so it is never masked), distinct for each `(i, k)`.
fn word(i: usize, k: usize) -> String {
    format!("{:x}", i * 31 + k)
        .bytes()
        .map(|c| (b'g' + (c as char).to_digit(16).unwrap_or(0) as u8) as char)
        .collect()
}

#[test]
fn ten_thousand_templates_take_at_most_16_mib_measured_by_the_allocator() {
    let lines: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                "2024-01-01T00:00:{:02}Z {} {} level=info msg=\"{} {} {}\" took={}ms id={}",
                i % 60,
                word(i, 0),
                word(i, 1),
                word(i, 2),
                word(i, 3),
                word(i, 4),
                i,
                i * 7
            )
        })
        .collect();
    let cfg = LogPatternsConfig {
        enabled: true,
        max_templates_per_group: 10_000,
        ..Default::default()
    };
    let region = Region::new(GLOBAL);
    let mut m = Miner::new(cfg);
    let g = m.group_slot("ns/container", Vec::new, 0);
    for l in &lines {
        assert!(m.observe(g, l, None, 0).new, "{l}");
        assert!(!m.observe(g, l, None, 0).new, "{l}");
    }
    let c = region.change();
    let measured = c.bytes_allocated.saturating_sub(c.bytes_deallocated);
    let estimated = m.memory_bytes();
    assert_eq!(m.live(), 10_000);
    eprintln!(
        "10000 templates: {measured} bytes measured by the allocator ({:.2} MiB), {estimated} estimated",
        measured as f64 / (1 << 20) as f64
    );
    assert!(measured <= 16 << 20, "{measured} bytes");
    assert!(
        estimated * 4 >= measured * 3,
        "the estimate {estimated} undercounts the measured {measured}"
    );
    drop(m);
}
