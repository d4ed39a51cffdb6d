//! `/metrics` rendering of 10,000 and 100,000 series, text and OpenMetrics, against a baseline
//! in the same run: a plain `String` concatenation of the same lines (the least any renderer
//! must do). Run: `cargo bench -p agent --bench render`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agent::event::{Family, Labels};
use agent::sinks::prometheus_exporter::{Format, render};

/// Families shaped like a node's: 100 series per family, three labels each.
fn families(series: usize) -> Vec<Family> {
    let per = 100;
    (0..series / per)
        .map(|f| {
            let mut fam = Family::gauge(format!("bench_metric_{f}_bytes"), "A benchmark metric.");
            for i in 0..per {
                fam.push(
                    Labels::from_pairs([
                        ("device", format!("dev{i}")),
                        ("instance", "node-1".to_string()),
                        ("mode", "user".to_string()),
                    ]),
                    (f * per + i) as f64 * 1.5,
                );
            }
            fam
        })
        .collect()
}

/// The baseline: the same lines, pre-formatted, concatenated into one `String`.
fn lines(fams: &[Family]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fams {
        for m in &f.metrics {
            out.push(format!(
                "{}{} {}\n",
                f.name,
                m.labels,
                m.value.as_scalar().unwrap_or(0.0)
            ));
        }
    }
    out
}

fn time_it(rounds: u32, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        bytes = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, bytes)
}

fn main() {
    println!("render: best of N rounds; baseline = String concatenation of pre-formatted lines");
    for &n in &[10_000usize, 100_000] {
        let fams = families(n);
        let pre = lines(&fams);
        let rounds = if n > 50_000 { 10 } else { 50 };
        let (base, base_bytes) = time_it(rounds, || {
            let mut s = String::with_capacity(64 * 1024);
            for l in &pre {
                s.push_str(l);
            }
            s.len()
        });
        for (name, fmt) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
            let (t, bytes) = time_it(rounds, || {
                let mut s = String::with_capacity(64 * 1024);
                render(fams.iter(), fmt, &mut s);
                s.len()
            });
            println!(
                "render {n:>6} series {name:<11}: {:>8.3} ms ({bytes} bytes) | baseline {:>7.3} ms ({base_bytes} bytes) | ratio {:.2}x",
                t.as_secs_f64() * 1e3,
                base.as_secs_f64() * 1e3,
                t.as_secs_f64() / base.as_secs_f64()
            );
        }
    }
}
