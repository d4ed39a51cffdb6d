use std::time::Duration;

use super::{IdleTrim, cpu_secs, trim, tune};

const TICK: Duration = Duration::from_secs(5);

#[test]
fn trims_once_on_the_first_idle_tick_after_a_burst() {
    let mut s = IdleTrim::default();
    assert!(
        !s.observe(10.0, TICK),
        "the first tick only sets the baseline"
    );
    assert!(
        !s.observe(10.0, TICK),
        "idle without a burst: nothing to give back"
    );
    assert!(!s.observe(12.0, TICK), "busy: no trim while working");
    assert!(!s.observe(13.5, TICK), "still busy");
    assert!(s.observe(13.55, TICK), "first idle tick after the burst");
    assert!(!s.observe(13.56, TICK), "once per burst");
    // Work spread thinly over idle ticks adds up: trimmed each time it reaches 0.05 CPU-s.
    let mut cpu = 13.56;
    let trims: Vec<bool> = (0..4)
        .map(|_| {
            cpu += 0.03;
            s.observe(cpu, TICK)
        })
        .collect();
    assert_eq!(trims, [false, true, false, true]);
}

#[test]
fn a_cpu_clock_that_goes_back_is_not_a_burst() {
    let mut s = IdleTrim::default();
    assert!(!s.observe(100.0, TICK));
    assert!(!s.observe(1.0, TICK));
    assert!(!s.observe(1.0, TICK));
}

#[test]
fn tune_and_trim_run_on_this_machine() {
    tune();
    // A large block freed in the middle of the heap is given back.
    let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
    drop(blocks);
    let _ = trim();
    assert!(cpu_secs().is_some_and(|s| s >= 0.0));
}
