//! The storage node's configuration: flags, `STORAGE_NODE_<OPTION>` environment variables and a TOML
//! file, merged in that order of precedence over embedded defaults. `check-config` runs
//! [`Config::validate`] without starting anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors found while loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid address for {option}: {value:?} ({reason})")]
    Address {
        option: &'static str,
        value: String,
        reason: String,
    },
    #[error("data directory {path} is not usable: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("secret key: {0}")]
    Secret(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("invalid value for {option}: {reason}")]
    Invalid {
        option: &'static str,
        reason: String,
    },
}

/// The TOML file. Every key is optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// This node's id, used in metrics and `/admin/status`.
    pub node_id: Option<String>,
    /// Where objects, multipart uploads and temporary files live.
    pub data_dir: Option<PathBuf>,
    /// Address of the S3 API.
    pub s3_listen: Option<String>,
    /// Address of `/metrics`, `/healthz`, `/readyz` and `/admin/status`.
    pub admin_listen: Option<String>,
    /// The S3 access key id.
    pub access_key: Option<String>,
    /// The S3 secret key. Prefer `secret_key_file`.
    pub secret_key: Option<String>,
    /// A file holding the S3 secret key (a mounted Kubernetes Secret); trailing newlines are ignored.
    pub secret_key_file: Option<PathBuf>,
    /// PEM certificate chain for HTTPS on the S3 API.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS on the S3 API.
    pub tls_key: Option<PathBuf>,
    /// An op older than this counts as slow (Ceph's `osd_op_complaint_time`).
    pub slow_op_threshold_ms: Option<u64>,
    /// Pause between two scrub passes.
    pub scrub_interval_secs: Option<u64>,
    /// Read rate of the scrubber, in bytes per second.
    pub scrub_bytes_per_sec: Option<u64>,
    /// Objects up to this many bytes go to the small-object log (group commit); 0 turns it off.
    pub small_object_max_bytes: Option<u64>,
    /// A small-object log segment is sealed (and may be compacted) once it holds this many bytes.
    pub log_segment_bytes: Option<u64>,
    /// Also write the JSON log lines to this file.
    pub log_file: Option<PathBuf>,
    /// The tracing filter, e.g. `info` or `storage_node=debug`.
    pub log_level: Option<String>,
    /// Record metrics (on by default; off only for overhead benchmarks).
    pub instrumentation: Option<bool>,
    /// Export one OTLP span per S3 request to this OTLP/HTTP traces URL (off when unset).
    pub otlp_traces_endpoint: Option<String>,
    /// Replication peers: a list of `"ID=URL"` or a table `ID = "URL"`; URL is the peer's S3 endpoint.
    pub peers: Option<crate::replication::config::PeersToml>,
    /// Copies (this one included) durable before a write is answered [default: 1].
    pub write_quorum: Option<usize>,
    /// How long a write waits for its quorum before a 503 [default: 5000].
    pub quorum_timeout_ms: Option<u64>,
    /// Unacknowledged object bytes kept per peer before it is left to recovery [default: 1 GiB].
    pub replication_backlog_max_bytes: Option<u64>,
    /// CA certificates (PEM) that `https://` peers' certificates must chain to.
    pub peer_ca_file: Option<PathBuf>,
}

