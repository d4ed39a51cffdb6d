//! One host collection, in process, per sub-collector and all together, against a baseline in
//! the same run: reading the same `/proc` files into a `String` and nothing else (the floor any
//! collector pays). Run: `cargo bench -p agent --bench host_collect`.
//!
//! The figures are the median of `HOST_BENCH_ROUNDS` (default 400) collections after 20 warm-up
//! rounds. To compare two versions of the collectors, run this bench's binary from each build
//! back to back and compare the `ratio` columns.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use agent::sources::host::{HostCollector, HostConfig, HostSource};

/// The files each collector reads from `/proc` (the baseline reads these and nothing else).
fn proc_files(c: HostCollector) -> &'static [&'static str] {
    match c {
        HostCollector::Cpu | HostCollector::Stat => &["stat"],
        HostCollector::Meminfo => &["meminfo"],
        HostCollector::Loadavg => &["loadavg"],
        HostCollector::Diskstats => &["diskstats"],
        HostCollector::Filesystem => &["1/mounts"],
        HostCollector::Netdev => &["net/dev"],
        HostCollector::Pressure => &["pressure/cpu", "pressure/io", "pressure/memory"],
        HostCollector::Time | HostCollector::Uname => &[],
    }
}

fn median(rounds: u32, mut f: impl FnMut() -> usize) -> Duration {
    for _ in 0..20 {
        black_box(f());
    }
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn read_floor(files: &[&str]) -> usize {
    let mut n = 0;
    for f in files {
        if let Ok(s) = std::fs::read_to_string(Path::new("/proc").join(f)) {
            n += s.len();
        }
    }
    n
}

fn collect(source: &HostSource) -> usize {
    source
        .collect_blocking()
        .iter()
        .map(|f| f.metrics.len())
        .sum()
}

fn main() {
    let rounds: u32 = std::env::var("HOST_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
        .max(1);
    println!("host_collect: median of {rounds} collections; baseline = read the same /proc files");
    let mut all_files: Vec<&str> = Vec::new();
    for c in HostCollector::ALL {
        let source = HostSource::new(&HostConfig {
            collectors: vec![c],
            ..HostConfig::default()
        })
        .expect("build the host source");
        let series = collect(&source);
        let t = median(rounds, || collect(&source));
        let files = proc_files(c);
        all_files.extend(files);
        if files.is_empty() {
            println!(
                "  {:<10} {:>9.1} us ({series} series) | no /proc file",
                c.name(),
                t.as_secs_f64() * 1e6
            );
            continue;
        }
        let base = median(rounds, || read_floor(files));
        println!(
            "  {:<10} {:>9.1} us ({series} series) | baseline {:>7.1} us | ratio {:.2}",
            c.name(),
            t.as_secs_f64() * 1e6,
            base.as_secs_f64() * 1e6,
            t.as_secs_f64() / base.as_secs_f64()
        );
    }
    all_files.sort();
    all_files.dedup();
    let source = HostSource::new(&HostConfig::default()).expect("build the host source");
    let series = collect(&source);
    let t = median(rounds, || collect(&source));
    let base = median(rounds, || read_floor(&all_files));
    println!(
        "  {:<10} {:>9.1} us ({series} series) | baseline {:>7.1} us | ratio {:.2}",
        "all",
        t.as_secs_f64() * 1e6,
        base.as_secs_f64() * 1e6,
        t.as_secs_f64() / base.as_secs_f64()
    );
}
