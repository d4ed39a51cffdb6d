//! Log shipping benchmark (`cargo bench -p agent --bench logs_throughput`).
//!
//! 1. Throughput: 2 million pre-written 150-byte lines in 8 files, shipped by `node-agent run`
//!    (protobuf + snappy) to the test Loki (`test-loki`, from the `e2e` package). Reports MiB and
//!    lines per CPU-second of the agent (utime + stime from /proc/<pid>/stat), wall time, peak
//!    RSS (VmHWM) and idle RSS, and the ratio to a baseline measured in the same run: this
//!    process reading the same files and counting lines (the floor any tailer pays).
//! 2. Mining cost: a varied corpus (every line of the `log_patterns` accuracy corpora, drawn at
//!    random with every number re-drawn, so values vary as in real logs) shipped twice, with
//!    `[transforms.log_patterns]` off and on; reports the CPU-per-line ratio on/off (target
//!    <= 1.30) and lines per CPU-second with mining on (target >= 1M).
//! 3. Delivery delay: lines written at 10,000 per second, each carrying its write time; the test
//!    Loki records when it accepted each one; p50 and p99 of the difference.
//!
//! Environment: `LOGS_BENCH_ONLY=mining` (only part 2), `LOGS_BENCH_LINES` (default 2000000), `LOGS_BENCH_MINING_LINES` (default
//! 1000000), `LOGS_BENCH_MINING_ROUNDS` (default 2: off and on take turns, the least CPU of each kept), `LOGS_BENCH_DELAY_SECS` (default 20),
//! `LOGS_BENCH_BASELINE_BIN` (another `node-agent` binary, e.g. main's: part 2 runs it too, its
//! rounds alternating with this build's, and reports this build's CPU per line against it).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/varied_corpus.rs"]
mod varied_corpus;

const FILES: usize = 8;
const LINE: usize = 150;

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn release_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    dir.join("release").join(name)
}

fn ensure_binaries() -> R<()> {
    let mut cmd = Command::new(env!("CARGO"));
    // `cargo bench` runs this binary with the variables it sets for a package (`CARGO_PKG_*`,
    // `CARGO_MANIFEST_DIR`, ...). A build script that declares `rerun-if-env-changed` on them
    // (ring's does) would run again under the nested cargo, and again under the next plain
    // build, rebuilding ring, rustls and the agent each time: the nested cargo gets the
    // caller's environment without them.
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || matches!(
                k,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(k);
        }
    }
    let st = cmd
        .current_dir(repo_root())
        .args([
            "build",
            "--release",
            "-p",
            "agent",
            "--bin",
            "node-agent",
            "-p",
            "e2e",
            "--bin",
            "test-loki",
        ])
        .status()?;
    if !st.success() {
        return Err("cargo build of node-agent and test-loki failed".into());
    }
    Ok(())
}

/// A 150-byte line whose tail is pseudo-random text (so snappy works about as hard as on real
/// logs, not on a run of one byte).
fn line(seq: usize, file: usize) -> String {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =/:.-_";
    let mut s = format!("seq={seq:09} file={file} level=info msg=\"benchmark line\" ");
    let mut x = (seq as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while s.len() < LINE - 1 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
    }
    s.push('\n');
    s
}

fn write_corpus(dir: &Path, total: usize) -> R<u64> {
    let mut files: Vec<_> = (0..FILES)
        .map(|i| std::fs::File::create(dir.join(format!("f{i}.log"))).map(std::io::BufWriter::new))
        .collect::<Result<_, _>>()?;
    for seq in 0..total {
        files[seq % FILES].write_all(line(seq, seq % FILES).as_bytes())?;
    }
    for f in &mut files {
        f.flush()?;
    }
    Ok((total * LINE) as u64)
}

/// utime + stime of `pid` in seconds.
fn cpu_secs(pid: &str) -> R<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn status_kib(pid: &str, key: &str) -> R<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let l = s.lines().find(|l| l.starts_with(key)).ok_or("no key")?;
    Ok(l.split_whitespace().nth(1).ok_or("bad line")?.parse()?)
}

