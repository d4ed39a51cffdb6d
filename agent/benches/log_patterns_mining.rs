//! `cargo bench -p agent --bench log_patterns_mining`: the `log_patterns` transform's own cost,
//! in process, in ns per line. The varied corpus of `logs_throughput` part 2 (every accuracy
//! corpus line drawn at random, numbers re-drawn) in 8 streams (one per file, as the files
//! source makes them), in chunks of one stream's lines as a tailer hands them on, goes through
//! [`LogPatterns::process`] with the default settings (no data dir: persistence is the
//! benchmark's part 2's business), and through a no-op transform as the baseline, in the same run
//! (interleaved rounds, the best of each kept; CPU time of the thread). Each round builds the chunks' entries, runs the
//! transform and drops them, so what mining adds downstream (the `pattern` metadata's drop) counts.
//! Target: <= 250 ns per line over the baseline.
//!
//! It also prints where the transform's time goes, stage by stage over the same lines (no
//! entries built; CPU ns per line, best of the rounds): the JSON view alone
//! ([`view::message_range`]), tokenising and masking ([`mask::tokenize`], the view included),
//! and [`Miner::observe`] on a miner of its own (tokenising, the match cache, the counts);
//! what `process` adds over `observe` is the stream-group look-up and the `pattern` metadata.
//!
//! Environment: `MINING_BENCH_LINES` (default 400000), `MINING_BENCH_ROUNDS` (default 5).

#[path = "common/cpu_clock.rs"]
mod cpu_clock;
#[path = "common/varied_corpus.rs"]
mod varied_corpus;

use cpu_clock::{env_or, thread_cpu_ns};

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use agent::logs::{LogEntry, Metadata, StreamLabels};
use agent::sinks::alertmanager::{AlertmanagerConfig, Links};
use agent::transforms::detect::AlertBook;
use agent::transforms::log_patterns::mask::{self, Token};
use agent::transforms::log_patterns::{LogPatterns, LogPatternsConfig, Miner, view};

const STREAMS: usize = 8;
/// Lines per chunk (one stream's read, about 40 KiB of these lines).
const CHUNK: usize = 256;

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// One round: every chunk's entries built, transformed by `f`, dropped. Returns CPU ns per line.
fn round(
    chunks: &[(usize, Vec<String>)],
    streams: &[Arc<StreamLabels>],
    f: &dyn Fn(&mut [LogEntry]),
) -> f64 {
    let lines: usize = chunks.iter().map(|(_, c)| c.len()).sum();
    let t0 = thread_cpu_ns();
    let mut entries: Vec<LogEntry> = Vec::with_capacity(CHUNK);
    for (s, c) in chunks {
        for (i, l) in c.iter().enumerate() {
            entries.push(LogEntry {
                ts_ns: i as i64,
                line: l.clone().into(),
                stream: Arc::clone(&streams[*s]),
                metadata: Metadata::new(),
            });
        }
        f(&mut entries);
        black_box(&entries);
        entries.clear();
    }
    (thread_cpu_ns() - t0) as f64 / lines as f64
}

/// CPU ns per line of `f` over every line of `chunks`, each chunk's lines read first (as the
/// transform finds them: just copied into the chunk's entries, in cache).
fn stage(chunks: &[(usize, Vec<String>)], f: &mut dyn FnMut(usize, &str)) -> f64 {
    let lines: usize = chunks.iter().map(|(_, c)| c.len()).sum();
    let t0 = thread_cpu_ns();
    for (s, c) in chunks {
        for l in c {
            black_box(l.bytes().fold(0u8, |a, b| a ^ b));
        }
        for l in c {
            f(*s, l);
        }
    }
    (thread_cpu_ns() - t0) as f64 / lines as f64
}

