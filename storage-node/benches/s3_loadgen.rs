//! S3 load generator: `cargo bench -p storage-node --bench s3_loadgen`.
//!
//! In one run it measures, at a chosen concurrency (`LOADGEN_CONCURRENCY`, default 16) and for
//! `LOADGEN_SECS` seconds per phase (default 8):
//! - the raw file system: write, fsync, rename of 4 KiB files, done by this process (the baseline);
//! - PUT and GET of 4 KiB and 1 MiB objects against a storage node with instrumentation on;
//! - the same against a node with instrumentation off (`--instrumentation false`).
//!
//! It prints ops/s and p50/p99/p999 latency for each, then the ratios: instrumentation overhead, and
//! the node's 4 KiB PUT p99 against the raw file system's p99.
//! Requests are signed with SigV4 (UNSIGNED-PAYLOAD), as SDKs do over HTTP.
//!
//! `LOADGEN_MODE=replication` measures replication instead, with three peered nodes on loopback:
//! - 4 KiB PUT throughput on a node with two peers (asynchronous replication) as a ratio to a single
//!   node, alternated over `LOADGEN_ROUNDS` rounds;
//! - the replication lag gauge (`storage_node_replication_lag_seconds`) sampled every 100 ms under
//!   that sustained load: p50/p99;
//! - catch-up after a peer outage: one peer is killed (SIGKILL), PUT load runs for
//!   `LOADGEN_OUTAGE_SECS` (default 60), the peer restarts, and the time until its pending entries
//!   reach 0 is reported;
//! - 4 KiB PUT IOPS and p99 at `LOADGEN_CONCURRENCY` in flight with `--write-quorum 3`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