fn http_get(port: u16, path: &str) -> R<serde_json::Value> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let body = buf.split_once("\r\n\r\n").ok_or("no body")?.1;
    Ok(serde_json::from_str(body)?)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_loki(dir: &Path, record: Option<&Path>) -> R<(Proc, u16)> {
    let port_file = dir.join("loki.port");
    let mut cmd = Command::new(release_bin("test-loki"));
    cmd.args([
        "--port-file",
        &port_file.display().to_string(),
        "--keep-max",
        "0",
    ]);
    if let Some(r) = record {
        cmd.args(["--record", &r.display().to_string()]);
    }
    let child = Proc(cmd.stdout(Stdio::null()).spawn()?);
    let t0 = Instant::now();
    loop {
        if let Ok(p) = std::fs::read_to_string(&port_file)
            && let Ok(port) = p.trim().parse()
        {
            return Ok((child, port));
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return Err("test-loki did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_agent(dir: &Path, logs: &Path, loki_port: u16, extra: &str) -> R<Proc> {
    start_agent_bin(&release_bin("node-agent"), dir, logs, loki_port, extra)
}

fn start_agent_bin(bin: &Path, dir: &Path, logs: &Path, loki_port: u16, extra: &str) -> R<Proc> {
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.host]\nenabled = false\n[sources.smartctl]\nenabled = false\n[sources.storage_node]\nenabled = false\n\
             [sources.files]\ninclude = [\"{}/*.log\"]\n[sources.files.tail]\ndiscover_interval_ms = 200\npoll_interval_ms = 50\n\
             [[sinks.loki.endpoints]]\nurl = \"http://127.0.0.1:{loki_port}/loki/api/v1/push\"\n{extra}",
            logs.display()
        ),
    )?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    Ok(Proc(
        Command::new(bin)
            .args([
                "run",
                "--config",
                &cfg.display().to_string(),
                "--listen",
                &listen.to_string(),
            ])
            .args([
                "--data-dir",
                &dir.join("data").display().to_string(),
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .spawn()?,
    ))
}

fn wait_accepted(port: u16, n: u64, timeout: Duration) -> R<()> {
    let t0 = Instant::now();
    loop {
        let got = http_get(port, "/control/stats")?["accepted_entries"]
            .as_u64()
            .unwrap_or(0);
        if got >= n {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            return Err(format!("only {got} of {n} lines arrived").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn baseline(logs: &Path) -> R<(f64, u64)> {
    let me = std::process::id().to_string();
    let c0 = cpu_secs(&me)?;
    let mut lines = 0u64;
    let mut buf = vec![0u8; 128 * 1024];
    for i in 0..FILES {
        let mut f = std::fs::File::open(logs.join(format!("f{i}.log")))?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        }
    }
    Ok(((cpu_secs(&me)? - c0).max(0.01), lines))
}

fn throughput(total: usize) -> R<()> {
    let tmp = tempfile::tempdir()?;
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty)?;

    // Idle: an agent with the same config and no files.
    let (_l0, p0) = start_loki(tmp.path(), None)?;
    let idle_dir = tmp.path().join("idle");
    std::fs::create_dir_all(&idle_dir)?;
    let idle = start_agent(&idle_dir, &empty, p0, "")?;
    std::thread::sleep(Duration::from_secs(3));
    let idle_rss = status_kib(&idle.0.id().to_string(), "VmRSS:")? / 1024.0;
    drop(idle);
    drop(_l0);

    let bytes = write_corpus(&logs, total)?;
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let (base_cpu, base_lines) = baseline(&logs)?;
    assert_eq!(base_lines, total as u64);

    let loki_dir = tmp.path().join("loki");
    std::fs::create_dir_all(&loki_dir)?;
    let (_loki, port) = start_loki(&loki_dir, None)?;
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir)?;
    let t0 = Instant::now();
    let agent = start_agent(&run_dir, &logs, port, "")?;
    let pid = agent.0.id().to_string();
    wait_accepted(port, total as u64, Duration::from_secs(600))?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(&pid)?;
    let peak = status_kib(&pid, "VmHWM:")? / 1024.0;
    std::thread::sleep(Duration::from_secs(3));
    let after = status_kib(&pid, "VmRSS:")? / 1024.0;

    let agent_mib_s = mib / cpu;
    let base_mib_s = mib / base_cpu;
    println!(
        "logs_throughput: {total} lines, {mib:.1} MiB in {FILES} files -> test Loki (protobuf+snappy)"
    );
    println!("  agent: wall {wall:.2} s, cpu {cpu:.2} s");
    println!(
        "  agent: {agent_mib_s:.1} MiB/cpu-s, {:.0} lines/cpu-s",
        total as f64 / cpu
    );
    println!(
        "  baseline (read + count lines, this process): {base_mib_s:.1} MiB/cpu-s; agent/baseline = {:.3}",
        agent_mib_s / base_mib_s
    );
    println!(
        "  anchors: Promtail 23 MiB/cpu-s, 161k lines/cpu-s -> agent/promtail = {:.2}x MiB, {:.2}x lines",
        agent_mib_s / 23.0,
        total as f64 / cpu / 161_000.0
    );
    println!(
        "  rss: peak {peak:.1} MiB (Promtail 106), idle {idle_rss:.1} MiB (Promtail 71), after the run {after:.1} MiB"
    );
    Ok(())
}

/// Writes `total` lines of the varied corpus ([`varied_corpus`]) into `FILES` files; returns the
/// bytes written.
fn write_varied_corpus(dir: &Path, total: usize) -> R<u64> {
    let pool = varied_corpus::pool(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    let mut lines = varied_corpus::Lines::new(&pool);
    let mut files: Vec<_> = (0..FILES)
        .map(|i| std::fs::File::create(dir.join(format!("m{i}.log"))).map(std::io::BufWriter::new))
        .collect::<Result<_, _>>()?;
    let mut bytes = 0u64;
    let mut buf = Vec::new();
    for seq in 0..total {
        lines.next_into(&mut buf);
        buf.push(b'\n');
        bytes += buf.len() as u64;
        files[seq % FILES].write_all(&buf)?;
    }
    for f in &mut files {
        f.flush()?;
    }
    Ok(bytes)
}

/// Ships `logs` once with `extra` config with the agent `bin`; returns the agent's CPU seconds.
fn ship_cpu(bin: &Path, dir: &Path, logs: &Path, total: usize, extra: &str) -> R<f64> {
    std::fs::create_dir_all(dir)?;
    let (_loki, port) = start_loki(dir, None)?;
    let agent = start_agent_bin(bin, dir, logs, port, extra)?;
    wait_accepted(port, total as u64, Duration::from_secs(600))?;
    let cpu = cpu_secs(&agent.0.id().to_string())?;
    Ok(cpu)
}

fn mining(total: usize) -> R<()> {
    let tmp = tempfile::tempdir()?;
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let bytes = write_varied_corpus(&logs, total)?;
    // Off and on take turns, the least CPU of each kept: one busy moment on a shared machine
    // does not decide the ratio.
    let rounds: usize = std::env::var("LOGS_BENCH_MINING_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    // This build, and the baseline binary if one is given: their rounds alternate too.
    let mut builds = vec![("this build".to_string(), release_bin("node-agent"))];
    if let Some(b) = std::env::var_os("LOGS_BENCH_BASELINE_BIN") {
        let b = PathBuf::from(b);
        builds.push((format!("baseline {}", b.display()), b));
    }
    let mut best = vec![(f64::MAX, f64::MAX); builds.len()];
    for r in 0..rounds.max(1) {
        for (i, (_, bin)) in builds.iter().enumerate() {
            let dir = tmp.path().join(format!("off{r}_{i}"));
            best[i].0 = best[i].0.min(ship_cpu(bin, &dir, &logs, total, "")?);
            let dir = tmp.path().join(format!("on{r}_{i}"));
            best[i].1 = best[i].1.min(ship_cpu(
                bin,
                &dir,
                &logs,
                total,
                "[transforms.log_patterns]\nenabled = true\n",
            )?);
        }
    }
    println!(
        "log_patterns mining: {total} varied lines ({:.1} MiB, all accuracy corpora, numbers re-drawn) in {FILES} files",
        bytes as f64 / (1024.0 * 1024.0)
    );
    for ((name, _), (off, on)) in builds.iter().zip(&best) {
        let ratio = on / off.max(0.01);
        println!(
            "  {name}: off: cpu {off:.2} s, {:.0} lines/cpu-s; on: cpu {on:.2} s, {:.0} lines/cpu-s (target >= 1000000)",
            total as f64 / off.max(0.01),
            total as f64 / on.max(0.01)
        );
        println!("  {name}: cpu per line on/off = {ratio:.3} (target <= 1.30)");
    }
    if let [(off, on), (b_off, b_on)] = best.as_slice() {
        println!(
            "  this build / baseline, cpu per line: off {:.3}, on {:.3}",
            off / b_off.max(0.01),
            on / b_on.max(0.01)
        );
    }
    Ok(())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn delay(secs: u64) -> R<()> {
    let tmp = tempfile::tempdir()?;
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let record = tmp.path().join("record.jsonl");
    let (_loki, port) = start_loki(tmp.path(), Some(&record))?;
    let _agent = start_agent(tmp.path(), &logs, port, "")?;
    std::thread::sleep(Duration::from_secs(2));
    let rate = 10_000u64;
    let total = rate * secs;
    let mut files: Vec<_> = (0..FILES)
        .map(|i| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join(format!("d{i}.log")))
        })
        .collect::<Result<_, _>>()?;
    let t0 = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = rate / 100;
    let mut seq = 0u64;
    while seq < total {
        let due = t0 + tick * (seq / per_tick) as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let ts = now_ns();
        for _ in 0..per_tick {
            let f = (seq % FILES as u64) as usize;
            writeln!(
                files[f],
                "written={ts} {}",
                line(seq as usize, f).trim_end()
            )?;
            seq += 1;
        }
    }
    wait_accepted(port, total, Duration::from_secs(120))?;
    let mut delays: Vec<f64> = Vec::with_capacity(total as usize);
    for l in std::fs::read_to_string(&record)?.lines() {
        let v: serde_json::Value = serde_json::from_str(l)?;
        let line = v["line"].as_str().unwrap_or("");
        let written: u128 = line
            .strip_prefix("written=")
            .and_then(|r| r.split(' ').next())
            .ok_or("bad line")?
            .parse()?;
        let received = v["received"]
            .as_u64()
            .map(u128::from)
            .ok_or("no received")?;
        delays.push(received.saturating_sub(written) as f64 / 1e9);
    }
    delays.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| delays[((delays.len() - 1) as f64 * p) as usize];
    println!(
        "delivery delay at {rate} lines/s for {secs} s ({} lines): p50 {:.3} s, p99 {:.3} s, max {:.3} s (target p99 < 2 s)",
        delays.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    Ok(())
}

fn main() -> R<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let total: usize = std::env::var("LOGS_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let secs: u64 = std::env::var("LOGS_BENCH_DELAY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mining_lines: usize = std::env::var("LOGS_BENCH_MINING_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // `LOGS_BENCH_ONLY=mining` runs only part 2.
    let only_mining = std::env::var("LOGS_BENCH_ONLY").is_ok_and(|v| v == "mining");
    ensure_binaries()?;
    if !only_mining {
        throughput(total)?;
    }
    mining(mining_lines)?;
    if !only_mining {
        delay(secs)?;
    }
    Ok(())
}