/// The stage split (see the module docs), best of `rounds`, over reading the lines alone.
fn stages(chunks: &[(usize, Vec<String>)], cfg: &LogPatternsConfig, rounds: usize) {
    let mut miner = Miner::new(cfg.clone());
    let slots: Vec<u32> = (0..STREAMS)
        .map(|i| miner.group_slot(&format!("/var/log/bench/m{i}.log"), Vec::new, 0))
        .collect();
    let mut toks: Vec<Token> = Vec::new();
    let mut observe = |s: usize, l: &str| {
        black_box(miner.observe(slots[s], l, None, 0));
    };
    // Learn first, as the transform's rounds do.
    stage(chunks, &mut observe);
    let (mut r, mut v, mut t, mut o) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..rounds {
        r = r.min(stage(chunks, &mut |_, l| {
            black_box(l);
        }));
        v = v.min(stage(chunks, &mut |_, l| {
            black_box(view::message_range(l));
        }));
        t = t.min(stage(chunks, &mut |_, l| {
            black_box(mask::tokenize(l, cfg.max_tokens, &mut toks));
            black_box(&toks);
        }));
        o = o.min(stage(chunks, &mut observe));
    }
    println!(
        "  stages over reading the lines ({r:.1} ns/line): view {:.1}, view+tokenize {:.1}, Miner::observe {:.1} ns/line",
        v - r,
        t - r,
        o - r
    );
}

fn main() -> R<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let total = env_or("MINING_BENCH_LINES", 400_000);
    let rounds = env_or("MINING_BENCH_ROUNDS", 5).max(1);
    let pool = varied_corpus::pool(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    let mut gen_lines = varied_corpus::Lines::new(&pool);
    // Line `seq` goes to stream `seq % STREAMS`, as the benchmark's files do.
    let mut per_stream: Vec<Vec<String>> = vec![Vec::new(); STREAMS];
    let mut buf = Vec::new();
    for seq in 0..total {
        gen_lines.next_into(&mut buf);
        per_stream[seq % STREAMS].push(String::from_utf8_lossy(&buf).into_owned());
    }
    // Chunks: each stream's lines in runs of CHUNK, the streams taking turns.
    let mut chunks: Vec<(usize, Vec<String>)> = Vec::new();
    let mut iters: Vec<_> = per_stream.into_iter().map(Vec::into_iter).collect();
    loop {
        let mut any = false;
        for (s, it) in iters.iter_mut().enumerate() {
            let c: Vec<String> = it.by_ref().take(CHUNK).collect();
            if !c.is_empty() {
                any = true;
                chunks.push((s, c));
            }
        }
        if !any {
            break;
        }
    }
    let streams: Vec<Arc<StreamLabels>> = (0..STREAMS)
        .map(|i| {
            Arc::new(StreamLabels::new(vec![
                ("filename".into(), format!("/var/log/bench/m{i}.log")),
                ("job".into(), "files".into()),
            ]))
        })
        .collect();
    let cfg = LogPatternsConfig {
        enabled: true,
        ..LogPatternsConfig::default()
    };
    let lp = LogPatterns::open(
        cfg,
        None,
        Links::new(&AlertmanagerConfig::default()),
        "bench".into(),
        Arc::new(AlertBook::new()),
    );
    // A first pass learns the templates (as a long-running agent has).
    round(&chunks, &streams, &|e| {
        lp.process(e);
    });
    let (mut off, mut on) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        off = off.min(round(&chunks, &streams, &|e| {
            black_box(e);
        }));
        on = on.min(round(&chunks, &streams, &|e| {
            lp.process(e);
        }));
    }
    let templates = lp.lock().miner.live();
    println!(
        "log_patterns_mining: {total} varied lines, {STREAMS} streams, chunks of {CHUNK}, {templates} templates, best of {rounds} rounds"
    );
    println!("  no-op transform (build + drop entries): {off:.1} ns/line");
    println!("  log_patterns:                            {on:.1} ns/line");
    println!(
        "  mining cost: {:.1} ns/line (target <= 250), {:.2}M lines/cpu-s for the transform alone",
        on - off,
        1e3 / (on - off).max(1e-3)
    );
    stages(&chunks, lp.config(), rounds);
    Ok(())
}
