//! The release `node-agent`'s CPU and memory with the `ceph` source on, against a real Ceph 16
//! cluster (Debian's packages; `tests/python/harness/ceph_cluster.py` starts one mon, one mgr
//! with the prometheus module and two BlueStore OSDs on loopback), in the same run as the
//! baseline: the same agent with the ceph source off. Both collect once a second (host source
//! and, for the first, every admin socket) and are scraped once a second for `ROUNDS` rounds
//! while `rados bench` writes; reported: CPU seconds per second (schedstat of every thread),
//! VmRSS/VmHWM, bytes per scrape, and the ratios to the baseline. Nothing is asserted on time.
//!
//! Needs `cargo build --release -p agent` and the ceph packages (`scripts/test.sh` installs
//! them). Run: `cargo bench -p agent --bench ceph_source`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Proc, free_port, release, repo};

const ROUNDS: u64 = 30;

/// The Ceph cluster: stops when its stdin closes (dropped), then waits for it.
struct Cluster {
    child: Child,
    stdin: Option<ChildStdin>,
}
impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..600 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET /metrics; the body length.
fn scrape(port: u16) -> Option<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    Some(buf.len() - head_end)
}

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
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn agent(dir: &Path, port: u16, toml: &str) -> Proc {
    let cfg = dir.join(format!("agent-{port}.toml"));
    std::fs::write(&cfg, toml).expect("write config");
    let c = Command::new(release("node-agent"))
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join(format!("data-{port}")))
        .args(["--otlp-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node-agent");
    let p = Proc(c);
    for _ in 0..200 {
        if scrape(port).is_some() {
            return p;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node-agent did not answer");
}

fn main() {
    let missing: Vec<&str> = ["ceph-mon", "ceph-mgr", "ceph-osd", "rados"]
        .into_iter()
        .filter(|t| {
            !std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
        })
        .collect();
    if !missing.is_empty() {
        println!(
            "!!!!! CEPH NOT INSTALLED ({missing:?}): the ceph_source bench did not run. apt-get install ceph (scripts/test.sh does) !!!!!"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("python3")
        .args(["-m", "harness.ceph_cluster"])
        .arg(dir.path().join("ceph"))
        .arg("2")
        .current_dir(repo().join("tests/python"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the Ceph harness");
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout");
    let cluster = Cluster { child, stdin };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the harness's ready line");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.first(), Some(&"ready"), "harness said {line:?}");
    let (run_dir, conf) = (f[1], f[3]);

    let base = "[sources.host]\ninterval_secs = 1\ntimeout_ms = 900\n[sources.smartctl]\nenabled = false\n[sources.storage_node]\nenabled = false\n";
    let with_ceph = format!(
        "{base}[sources.ceph]\nenabled = true\nsocket_glob = \"{run_dir}/*.asok\"\ninterval_secs = 1\ntimeout_ms = 900\nsocket_timeout_ms = 800\n"
    );
    let (p_off, p_on) = (free_port(), free_port());
    let off = agent(dir.path(), p_off, base);
    let on = agent(dir.path(), p_on, &with_ceph);
    std::thread::sleep(Duration::from_secs(2));

    let mut bench = Proc(
        Command::new("rados")
            .args(["--conf", conf, "-p", "bench", "bench"])
            .arg((ROUNDS + 10).to_string())
            .args(["write", "-b", "4096", "-t", "4", "--no-cleanup"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rados bench"),
    );
    let (pid_off, pid_on) = (off.0.id(), on.0.id());
    let (c_off, c_on) = (cpu_ns(pid_off), cpu_ns(pid_on));
    let (mut b_off, mut b_on) = (0, 0);
    let start = Instant::now();
    for i in 0..ROUNDS {
        b_off = scrape(p_off).expect("scrape agent without ceph");
        b_on = scrape(p_on).expect("scrape agent with ceph");
        let next = start + Duration::from_secs(i + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_off = (cpu_ns(pid_off) - c_off) as f64 / 1e9 / secs;
    let cpu_on = (cpu_ns(pid_on) - c_on) as f64 / 1e9 / secs;
    let _ = bench.0.kill();
    let _ = bench.0.wait();
    let (rss_off, hwm_off) = (status_kib(pid_off, "VmRSS:"), status_kib(pid_off, "VmHWM:"));
    let (rss_on, hwm_on) = (status_kib(pid_on, "VmRSS:"), status_kib(pid_on, "VmHWM:"));
    println!(
        "node-agent with the ceph source on (2 OSDs + mon + mgr admin sockets, every 1 s, rados bench writing) vs the same agent without it, {ROUNDS} s, scraped at 1/s:"
    );
    println!(
        "  CPU: ceph on {:.2} ms/s ({:.3} % of a core) | ceph off {:.2} ms/s | ratio {:.2}",
        cpu_on * 1e3,
        cpu_on * 100.0,
        cpu_off * 1e3,
        cpu_on / cpu_off
    );
    println!(
        "  VmRSS: ceph on {:.1} MiB (VmHWM {:.1}) | ceph off {:.1} MiB (VmHWM {:.1}) | ratio {:.2}",
        rss_on as f64 / 1024.0,
        hwm_on as f64 / 1024.0,
        rss_off as f64 / 1024.0,
        hwm_off as f64 / 1024.0,
        rss_on as f64 / rss_off as f64
    );
    println!(
        "  bytes per scrape: ceph on {b_on} | ceph off {b_off} | ratio {:.2}",
        b_on as f64 / b_off as f64
    );
    drop(on);
    drop(off);
    drop(cluster);
}