/// Flags and environment variables; `None` means "not given here".
#[derive(Debug, Default, Clone, clap::Args)]
pub struct CliConfig {
    /// TOML config file; flags and environment variables override it.
    #[arg(long, env = "STORAGE_NODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id.
    #[arg(long, env = "STORAGE_NODE_NODE_ID")]
    pub node_id: Option<String>,
    /// Data directory.
    #[arg(long, env = "STORAGE_NODE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// S3 API listen address [default: 127.0.0.1:9000].
    #[arg(long, env = "STORAGE_NODE_S3_LISTEN")]
    pub s3_listen: Option<String>,
    /// Admin listen address for /metrics, /healthz, /readyz, /admin/status [default: 127.0.0.1:9900].
    #[arg(long, env = "STORAGE_NODE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "STORAGE_NODE_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// S3 secret key (prefer --secret-key-file).
    #[arg(long, env = "STORAGE_NODE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the S3 secret key.
    #[arg(long, env = "STORAGE_NODE_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve S3 over HTTPS.
    #[arg(long, env = "STORAGE_NODE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "STORAGE_NODE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Ops older than this are slow ops [default: 30000].
    #[arg(long, env = "STORAGE_NODE_SLOW_OP_THRESHOLD_MS")]
    pub slow_op_threshold_ms: Option<u64>,
    /// Pause between scrub passes, in seconds [default: 3600].
    #[arg(long, env = "STORAGE_NODE_SCRUB_INTERVAL_SECS")]
    pub scrub_interval_secs: Option<u64>,
    /// Scrub read rate in bytes per second [default: 16 MiB/s].
    #[arg(long, env = "STORAGE_NODE_SCRUB_BYTES_PER_SEC")]
    pub scrub_bytes_per_sec: Option<u64>,
    /// Objects up to this size go to the small-object log, made durable by group commit; 0 keeps
    /// every object in its own file [default: 65536, at most 8388608].
    #[arg(long, env = "STORAGE_NODE_SMALL_OBJECT_MAX_BYTES")]
    pub small_object_max_bytes: Option<u64>,
    /// A small-object log segment is sealed, and may then be compacted, once it holds this many
    /// bytes [default: 33554432, from 65536 to 1073741824].
    #[arg(long, env = "STORAGE_NODE_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,
    /// Also write JSON logs to this file.
    #[arg(long, env = "STORAGE_NODE_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Log filter [default: info].
    #[arg(long, env = "STORAGE_NODE_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Record metrics [default: true]; `false` only for overhead benchmarks.
    #[arg(long, env = "STORAGE_NODE_INSTRUMENTATION")]
    pub instrumentation: Option<bool>,
    /// Send traces over OTLP/HTTP (protobuf) to this URL, e.g. http://127.0.0.1:4318/v1/traces
    /// [default: off].
    #[arg(long, env = "STORAGE_NODE_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,
    /// Serve `POST /admin/fault` on the admin listener (tests only) [default: off].
    #[arg(long, env = "STORAGE_NODE_FAULT_INJECTION")]
    pub fault_injection: bool,
    /// A replication peer, `ID=URL` (its S3 endpoint); repeatable. The environment variable takes
    /// a comma-separated list. Replaces the config file's `peers` when given.
    #[arg(long = "peer", env = "STORAGE_NODE_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Copies, this one included, durable before a write is answered [default: 1].
    #[arg(long, env = "STORAGE_NODE_WRITE_QUORUM")]
    pub write_quorum: Option<usize>,
    /// How long a write waits for its quorum before answering 503, in ms [default: 5000].
    #[arg(long, env = "STORAGE_NODE_QUORUM_TIMEOUT_MS")]
    pub quorum_timeout_ms: Option<u64>,
    /// Unacknowledged object bytes kept per peer before it is left to recovery [default: 1 GiB].
    #[arg(long, env = "STORAGE_NODE_REPLICATION_BACKLOG_MAX_BYTES")]
    pub replication_backlog_max_bytes: Option<u64>,
    /// CA certificates (PEM) that `https://` peers' certificates must chain to.
    #[arg(long, env = "STORAGE_NODE_PEER_CA_FILE")]
    pub peer_ca_file: Option<PathBuf>,
}

/// The resolved, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: String,
    pub data_dir: PathBuf,
    pub s3_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    pub tls: Option<TlsFiles>,
    pub slow_op_threshold_ms: u64,
    pub scrub_interval_secs: u64,
    pub scrub_bytes_per_sec: u64,
    pub small_object_max_bytes: u64,
    pub log_segment_bytes: u64,
    pub log_file: Option<PathBuf>,
    pub log_level: String,
    pub instrumentation: bool,
    pub otlp_traces_endpoint: Option<http::Uri>,
    /// Serve `POST /admin/fault` (tests only).
    pub fault_injection: bool,
    pub replication: crate::replication::config::ReplicationConfig,
}

/// Certificate and key files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn default_node_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node-0".to_owned())
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_s3_listen() -> &'static str {
    "127.0.0.1:9000"
}
fn default_admin_listen() -> &'static str {
    "127.0.0.1:9900"
}
fn default_access_key() -> String {
    "nodewatch".to_owned()
}
fn default_slow_op_threshold_ms() -> u64 {
    30_000
}
fn default_scrub_interval_secs() -> u64 {
    3600
}
fn default_scrub_bytes_per_sec() -> u64 {
    16 << 20
}
fn default_small_object_max_bytes() -> u64 {
    crate::store::disk::small_log::DEFAULT_SMALL_OBJECT_MAX_BYTES
}
/// `s3s` logs every client error at ERROR level; our request log line already carries the status
/// and S3 error code, so its own lines are off by default.
fn default_log_level() -> String {
    "info,s3s=off".to_owned()
}