const ACCESS: &str = "loadgen";
const SECRET: &str = "loadgen-secret-key";
const REGION: &str = "us-east-1";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` for now (UTC), without a date crate.
fn amz_dates() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    (date, stamp)
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("hmac takes any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A SigV4-signed request with an unsigned payload. `path` must need no percent-encoding.
fn signed(method: &str, host: &str, path: &str, body: Bytes) -> http::Request<Full<Bytes>> {
    let (date, stamp) = amz_dates();
    let canonical = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"
    );
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET}").as_bytes(), &date);
    for part in [REGION, "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &to_sign));
    http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("host", host)
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("x-amz-date", stamp)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={ACCESS}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"),
        )
        .body(Full::new(body))
        .expect("valid request")
}

struct Node {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(instrumentation: bool) -> Node {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let (s3, admin) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_storage-node"))
        .args([
            "serve",
            "--node-id",
            "bench",
            "--access-key",
            ACCESS,
            "--secret-key",
            SECRET,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--s3-listen",
            &format!("127.0.0.1:{s3}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .args([
            "--instrumentation",
            if instrumentation { "true" } else { "false" },
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start storage-node");
    let node = Node {
        child,
        host: format!("127.0.0.1:{s3}"),
        _dir: dir,
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", admin)).is_ok() {
            return node;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("storage-node did not start");
}

fn bench_dir() -> PathBuf {
    std::env::var_os("LOADGEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

#[derive(Debug, Default)]
struct Result_ {
    ops: u64,
    errors: u64,
    secs: f64,
    lat_us: Vec<u32>,
}

impl Result_ {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return 0.0;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.lat_us[i]) / 1000.0
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p999 {:>7.2} ms  errors {}",
            self.ops_per_sec(),
            self.pct(0.50),
            self.pct(0.99),
            self.pct(0.999),
            self.errors
        )
    }
}

fn merge(parts: Vec<Result_>, secs: f64) -> Result_ {
    let mut r = Result_ {
        secs,
        ..Default::default()
    };
    for p in parts {
        r.ops += p.ops;
        r.errors += p.errors;
        r.lat_us.extend(p.lat_us);
    }
    r.lat_us.sort_unstable();
    r
}

/// The baseline: this process writes, fsyncs and renames files itself.
fn raw_fs(size: usize, concurrency: usize, secs: u64) -> Result_ {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let dir = Arc::new(dir.path().to_owned());
    let started = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let data = vec![0x5au8; size];
                let mut r = Result_::default();
                let deadline = Instant::now() + Duration::from_secs(secs);
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let tmp = dir.join(format!("tmp-{w}-{i}"));
                    let dst = dir.join(format!("obj-{w}-{}", i % 1000));
                    let ok = (|| -> std::io::Result<()> {
                        let mut f = std::fs::File::create(&tmp)?;
                        f.write_all(&data)?;
                        f.sync_all()?;
                        std::fs::rename(&tmp, &dst)
                    })();
                    if ok.is_ok() {
                        r.ops += 1
                    } else {
                        r.errors += 1
                    }
                    r.lat_us
                        .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    i += 1;
                }
                r
            })
        })
        .collect();
    let parts = threads
        .into_iter()
        .map(|t| t.join().expect("worker"))
        .collect();
    merge(parts, started.elapsed().as_secs_f64())
}

async fn s3_phase(
    client: &HttpClient,
    host: &str,
    method: &'static str,
    size: usize,
    concurrency: usize,
    secs: u64,
) -> Result_ {
    let body = Bytes::from(vec![0xa5u8; size]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, host, body) = (client.clone(), host.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = Result_::default();
            let deadline = Instant::now() + Duration::from_secs(secs);
            let mut i = 0u64;
            while Instant::now() < deadline {
                // GETs read keys every PUT phase wrote (each worker writes at least 64).
                let n = if method == "PUT" { 500 } else { 64 };
                let path = format!("/bench/s{size}/w{w}/k{}", i % n);
                let b = if method == "PUT" {
                    body.clone()
                } else {
                    Bytes::new()
                };
                let t = Instant::now();
                let ok = match client.request(signed(method, &host, &path, b)).await {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.into_body().collect().await.is_ok() && status.is_success()
                    }
                    Err(_) => false,
                };
                if ok {
                    r.ops += 1
                } else {
                    r.errors += 1
                }
                r.lat_us
                    .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                i += 1;
            }
            r
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.expect("worker"));
    }
    merge(parts, started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs every phase on both nodes, alternating off/on for `rounds` rounds so neither side always
/// runs on a warmer machine; keeps each round's result.
async fn compare(
    client: &HttpClient,
    concurrency: usize,
    secs: u64,
    rounds: usize,
) -> Vec<(String, Vec<Result_>, Vec<Result_>)> {
    let off = start_node(false);
    let on = start_node(true);
    for node in [&off, &on] {
        let resp = client
            .request(signed("PUT", &node.host, "/bench", Bytes::new()))
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
    }
    let mut out = Vec::new();
    for (size, label) in [(4096usize, "4KiB"), (1 << 20, "1MiB")] {
        for method in ["PUT", "GET"] {
            let name = format!("{method} {label} c{concurrency}");
            let (mut ons, mut offs) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                let first_off = round % 2 == 0;
                for is_off in [first_off, !first_off] {
                    let node = if is_off { &off } else { &on };
                    let r = s3_phase(client, &node.host, method, size, concurrency, secs).await;
                    println!(
                        "{}",
                        r.line(&format!(
                            "{name} instr={} r{round}",
                            if is_off { "off" } else { "on" }
                        ))
                    );
                    if is_off { offs.push(r) } else { ons.push(r) }
                }
            }
            out.push((name, ons, offs));
        }
    }
    out
}

/// A node process with fixed ports and data directory, so it can be killed and restarted.
struct PeerProc {
    id: String,
    dir: PathBuf,
    s3: u16,
    admin: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl PeerProc {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.s3)
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_storage-node"))
            .args([
                "serve",
                "--node-id",
                &self.id,
                "--access-key",
                ACCESS,
                "--secret-key",
                SECRET,
                "--log-level",
                "warn",
            ])
            .arg("--data-dir")
            .arg(&self.dir)
            .args([
                "--s3-listen",
                &format!("127.0.0.1:{}", self.s3),
                "--admin-listen",
                &format!("127.0.0.1:{}", self.admin),
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .spawn()
            .expect("start storage-node");
        self.child = Some(child);
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.admin)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("storage-node {} did not start", self.id);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three peered nodes; `first_args` go to the first one only.
fn cluster(root: &std::path::Path, first_args: &[&str]) -> Vec<PeerProc> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let mut nodes: Vec<PeerProc> = (0..3)
        .map(|i| {
            let mut args: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .flat_map(|j| {
                    [
                        "--peer".to_owned(),
                        format!("n{j}=http://127.0.0.1:{}", ports[j].0),
                    ]
                })
                .collect();
            if i == 0 {
                args.extend(first_args.iter().map(|s| (*s).to_owned()));
            }
            PeerProc {
                id: format!("n{i}"),
                dir: root.join(format!("n{i}")),
                s3: ports[i].0,
                admin: ports[i].1,
                args,
                child: None,
            }
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    nodes
}

async fn scrape(client: &HttpClient, admin: u16, name: &str, peer: &str) -> Option<f64> {
    let req = http::Request::get(format!("http://127.0.0.1:{admin}/metrics"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    let resp = client.request(req).await.ok()?;
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let prefix = format!("{name}{{peer=\"{peer}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

async fn create_bucket(client: &HttpClient, host: &str) {
    let resp = client
        .request(signed("PUT", host, "/bench", Bytes::new()))
        .await
        .expect("create bucket");
    assert!(
        resp.status().is_success() || resp.status().as_u16() == 409,
        "create bucket: {}",
        resp.status()
    );
}

async fn replication_mode(client: &HttpClient, concurrency: usize, secs: u64, rounds: usize) {
    let outage = env_num("LOADGEN_OUTAGE_SECS", 60);
    let root = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    // 1. Throughput: one node alone against a node with two peers, alternated.
    let single = start_node(true);
    create_bucket(client, &single.host).await;
    let mut nodes = cluster(&root.path().join("async"), &[]);
    for n in &nodes {
        create_bucket(client, &n.host()).await;
    }
    let (mut alone, mut repl) = (Vec::new(), Vec::new());
    let mut lag_samples: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let a = s3_phase(client, &single.host, "PUT", 4096, concurrency, secs).await;
        println!(
            "{}",
            a.line(&format!("PUT 4KiB c{concurrency} single node r{round}"))
        );
        alone.push(a);
        // Sample the lag gauge of both peers while the replicated phase runs.
        let sampling = {
            let (client, admin) = (client.clone(), nodes[0].admin);
            tokio::spawn(async move {
                let mut v = Vec::new();
                let end = Instant::now() + Duration::from_secs(secs);
                while Instant::now() < end {
                    for peer in ["n1", "n2"] {
                        if let Some(x) =
                            scrape(&client, admin, "storage_node_replication_lag_seconds", peer)
                                .await
                        {
                            v.push(x);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                v
            })
        };
        let r = s3_phase(client, &nodes[0].host(), "PUT", 4096, concurrency, secs).await;
        println!(
            "{}",
            r.line(&format!("PUT 4KiB c{concurrency} 3 nodes async r{round}"))
        );
        repl.push(r);
        lag_samples.extend(sampling.await.expect("sampler"));
    }
    drop(single);
    let ops = |v: &[Result_]| median(v.iter().map(Result_::ops_per_sec).collect());
    lag_samples.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lag_samples
            .get(((lag_samples.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let (lag50, lag99, lagmax) = (
        pct(0.5),
        pct(0.99),
        lag_samples.last().copied().unwrap_or(0.0),
    );

    // 2. Catch-up after an outage of one peer under the same load.
    for _ in 0..100 {
        if scrape(
            client,
            nodes[0].admin,
            "storage_node_replication_pending_entries",
            "n2",
        )
        .await
            == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nodes[2].kill();
    let during = s3_phase(client, &nodes[0].host(), "PUT", 4096, concurrency, outage).await;
    println!(
        "{}",
        during.line(&format!("PUT 4KiB c{concurrency} during {outage}s outage"))
    );
    let backlog = scrape(
        client,
        nodes[0].admin,
        "storage_node_replication_pending_entries",
        "n2",
    )
    .await
    .unwrap_or(0.0);
    let t = Instant::now();
    nodes[2].start();
    let mut caught_up = None;
    for _ in 0..6000 {
        if scrape(
            client,
            nodes[0].admin,
            "storage_node_replication_pending_entries",
            "n2",
        )
        .await
            == Some(0.0)
        {
            caught_up = Some(t.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(nodes);

    // 3. Write quorum 3: every PUT waits for both peers.
    let nodes = cluster(&root.path().join("quorum"), &["--write-quorum", "3"]);
    for n in &nodes {
        create_bucket(client, &n.host()).await;
    }
    let mut quorum = Vec::new();
    for round in 0..rounds {
        let q = s3_phase(client, &nodes[0].host(), "PUT", 4096, concurrency, secs).await;
        println!(
            "{}",
            q.line(&format!("PUT 4KiB c{concurrency} write-quorum 3 r{round}"))
        );
        quorum.push(q);
    }
    drop(nodes);

    println!();
    println!("replication summary (medians over {rounds} rounds, same run):");
    println!(
        "PUT 4KiB c{concurrency}: single node {:.0} ops/s, 3 nodes async {:.0} ops/s, ratio {:.3}",
        ops(&alone),
        ops(&repl),
        ops(&repl) / ops(&alone)
    );
    println!(
        "steady-state lag under that load: p50 {:.3} s  p99 {:.3} s  max {:.3} s ({} samples)",
        lag50,
        lag99,
        lagmax,
        lag_samples.len()
    );
    match caught_up {
        Some(s) => println!(
            "catch-up after a {outage}s outage: {backlog:.0} entries in {s:.2} s ({:.0} entries/s)",
            backlog / s.max(0.001)
        ),
        None => println!(
            "catch-up after a {outage}s outage: {backlog:.0} entries NOT caught up within 300 s"
        ),
    }
    let qp99 = median(quorum.iter().map(|r| r.pct(0.99)).collect());
    println!(
        "PUT 4KiB c{concurrency} --write-quorum 3: {:.0} IOPS, p99 {qp99:.2} ms (ratio to single node {:.3}; errors {})",
        ops(&quorum),
        ops(&quorum) / ops(&alone),
        quorum.iter().map(|r| r.errors).sum::<u64>()
    );
}

fn main() {
    let concurrency = env_num("LOADGEN_CONCURRENCY", 16) as usize;
    if std::env::var("LOADGEN_MODE").as_deref() == Ok("replication") {
        let secs = env_num("LOADGEN_SECS", 4);
        let rounds = env_num("LOADGEN_ROUNDS", 3) as usize;
        println!(
            "s3_loadgen replication: concurrency {concurrency}, {secs}s per phase, {rounds} rounds, data under {}",
            bench_dir().display()
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency + 4)
            .build_http();
        rt.block_on(replication_mode(&client, concurrency, secs, rounds));
        return;
    }
    let secs = env_num("LOADGEN_SECS", 4);
    let rounds = env_num("LOADGEN_ROUNDS", 3) as usize;
    println!(
        "s3_loadgen: concurrency {concurrency}, {secs}s per phase, {rounds} rounds, data under {}",
        bench_dir().display()
    );
    let raw = raw_fs(4096, concurrency, secs * 2);
    println!(
        "{}",
        raw.line(&format!("raw fs write+fsync+rename 4KiB c{concurrency}"))
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let results = rt.block_on(compare(&client, concurrency, secs, rounds));
    println!();
    println!("summary (medians over {rounds} rounds, instrumentation on vs off in the same run):");
    for (name, ons, offs) in &results {
        let on = median(ons.iter().map(Result_::ops_per_sec).collect());
        let off = median(offs.iter().map(Result_::ops_per_sec).collect());
        let p99 = median(ons.iter().map(|r| r.pct(0.99)).collect());
        println!(
            "{name:<16} on {on:>8.0} ops/s  off {off:>8.0} ops/s  ratio on/off {:.3} (overhead {:+.1}%)  p99(on) {p99:.2} ms",
            on / off,
            (1.0 - on / off) * 100.0
        );
    }
    let put = &results
        .iter()
        .find(|(n, _, _)| n.starts_with("PUT 4KiB"))
        .expect("phase ran")
        .1;
    let p99 = median(put.iter().map(|r| r.pct(0.99)).collect());
    println!(
        "PUT 4KiB p99 vs raw fs p99: {p99:.2} ms / {:.2} ms = {:.2}x",
        raw.pct(0.99),
        p99 / raw.pct(0.99).max(0.001)
    );
}
