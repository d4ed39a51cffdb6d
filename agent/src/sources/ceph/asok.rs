//! The admin-socket protocol (Ceph's `AdminSocketClient`): connect to the unix socket, write the
//! JSON command and a NUL byte, read a 4-byte big-endian length and then that many bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use super::error::CephError;

/// Sends `{"prefix": <prefix>}` and returns the reply, bounded by `timeout` and `max_bytes`.
pub async fn request(
    path: &Path,
    prefix: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, CephError> {
    request_cmd(
        path,
        &serde_json::json!({ "prefix": prefix }),
        timeout,
        max_bytes,
    )
    .await
}

/// Sends a whole command object (`{"prefix": "config get", "var": "..."}`) and returns the
/// reply, bounded by `timeout` and `max_bytes`.
pub async fn request_cmd(
    path: &Path,
    cmd: &serde_json::Value,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, CephError> {
    let work = exchange(path, cmd, max_bytes);
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(CephError::Timeout {
            path: path.to_path_buf(),
            timeout_ms: timeout.as_millis() as u64,
        }),
    }
}

async fn exchange(
    path: &Path,
    cmd: &serde_json::Value,
    max_bytes: usize,
) -> Result<Vec<u8>, CephError> {
    let io = |source| CephError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut s = UnixStream::connect(path)
        .await
        .map_err(|source| CephError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
    let mut cmd = cmd.to_string().into_bytes();
    cmd.push(0);
    s.write_all(&cmd).await.map_err(io)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .await
        .map_err(|e| truncated_or(path, e, 0, 4))?;
    let want = u32::from_be_bytes(len) as usize;
    if want > max_bytes {
        return Err(CephError::TooLarge {
            path: path.to_path_buf(),
            len: want as u64,
            limit: max_bytes,
        });
    }
    let mut buf = Vec::with_capacity(want.min(1024 * 1024));
    (&mut s)
        .take(want as u64)
        .read_to_end(&mut buf)
        .await
        .map_err(io)?;
    if buf.len() < want {
        return Err(CephError::Truncated {
            path: path.to_path_buf(),
            got: buf.len(),
            want,
        });
    }
    Ok(buf)
}

fn truncated_or(path: &Path, e: std::io::Error, got: usize, want: usize) -> CephError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        CephError::Truncated {
            path: path.to_path_buf(),
            got,
            want,
        }
    } else {
        CephError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Splits `dir/pattern`; the directory may not hold wildcards.
pub fn split_glob(glob: &str) -> Result<(PathBuf, String), CephError> {
    let (dir, pat) = glob
        .rsplit_once('/')
        .ok_or_else(|| CephError::Glob(glob.to_string()))?;
    if dir.contains(['*', '?']) || pat.is_empty() {
        return Err(CephError::Glob(glob.to_string()));
    }
    let dir = if dir.is_empty() { "/" } else { dir };
    Ok((PathBuf::from(dir), pat.to_string()))
}

/// The sockets matching the glob, sorted, at most `max`.
pub fn find_sockets(glob: &str, max: usize) -> Result<Vec<PathBuf>, CephError> {
    let (dir, pat) = split_glob(glob)?;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PathBuf> = rd
        .take(100_000)
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| wildcard_match(&pat, n))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    if out.len() > max {
        tracing::warn!(
            found = out.len(),
            max,
            "more Ceph admin sockets than max_sockets; cut"
        );
        out.truncate(max);
    }
    Ok(out)
}

/// The `ceph_daemon` label from a socket name: `ceph-osd.0.asok` -> `osd.0` (the part before
/// the first `-` is the cluster name).
pub fn daemon_name(path: &Path) -> String {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = file.strip_suffix(".asok").unwrap_or(file);
    stem.split_once('-').map_or(stem, |(_, d)| d).to_string()
}
