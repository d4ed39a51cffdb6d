//! remote_write encoding in samples/s on one core: protobuf + snappy (what is sent) against
//! protobuf alone (the baseline, same run). Also the WAL record path (families -> series ->
//! record). Run: `cargo bench -p agent --bench remote_write_encode`.

use std::hint::black_box;
use std::time::Instant;

use agent::event::{Family, Labels};
use agent::sinks::prometheus_remote_write::encode;

fn main() {
    // 2,000 series per request (the default max_samples_per_send), node-like labels.
    let fams: Vec<Family> = (0..20)
        .map(|f| {
            (0..100).fold(
                Family::counter(format!("node_bench_{f}_total"), "b"),
                |fam, i| {
                    fam.with(
                        Labels::from_pairs([
                            ("cpu", i.to_string()),
                            ("instance", "node-1:9464".to_string()),
                            ("mode", "user".to_string()),
                        ]),
                        (i * 1000 + f) as f64 + 0.25,
                    )
                },
            )
        })
        .collect();
    let ext = vec![("cluster".to_string(), "prod".to_string())];
    let series = encode::families_to_series(&fams, 1_700_000_000_000, &ext);
    let n = series.len();
    let rounds = 300;

    let t = Instant::now();
    let mut raw_len = 0;
    for _ in 0..rounds {
        let mut raw = Vec::with_capacity(n * 96);
        encode::encode_protobuf(black_box(&series), &mut raw);
        raw_len = black_box(raw).len();
    }
    let proto = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut body_len = 0;
    for _ in 0..rounds {
        body_len = black_box(encode::encode_request(black_box(&series))).len();
    }
    let full = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut rec_len = 0;
    for _ in 0..rounds {
        let s = encode::families_to_series(black_box(&fams), 1, &ext);
        rec_len = encode::encode_record(s, 1).map(|r| r.len()).unwrap_or(0);
    }
    let record = t.elapsed().as_secs_f64();

    let per_s = |secs: f64| (n * rounds) as f64 / secs;
    println!("remote_write encode, {n} samples per request, {rounds} rounds, one core");
    println!(
        "  protobuf alone (baseline): {:>12.0} samples/s ({raw_len} bytes)",
        per_s(proto)
    );
    println!(
        "  protobuf + snappy        : {:>12.0} samples/s ({body_len} bytes, {:.2} bytes/sample) | ratio to baseline {:.2}x time",
        per_s(full),
        body_len as f64 / n as f64,
        full / proto
    );
    println!(
        "  WAL record (families -> series -> protobuf -> snappy): {:>12.0} samples/s ({rec_len} bytes) | ratio {:.2}x",
        per_s(record),
        record / proto
    );
}
