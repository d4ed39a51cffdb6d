//! The release `node-agent` against Debian's `prometheus-node-exporter` on the same machine, in
//! the same run (the baseline):
//! 1. CPU time per scrape, collection included: both scraped once a second for `ROUNDS` rounds
//!    (the agent's host source also collects once a second), CPU from /proc/<pid>/stat
//!    utime+stime deltas.
//! 2. CPU time per scrape, render only (the agent serves its cached batch), rapid scrapes.
//! 3. Bytes per scrape, plain and gzip.
//! 4. Resident memory (VmRSS, VmHWM) of the agent with every source on: host, smartctl (a fake
//!    script printing a real capture from agent/tests/data/smartctl), storage_node (a real
//!    `storage-node`) and remote_write (to a loopback receiver) after a few collections.
//!
//! Needs `cargo build --release -p agent -p storage-node` first. Run:
//! `cargo bench -p agent --bench agent_process`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Proc, free_port, release, repo};

const ROUNDS: usize = 40;
const RAPID: usize = 200;

/// GET `path`; returns (status, body length).
fn get(port: u16, path: &str, gzip: bool) -> Option<(u16, usize)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let enc = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{enc}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let status = std::str::from_utf8(buf.get(9..12)?).ok()?.parse().ok()?;
    Some((status, buf.len() - head_end))
}

fn wait_ready(port: u16, path: &str, what: &str) {
    for _ in 0..200 {
        if get(port, path, false).is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not answer on {path}");
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// CPU time in ns of every live thread (`/proc/<pid>/task/*/schedstat`), finer than ticks.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| {
                let p = e.ok()?.path().join("schedstat");
                std::fs::read_to_string(p)
                    .ok()?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
        })
        .unwrap_or(0)
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // USER_HZ is 100 on every Linux architecture we run on.
    100.0
}