/// Reads and parses a TOML config file.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

impl Config {
    /// Merges flags/environment over the file (when `--config` is given) over the defaults.
    pub fn load(cli: &CliConfig) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli.clone(), file)
    }

    fn merge(cli: CliConfig, file: FileConfig) -> Result<Self, ConfigError> {
        let s3_listen = cli
            .s3_listen
            .or(file.s3_listen)
            .unwrap_or_else(|| default_s3_listen().to_owned());
        let admin_listen = cli
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| default_admin_listen().to_owned());
        let secret_key_file = cli.secret_key_file.or(file.secret_key_file);
        let secret_key = match (cli.secret_key.or(file.secret_key), secret_key_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Secret(
                    "give secret_key or secret_key_file, not both".to_owned(),
                ));
            }
            (Some(s), None) => s,
            (None, Some(path)) => {
                let s = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::Secret(format!("read {}: {e}", path.display())))?;
                s.trim_end_matches(['\r', '\n']).to_owned()
            }
            (None, None) => {
                return Err(ConfigError::Secret(
                    "no secret key: set --secret-key-file (or secret_key_file / STORAGE_NODE_SECRET_KEY_FILE)".to_owned(),
                ));
            }
        };
        if secret_key.is_empty() {
            return Err(ConfigError::Secret("the secret key is empty".to_owned()));
        }
        let tls = match (cli.tls_cert.or(file.tls_cert), cli.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Tls(
                    "tls_cert and tls_key must be given together".to_owned(),
                ));
            }
        };
        let node_id = cli.node_id.or(file.node_id).unwrap_or_else(default_node_id);
        let peer_specs = if cli.peers.is_empty() {
            file.peers.map(|p| p.into_specs()).unwrap_or_default()
        } else {
            cli.peers
        };
        let replication = crate::replication::config::ReplicationConfig::build(
            &node_id,
            peer_specs,
            cli.write_quorum.or(file.write_quorum),
            cli.quorum_timeout_ms.or(file.quorum_timeout_ms),
            cli.replication_backlog_max_bytes
                .or(file.replication_backlog_max_bytes),
            cli.peer_ca_file.or(file.peer_ca_file),
        )?;
        let config = Config {
            node_id,
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(default_data_dir),
            s3_listen: parse_addr("s3_listen", &s3_listen)?,
            admin_listen: parse_addr("admin_listen", &admin_listen)?,
            access_key: cli
                .access_key
                .or(file.access_key)
                .unwrap_or_else(default_access_key),
            secret_key,
            tls,
            slow_op_threshold_ms: cli
                .slow_op_threshold_ms
                .or(file.slow_op_threshold_ms)
                .unwrap_or_else(default_slow_op_threshold_ms),
            scrub_interval_secs: cli
                .scrub_interval_secs
                .or(file.scrub_interval_secs)
                .unwrap_or_else(default_scrub_interval_secs),
            scrub_bytes_per_sec: cli
                .scrub_bytes_per_sec
                .or(file.scrub_bytes_per_sec)
                .unwrap_or_else(default_scrub_bytes_per_sec),
            small_object_max_bytes: cli
                .small_object_max_bytes
                .or(file.small_object_max_bytes)
                .unwrap_or_else(default_small_object_max_bytes),
            log_segment_bytes: cli
                .log_segment_bytes
                .or(file.log_segment_bytes)
                .unwrap_or(crate::store::disk::small_log::SEGMENT_MAX_BYTES),
            log_file: cli.log_file.or(file.log_file),
            log_level: cli
                .log_level
                .or(file.log_level)
                .unwrap_or_else(default_log_level),
            instrumentation: cli.instrumentation.or(file.instrumentation).unwrap_or(true),
            otlp_traces_endpoint: cli
                .otlp_traces_endpoint
                .or(file.otlp_traces_endpoint)
                .map(|u| parse_otlp_endpoint(&u))
                .transpose()?,
            fault_injection: cli.fault_injection,
            replication,
        };
        config.check_values()?;
        Ok(config)
    }

    fn check_values(&self) -> Result<(), ConfigError> {
        if self.node_id.is_empty() || self.node_id.len() > 128 {
            return Err(ConfigError::Invalid {
                option: "node_id",
                reason: "must be 1 to 128 characters".to_owned(),
            });
        }
        if self.access_key.is_empty() {
            return Err(ConfigError::Invalid {
                option: "access_key",
                reason: "must not be empty".to_owned(),
            });
        }
        if self.scrub_bytes_per_sec == 0 {
            return Err(ConfigError::Invalid {
                option: "scrub_bytes_per_sec",
                reason: "must be above 0".to_owned(),
            });
        }
        let small_max = crate::store::disk::small_log::MAX_SMALL_OBJECT_BYTES;
        if self.small_object_max_bytes > small_max {
            return Err(ConfigError::Invalid {
                option: "small_object_max_bytes",
                reason: format!("must be at most {small_max}"),
            });
        }
        if !(64 << 10..=1 << 30).contains(&self.log_segment_bytes) {
            return Err(ConfigError::Invalid {
                option: "log_segment_bytes",
                reason: "must be from 65536 to 1073741824".to_owned(),
            });
        }
        if self.slow_op_threshold_ms == 0 {
            return Err(ConfigError::Invalid {
                option: "slow_op_threshold_ms",
                reason: "must be above 0".to_owned(),
            });
        }
        Ok(())
    }

    /// Prepares and checks what `serve` needs: creates the data directory when missing, proves
    /// it writable, and parses the TLS files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_data_dir(&self.data_dir)?;
        self.check_tls()
    }

    /// `check-config`: the same checks as [`Config::validate`], changing nothing on disk (a
    /// missing data directory is only checked to be creatable).
    pub fn check(&self) -> Result<(), ConfigError> {
        probe_data_dir(&self.data_dir)?;
        self.check_tls()
    }

    fn check_tls(&self) -> Result<(), ConfigError> {
        if let Some(tls) = &self.tls {
            crate::http::tls::load_server_config(tls)
                .map_err(|e| ConfigError::Tls(e.to_string()))?;
        }
        if let Some(ca) = &self.replication.peer_ca_file {
            crate::http::tls::load_client_config(ca)
                .map_err(|e| ConfigError::Tls(format!("peer_ca_file: {e}")))?;
        }
        Ok(())
    }
}

