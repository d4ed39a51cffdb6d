//! `cargo bench -p agent --bench loki_encode`: the Loki sink's cost per line for one batch, in
//! process: grouping by stream, the protobuf encoding and snappy, on the varied corpus of
//! `logs_throughput` part 2 (every accuracy corpus line drawn at random, numbers re-drawn) in
//! 8 streams, in 1 MiB batches (the default `batch_max_bytes`), each entry carrying a 16-digit
//! `pattern` metadata value as with mining on. Two ways, interleaved rounds, the best of each
//! kept (CPU time of the thread):
//! - whole: the body encoded into one buffer, then compressed by `snap` at once and copied out
//!   (the sink before the streamed writer);
//! - streamed: the body written through `SnappyWriter`, each 64 KiB compressed as it fills,
//!   the buffer handed back after the "push" (the sink now).
//!
//! The two bodies are checked equal. Environment: `LOKI_ENCODE_LINES` (default 400000),
//! `LOKI_ENCODE_ROUNDS` (default 5).

#[path = "common/cpu_clock.rs"]
mod cpu_clock;
#[path = "common/varied_corpus.rs"]
mod varied_corpus;

use cpu_clock::{env_or, thread_cpu_ns};

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use agent::logs::{Chunk, LogEntry, Metadata, StreamLabels};
use agent::sinks::loki::{Batch, Plan, SnappyWriter, encode_protobuf, write_protobuf};

const STREAMS: usize = 8;
const BATCH_BYTES: usize = 1024 * 1024;

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// Snappy's raw format of `raw` into `packed` (grown to the worst case first); its length.
fn compress(
    enc: &mut snap::raw::Encoder,
    raw: &[u8],
    packed: &mut Vec<u8>,
) -> Result<usize, snap::Error> {
    let need = snap::raw::max_compress_len(raw.len());
    if packed.len() < need {
        packed.resize(need, 0);
    }
    enc.compress(raw, packed)
}

fn main() -> R<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let total = env_or("LOKI_ENCODE_LINES", 400_000);
    let rounds = env_or("LOKI_ENCODE_ROUNDS", 5).max(1);
    let pool = varied_corpus::pool(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    let mut gen_lines = varied_corpus::Lines::new(&pool);
    let streams: Vec<Arc<StreamLabels>> = (0..STREAMS)
        .map(|i| {
            Arc::new(StreamLabels::new(vec![
                ("job".into(), "files".into()),
                ("filename".into(), format!("/var/log/bench/m{i}.log")),
            ]))
        })
        .collect();
    // Batches as the sink gets them: lines in read order, one stream after another per chunk.
    let mut batches: Vec<Batch> = Vec::new();
    let mut batch = Batch::default();
    let mut buf = Vec::new();
    let t_base = 1_764_979_200_000_000_000i64;
    for seq in 0..total {
        gen_lines.next_into(&mut buf);
        let line = String::from_utf8_lossy(&buf).into_owned();
        let mut c = Chunk::default();
        c.push(LogEntry {
            ts_ns: t_base + (seq as i64 / 500) * 1_000_003,
            line: line.into(),
            stream: Arc::clone(&streams[(seq / 256) % STREAMS]),
            metadata: Metadata::from_vec(vec![(
                "pattern".into(),
                format!(
                    "{:016x}",
                    (seq as u64 % 977).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                )
                .into(),
            )]),
        });
        batch.add(c);
        if batch.bytes >= BATCH_BYTES {
            batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    let lines: usize = batches.iter().map(|b| b.len()).sum();
    let mut raw = Vec::new();
    let mut packed = Vec::new();
    let mut enc = snap::raw::Encoder::new();
    let mut w = SnappyWriter::default();
    let (mut best_whole, mut best_streamed, mut best_proto) = (f64::MAX, f64::MAX, f64::MAX);
    let mut out_bytes = 0usize;
    let mut raw_bytes = 0usize;
    for r in 0..rounds {
        // Whole: encode, compress at once, copy out.
        let t0 = thread_cpu_ns();
        let mut whole = Vec::with_capacity(batches.len());
        for b in &batches {
            let s = b.streams();
            encode_protobuf(&s, &mut raw);
            let n = compress(&mut enc, &raw, &mut packed)?;
            let body = bytes::Bytes::from(packed[..n].to_vec());
            whole.push(body.len());
            black_box(body);
        }
        best_whole = best_whole.min((thread_cpu_ns() - t0) as f64 / lines as f64);
        // Streamed.
        let t0 = thread_cpu_ns();
        for (i, b) in batches.iter().enumerate() {
            let s = b.streams();
            let plan = Plan::of(&s);
            w.begin(plan.total)?;
            write_protobuf(&s, &plan, &mut w);
            let body = bytes::Bytes::from(w.finish()?);
            if r == 0 {
                out_bytes += body.len();
                raw_bytes += plan.total;
                assert_eq!(
                    body.len(),
                    whole[i],
                    "streamed body differs from the whole one"
                );
            }
            let body = black_box(body);
            if let Ok(m) = body.try_into_mut() {
                w.give_back(Vec::from(m));
            }
        }
        best_streamed = best_streamed.min((thread_cpu_ns() - t0) as f64 / lines as f64);
        // The protobuf encoding alone (grouping, sizes, writing into a kept buffer).
        let t0 = thread_cpu_ns();
        for b in &batches {
            let s = b.streams();
            encode_protobuf(&s, &mut raw);
            black_box(&raw);
        }
        best_proto = best_proto.min((thread_cpu_ns() - t0) as f64 / lines as f64);
        if std::env::var_os("LOKI_ENCODE_PARTS").is_some() {
            let t0 = thread_cpu_ns();
            for b in &batches {
                black_box(b.streams());
            }
            let t1 = thread_cpu_ns();
            for b in &batches {
                let s = b.streams();
                black_box(Plan::of(&s));
            }
            let t2 = thread_cpu_ns();
            let mut snap_ns = 0;
            for b in &batches {
                let s = b.streams();
                encode_protobuf(&s, &mut raw);
                let t = thread_cpu_ns();
                black_box(compress(&mut enc, &raw, &mut packed)?);
                snap_ns += thread_cpu_ns() - t;
            }
            let l = lines as f64;
            println!(
                "  parts: streams {:.0}, +plan {:.0}, snap alone {:.0} ns/line",
                (t1 - t0) as f64 / l,
                (t2 - t1) as f64 / l,
                snap_ns as f64 / l
            );
        }
    }
    println!(
        "loki_encode: {lines} varied lines in {} batches of ~1 MiB, {:.0} protobuf bytes a line, snappy ratio {:.3}",
        batches.len(),
        raw_bytes as f64 / lines as f64,
        out_bytes as f64 / raw_bytes.max(1) as f64
    );
    println!("  protobuf alone (grouping, sizes, into one buffer): {best_proto:.0} ns/line");
    println!("  whole (protobuf, then snap at once, copied out):   {best_whole:.0} ns/line");
    println!("  streamed (protobuf through SnappyWriter):          {best_streamed:.0} ns/line");
    println!(
        "  streamed / whole = {:.3} (best of {rounds} interleaved rounds, thread CPU time)",
        best_streamed / best_whole
    );
    Ok(())
}