fn node_exporter(port: u16) -> Proc {
    let c = Command::new("prometheus-node-exporter")
        .args([
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.loadavg".into(),
            "--collector.diskstats".into(),
            "--collector.filesystem".into(),
            "--collector.netdev".into(),
            "--collector.pressure".into(),
            "--collector.stat".into(),
            "--collector.time".into(),
            "--collector.uname".into(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-node-exporter (apt-get install prometheus-node-exporter)");
    let p = Proc(c);
    wait_ready(port, "/metrics", "node_exporter");
    p
}

fn agent(dir: &Path, port: u16, toml: &str) -> Proc {
    let cfg = dir.join(format!("agent-{port}.toml"));
    std::fs::write(&cfg, toml).expect("write config");
    let c = Command::new(release("node-agent"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join(format!("data-{port}")))
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node-agent");
    let p = Proc(c);
    wait_ready(port, "/healthz", "node-agent");
    p
}

const HOST_ONLY: &str = "[sources.host]\ninterval_secs = 1\ntimeout_ms = 900\n[sources.smartctl]\nenabled = false\n[sources.storage_node]\nenabled = false\n";
const HOST_SLOW: &str = "[sources.host]\ninterval_secs = 3600\ntimeout_ms = 5000\n[sources.smartctl]\nenabled = false\n[sources.storage_node]\nenabled = false\n";

/// A remote_write receiver that answers 204 to everything.
fn receiver() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().take(100_000) {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(h) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&have[..h]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if have.len() < h + 4 + len {
                            break;
                        }
                        have.drain(..h + 4 + len);
                        if s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ne_port, ag_port, ag2_port) = (free_port(), free_port(), free_port());
    let ne = node_exporter(ne_port);
    let ag = agent(dir.path(), ag_port, HOST_ONLY);
    std::thread::sleep(Duration::from_millis(1500));
    let (ne_pid, ag_pid) = (ne.0.id(), ag.0.id());

    // 1. Once a second, collection included.
    let (ne0, ag0) = (cpu_ticks(ne_pid), cpu_ticks(ag_pid));
    let (ne0ns, ag0ns) = (cpu_ns(ne_pid), cpu_ns(ag_pid));
    let (mut ne_bytes, mut ag_bytes) = (0, 0);
    let start = Instant::now();
    for i in 0..ROUNDS {
        ne_bytes = get(ne_port, "/metrics", false)
            .expect("scrape node_exporter")
            .1;
        ag_bytes = get(ag_port, "/metrics", false).expect("scrape agent").1;
        let next = start + Duration::from_secs(i as u64 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let tps = ticks_per_sec();
    let ne_cpu = (cpu_ticks(ne_pid) - ne0) as f64 / tps / ROUNDS as f64;
    let ag_cpu = (cpu_ticks(ag_pid) - ag0) as f64 / tps / ROUNDS as f64;
    let ne_ns = (cpu_ns(ne_pid) - ne0ns) as f64 / 1e9 / ROUNDS as f64;
    let ag_ns = (cpu_ns(ag_pid) - ag0ns) as f64 / 1e9 / ROUNDS as f64;
    println!(
        "CPU per scrape, collection included ({ROUNDS} scrapes at 1/s; agent host source every 1 s):"
    );
    println!(
        "  node-agent {:.2} ms | node_exporter {:.2} ms | ratio {:.2}",
        ag_cpu * 1e3,
        ne_cpu * 1e3,
        ag_cpu / ne_cpu
    );
    println!(
        "  (schedstat, ns resolution, live threads) node-agent {:.3} ms | node_exporter {:.3} ms | ratio {:.2}",
        ag_ns * 1e3,
        ne_ns * 1e3,
        ag_ns / ne_ns
    );

    // 2. Render only: the agent serves its cached batch; node_exporter collects on every scrape.
    drop(ag);
    let ag2 = agent(dir.path(), ag2_port, HOST_SLOW);
    std::thread::sleep(Duration::from_millis(1000));
    let ag2_pid = ag2.0.id();
    let (ne0, ag0) = (cpu_ticks(ne_pid), cpu_ticks(ag2_pid));
    let (mut ne_gz, mut ag_gz) = (0, 0);
    for _ in 0..RAPID {
        ne_gz = get(ne_port, "/metrics", true)
            .expect("scrape node_exporter")
            .1;
        ag_gz = get(ag2_port, "/metrics", true).expect("scrape agent").1;
    }
    let ne_cpu2 = (cpu_ticks(ne_pid) - ne0) as f64 / tps / RAPID as f64;
    let ag_cpu2 = (cpu_ticks(ag2_pid) - ag0) as f64 / tps / RAPID as f64;
    println!(
        "CPU per scrape, back-to-back gzip scrapes ({RAPID}; the agent renders its cached batch):"
    );
    println!(
        "  node-agent {:.3} ms | node_exporter {:.3} ms | ratio {:.2}",
        ag_cpu2 * 1e3,
        ne_cpu2 * 1e3,
        ag_cpu2 / ne_cpu2
    );
    println!("Bytes per scrape (the agent's include its own nodewatch_agent_*/process_* series):");
    println!(
        "  plain: node-agent {ag_bytes} | node_exporter {ne_bytes} | ratio {:.2}",
        ag_bytes as f64 / ne_bytes as f64
    );
    println!(
        "  gzip : node-agent {ag_gz} | node_exporter {ne_gz} | ratio {:.2}",
        ag_gz as f64 / ne_gz as f64
    );
    drop(ag2);

    // 4. Memory with every source on.
    let ne_rss = status_kib(ne_pid, "VmRSS:");
    let sn_port = free_port();
    let sn_admin = free_port();
    let sn = Proc(
        Command::new(release("storage-node"))
            .args([
                "serve",
                "--node-id",
                "bench-1",
                "--s3-listen",
                &format!("127.0.0.1:{sn_port}"),
                "--admin-listen",
                &format!("127.0.0.1:{sn_admin}"),
                "--access-key",
                "BENCHKEY",
                "--secret-key",
                "benchsecretbenchsecret",
                "--data-dir",
            ])
            .arg(dir.path().join("sn"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start storage-node"),
    );
    wait_ready(sn_admin, "/readyz", "storage-node");
    let data = repo().join("agent/tests/data/smartctl");
    let script = dir.path().join("smartctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --scan-open \"*) cat '{d}/scan-simple-flatcar.json'; exit 0 ;; esac\ncat '{d}/ata-hdd-seagate-exos-x16-st16000nm001g.json'\n",
            d = data.display()
        ),
    )
    .expect("write script");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let rw_port = receiver();
    let all = format!(
        "[sources.host]\ninterval_secs = 1\ntimeout_ms = 900\n[sources.smartctl]\nenabled = true\nsmartctl_path = \"{}\"\ninterval_secs = 1\ntimeout_ms = 900\ndevice_timeout_ms = 800\n[sources.storage_node]\nurls = [\"http://127.0.0.1:{sn_admin}\"]\ninterval_secs = 1\ntimeout_ms = 900\n[sinks.prometheus_remote_write]\nurl = \"http://127.0.0.1:{rw_port}/api/v1/write\"\nbatch_send_deadline_ms = 200\n",
        script.display()
    );
    let ag3_port = free_port();
    let ag3 = agent(dir.path(), ag3_port, &all);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_secs(1));
        let _ = get(ag3_port, "/metrics", true);
    }
    let pid = ag3.0.id();
    let (rss, hwm) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    let (_, body) = get(ag3_port, "/metrics", false).expect("scrape");
    let text_ok = get(ag3_port, "/metrics", false).is_some();
    println!(
        "Resident memory, all sources on (host, smartctl fake, storage_node real, remote_write), after 8 collections:"
    );
    println!(
        "  node-agent VmRSS {:.1} MiB, VmHWM {:.1} MiB ({body} bytes per scrape, ok={text_ok}) | node_exporter (host collectors only) VmRSS {:.1} MiB | ratio {:.2}",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        ne_rss as f64 / 1024.0,
        rss as f64 / ne_rss as f64
    );
    let wal = dir.path().join(format!("data-{ag3_port}/remote_write"));
    let wal_bytes: u64 = std::fs::read_dir(&wal)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("  remote_write WAL on disk after the run: {wal_bytes} bytes");
    drop(ag3);
    drop(sn);
    drop(ne);
}