fn parse_addr(option: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse::<SocketAddr>()
        .map_err(|e| ConfigError::Address {
            option,
            value: value.to_owned(),
            reason: format!("{e}; expected IP:PORT such as 127.0.0.1:9000"),
        })
}

/// An OTLP/HTTP endpoint: an absolute `http://` URL (the exporter speaks plain HTTP to a local
/// collector or agent).
fn parse_otlp_endpoint(value: &str) -> Result<http::Uri, ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        option: "otlp_traces_endpoint",
        reason: format!("{value:?}: {reason}"),
    };
    let uri: http::Uri = value
        .parse()
        .map_err(|e| bad(&format!("not a URL ({e})")))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(bad(
            "expected an absolute http:// URL such as http://127.0.0.1:4318/v1/traces",
        ));
    }
    Ok(uri)
}

/// Checks the data directory without creating it: an existing one must be a directory that a
/// probe file can be written to (and is removed from again); a missing one must have a directory
/// as its nearest existing ancestor, one that is not read-only.
pub fn probe_data_dir(dir: &Path) -> Result<(), ConfigError> {
    let fail = |reason: String| ConfigError::DataDir {
        path: dir.to_owned(),
        reason,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return check_data_dir(dir),
        Ok(_) => return Err(fail("not a directory".to_owned())),
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(fail(format!("stat: {e}")));
        }
        Err(_) => {}
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        let a = if a.as_os_str().is_empty() {
            Path::new(".")
        } else {
            a
        };
        match std::fs::metadata(a) {
            Ok(m) if m.is_dir() && m.permissions().readonly() => {
                return Err(fail(format!(
                    "cannot be created: {} is read-only",
                    a.display()
                )));
            }
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(fail(format!(
                    "cannot be created: {} is not a directory",
                    a.display()
                )));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                ancestor = a.parent()
            }
            Err(e) => return Err(fail(format!("stat {}: {e}", a.display()))),
        }
    }
    Ok(())
}

/// Creates the data directory when missing and proves that it is writable with a probe file.
pub fn check_data_dir(dir: &Path) -> Result<(), ConfigError> {
    let fail = |reason: String| ConfigError::DataDir {
        path: dir.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("create: {e}")))?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| fail(format!("not writable: {e}")))?;
    std::fs::remove_file(&probe).map_err(|e| fail(format!("remove probe file: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests;
