//! Running smartctl: the [`SmartReader`] trait and the real [`CommandReader`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncReadExt as _;

use super::error::SmartctlError;
use super::parse::DeviceSpec;

/// One smartctl run: its exit status and (bounded) stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutput {
    /// The exit status (a bit mask, see smartctl(8)); -1 when killed by a signal.
    pub exit_status: i32,
    /// What it printed.
    pub stdout: Vec<u8>,
}

/// Where SMART data comes from. The real one runs smartctl; tests replay fixtures.
#[async_trait]
pub trait SmartReader: Send + Sync + std::fmt::Debug + 'static {
    /// `smartctl --scan-open -j`.
    async fn scan(&self) -> Result<RawOutput, SmartctlError>;
    /// `smartctl -j -x [-n standby] [-d TYPE] DEVICE`.
    async fn query(
        &self,
        device: &DeviceSpec,
        wake_standby: bool,
    ) -> Result<RawOutput, SmartctlError>;
}

/// Finds an executable: a path with a `/` is taken as is, a bare name is looked up on `PATH`
/// (and in the sbin directories, where Debian puts smartctl).
pub fn resolve_binary(path: &Path) -> Option<PathBuf> {
    fn executable(p: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if path.components().count() > 1 || path.is_absolute() {
        return executable(path).then(|| path.to_path_buf());
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(path))
        .find(|p| executable(p))
}

/// Runs the real smartctl binary.
#[derive(Debug, Clone)]
pub struct CommandReader {
    binary: PathBuf,
    timeout: Duration,
    max_output_bytes: usize,
}

impl CommandReader {
    /// A reader for `binary`, each run bounded by `timeout` and `max_output_bytes`.
    pub fn new(binary: PathBuf, timeout: Duration, max_output_bytes: usize) -> Self {
        CommandReader {
            binary,
            timeout,
            max_output_bytes,
        }
    }

    async fn run(&self, what: &str, args: &[&str]) -> Result<RawOutput, SmartctlError> {
        let mut child = tokio::process::Command::new(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SmartctlError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(SmartctlError::Output {
                what: what.to_string(),
                source: std::io::Error::other("no stdout pipe"),
            });
        };
        let limit = self.max_output_bytes;
        let work = async {
            let mut buf = Vec::new();
            stdout
                .take(limit as u64 + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|source| SmartctlError::Output {
                    what: what.to_string(),
                    source,
                })?;
            if buf.len() > limit {
                return Err(SmartctlError::TooLarge {
                    what: what.to_string(),
                    limit,
                });
            }
            let status = child.wait().await.map_err(|source| SmartctlError::Output {
                what: what.to_string(),
                source,
            })?;
            Ok(RawOutput {
                exit_status: status.code().unwrap_or(-1),
                stdout: buf,
            })
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            // Dropping `work` drops the child, and kill_on_drop kills it.
            Err(_) => Err(SmartctlError::Timeout {
                what: what.to_string(),
                timeout_ms: self.timeout.as_millis() as u64,
            }),
        }
    }
}

#[async_trait]
impl SmartReader for CommandReader {
    async fn scan(&self) -> Result<RawOutput, SmartctlError> {
        self.run("scan", &["--scan-open", "-j"]).await
    }

    async fn query(
        &self,
        device: &DeviceSpec,
        wake_standby: bool,
    ) -> Result<RawOutput, SmartctlError> {
        let mut args: Vec<&str> = vec!["-j", "-x"];
        if !wake_standby {
            args.extend(["-n", "standby"]);
        }
        if let Some(t) = &device.device_type {
            args.extend(["-d", t.as_str()]);
        }
        args.push("--");
        args.push(device.name.as_str());
        self.run(&device.name, &args).await
    }
}
