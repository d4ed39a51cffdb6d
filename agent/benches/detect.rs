//! `cargo bench -p agent --bench detect`: ns per sample per series for each detector and for the
//! calibrated [`Scorer`] alone, memory per watched series, and `run_detect` (the `detect`
//! command's path) throughput in rows/s. Baseline in the same run: the trivial EWMA detector, and
//! parsing only. The budget: <= 500 ns per sample per series and <= 4 KiB per series.

use std::hint::black_box;
use std::time::Instant;

use agent::transforms::detect::{
    DetectorKind, DetectorParams, Scorer, SeriesDetector, parse_timestamp, run_detect,
};

fn signal(n: usize) -> Vec<(i64, f64)> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let ts = 1_700_000_000 + i as i64 * 60;
            let day = ((ts % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
            let spike = if i % 5000 == 4999 { 20.0 } else { 0.0 };
            (ts, 10.0 + 3.0 * day + noise + spike)
        })
        .collect()
}

fn per_sample_ns(kind: DetectorKind, data: &[(i64, f64)], series: usize) -> (f64, usize) {
    let p = DetectorParams {
        threshold: Some(1e9),
        ..DetectorParams::of(kind)
    };
    let mut dets: Vec<SeriesDetector> = (0..series).map(|_| SeriesDetector::new(p)).collect();
    let start = Instant::now();
    let mut acc = 0.0;
    for &(t, x) in data {
        for d in &mut dets {
            acc += d.update(t, x).score;
        }
    }
    black_box(acc);
    let ns = start.elapsed().as_nanos() as f64 / (data.len() * series) as f64;
    (ns, dets[0].memory_bytes())
}

/// The calibrated scorer alone, as other components (log-rate surges) use it.
fn scorer_ns(data: &[(i64, f64)], series: usize) -> (f64, usize) {
    let mut scorers: Vec<Scorer> = (0..series).map(|_| Scorer::default()).collect();
    let start = Instant::now();
    let mut acc = 0.0;
    for &(t, x) in data {
        for s in &mut scorers {
            acc += s.observe(t as f64, x);
        }
    }
    black_box(acc);
    let ns = start.elapsed().as_nanos() as f64 / (data.len() * series) as f64;
    (ns, scorers[0].memory_bytes())
}

fn main() {
    let data = signal(100_000);
    let series = 20;
    println!("detector      ns/sample  ratio-vs-ewma  bytes/series");
    let _warm = per_sample_ns(DetectorKind::Ewma, &data, series);
    let (base, _) = per_sample_ns(DetectorKind::Ewma, &data, series);
    for kind in [
        DetectorKind::Ewma,
        DetectorKind::Counter,
        DetectorKind::Robust,
        DetectorKind::LevelShift,
        DetectorKind::Rate,
        DetectorKind::Auto,
    ] {
        let (ns, mem) = per_sample_ns(kind, &data, series);
        println!(
            "{:<13} {:>9.1}  {:>13.2}  {:>12}",
            format!("{kind:?}"),
            ns,
            ns / base,
            mem
        );
    }
    let (ns, mem) = scorer_ns(&data, series);
    println!(
        "{:<13} {:>9.1}  {:>13.2}  {:>12}",
        "Scorer",
        ns,
        ns / base,
        mem
    );

    // The detect command's path: CSV in memory -> run_detect -> a sink.
    let mut csv = String::from("timestamp,value\n");
    for (t, x) in signal(1_000_000) {
        csv.push_str(&format!("{t},{x:.4}\n"));
    }
    let rows = 1_000_000f64;
    let start = Instant::now();
    let mut parsed = 0.0;
    for line in csv.as_bytes().split(|c| *c == b'\n').skip(1) {
        if let Some(i) = line.iter().position(|c| *c == b',') {
            parsed += parse_timestamp(&line[..i]).unwrap_or(0) as f64;
            parsed += std::str::from_utf8(&line[i + 1..])
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    black_box(parsed);
    let parse_rps = rows / start.elapsed().as_secs_f64();
    for kind in [DetectorKind::Ewma, DetectorKind::Auto] {
        let mut det = SeriesDetector::new(DetectorParams::of(kind));
        let mut out = Vec::with_capacity(10 << 20);
        let start = Instant::now();
        let stats = run_detect(csv.as_bytes(), &mut out, &mut det).expect("runs");
        let rps = stats.rows as f64 / start.elapsed().as_secs_f64();
        println!(
            "detect {kind:?}: {:.2} M rows/s ({:.2}x of parse-only {:.2} M rows/s)",
            rps / 1e6,
            rps / parse_rps,
            parse_rps / 1e6
        );
    }
}
