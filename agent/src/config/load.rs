//! Loading, validating and checking a config file.

use std::path::{Path, PathBuf};

use super::root::Config;

/// The most bytes a config file may have.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What is wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for the schema (an unknown key, a wrong type, bad syntax).
    #[error("config line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// toml's message.
        message: String,
    },
    /// A value is well-formed but not allowed.
    #[error("config {}{key}: {reason}", line.map(|l| format!("line {l}, ")).unwrap_or_default())]
    Invalid {
        /// The dotted key, e.g. `sources.host.interval_secs`.
        key: String,
        /// The line the key is on, when it is in the file.
        line: Option<usize>,
        /// Why it is not allowed.
        reason: String,
    },
}

/// Reads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    use std::io::Read;
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            key: path.display().to_string(),
            line: None,
            reason: format!("file is larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    parse(&text)
}

/// `check-config FILE`: the same as loading, for a command that starts nothing.
pub fn check_config(path: &Path) -> Result<Config, ConfigError> {
    load_file(path)
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    validate(&config, text)?;
    Ok(config)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// Finds the line of `key` inside `[table]` (a best effort for naming semantic errors).
fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = match dotted.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            current = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            continue;
        }
        if current == table
            && let Some(rest) = line.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
    }
    None
}

fn invalid(text: &str, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        line: key_line(text, key),
        reason: reason.into(),
    }
}

fn check_schedule(
    text: &str,
    table: &str,
    interval_secs: u64,
    timeout_ms: u64,
    max_series: usize,
) -> Result<(), ConfigError> {
    if interval_secs == 0 || interval_secs > 86_400 {
        return Err(invalid(
            text,
            &format!("{table}.interval_secs"),
            "must be between 1 and 86400",
        ));
    }
    if timeout_ms == 0 || timeout_ms > interval_secs * 1000 {
        return Err(invalid(
            text,
            &format!("{table}.timeout_ms"),
            "must be at least 1 and at most the interval",
        ));
    }
    if max_series == 0 {
        return Err(invalid(
            text,
            &format!("{table}.max_series"),
            "must be at least 1",
        ));
    }
    Ok(())
}

/// Checks the values the types alone cannot.
fn validate(c: &Config, text: &str) -> Result<(), ConfigError> {
    c.sinks
        .alertmanager
        .check()
        .map_err(|r| invalid(text, "sinks.alertmanager", r))?;
    for (i, w) in c.transforms.detect.watch.iter().enumerate() {
        w.detector
            .check()
            .map_err(|r| invalid(text, &format!("transforms.detect.watch[{i}].detector"), r))?;
    }
    c.transforms
        .log_patterns
        .check()
        .map_err(|r| invalid(text, "transforms.log_patterns", r))?;
    if tracing_subscriber::EnvFilter::try_new(&c.log_level).is_err() {
        return Err(invalid(
            text,
            "log_level",
            "not a level or filter directive",
        ));
    }
    if c.api.max_connections == 0 || c.api.max_connections > 10_000 {
        return Err(invalid(
            text,
            "api.max_connections",
            "must be between 1 and 10000",
        ));
    }
    if c.api.header_read_timeout_ms == 0 {
        return Err(invalid(
            text,
            "api.header_read_timeout_ms",
            "must be at least 1",
        ));
    }
    if let Err(e) = crate::logs::pipeline::validate(c) {
        return Err(invalid(text, "sinks.loki", e.to_string()));
    }
    let path = &c.sinks.prometheus_exporter.path;
    if !path.starts_with('/') || path == "/healthz" {
        return Err(invalid(
            text,
            "sinks.prometheus_exporter.path",
            "must start with '/' and not be /healthz",
        ));
    }

    if let Err((key, reason)) = c.sinks.prometheus_remote_write.validate() {
        return Err(invalid(
            text,
            &format!("sinks.prometheus_remote_write.{key}"),
            reason,
        ));
    }

    let h = &c.sources.host;
    check_schedule(
        text,
        "sources.host",
        h.interval_secs,
        h.timeout_ms,
        h.max_series,
    )?;
    for (key, pattern) in [
        (
            "sources.host.filesystem_mount_points_exclude",
            &h.filesystem_mount_points_exclude,
        ),
        (
            "sources.host.filesystem_fs_types_exclude",
            &h.filesystem_fs_types_exclude,
        ),
        (
            "sources.host.diskstats_device_exclude",
            &h.diskstats_device_exclude,
        ),
        (
            "sources.host.netdev_device_exclude",
            &h.netdev_device_exclude,
        ),
    ] {
        if let Err(e) = regex::Regex::new(pattern) {
            return Err(invalid(text, key, format!("not a regular expression: {e}")));
        }
    }
    if h.filesystem_mount_timeout_ms == 0 {
        return Err(invalid(
            text,
            "sources.host.filesystem_mount_timeout_ms",
            "must be at least 1",
        ));
    }

    let s = &c.sources.smartctl;
    check_schedule(
        text,
        "sources.smartctl",
        s.interval_secs,
        s.timeout_ms,
        s.max_series,
    )?;
    if s.device_timeout_ms == 0 || s.device_timeout_ms > s.timeout_ms {
        return Err(invalid(
            text,
            "sources.smartctl.device_timeout_ms",
            "must be at least 1 and at most timeout_ms",
        ));
    }
    if s.max_parallel == 0 || s.max_parallel > 64 {
        return Err(invalid(
            text,
            "sources.smartctl.max_parallel",
            "must be between 1 and 64",
        ));
    }
    if s.max_devices == 0 || s.max_devices > 4096 {
        return Err(invalid(
            text,
            "sources.smartctl.max_devices",
            "must be between 1 and 4096",
        ));
    }
    if s.max_output_bytes < 4096 {
        return Err(invalid(
            text,
            "sources.smartctl.max_output_bytes",
            "must be at least 4096",
        ));
    }
    for d in &s.devices {
        if d.name.is_empty() || d.name.starts_with('-') {
            return Err(invalid(
                text,
                "sources.smartctl.devices",
                format!("device name {:?} is not a path", d.name),
            ));
        }
        if let Some(t) = &d.device_type
            && (t.is_empty() || t.starts_with('-') || t.contains(char::is_whitespace))
        {
            return Err(invalid(
                text,
                "sources.smartctl.devices",
                format!("device type {t:?} is not a smartctl -d type"),
            ));
        }
    }

    for check in [
        c.pipeline.check(),
        c.sources.otlp.check(),
        c.sources.pushgateway.check(),
    ] {
        if let Err((key, reason)) = check {
            return Err(invalid(text, key, reason));
        }
    }

    let n = &c.sources.storage_node;
    check_schedule(
        text,
        "sources.storage_node",
        n.interval_secs,
        n.timeout_ms,
        n.max_series,
    )?;
    if n.urls.len() > 64 {
        return Err(invalid(
            text,
            "sources.storage_node.urls",
            "at most 64 URLs",
        ));
    }
    for u in &n.urls {
        if let Err(reason) = crate::sources::storage_node::check_url(u) {
            return Err(invalid(text, "sources.storage_node.urls", reason));
        }
    }
    if n.max_response_bytes < 1024 {
        return Err(invalid(
            text,
            "sources.storage_node.max_response_bytes",
            "must be at least 1024",
        ));
    }

    let g = &c.sources.nvml;
    check_schedule(
        text,
        "sources.nvml",
        g.interval_secs,
        g.timeout_ms,
        g.max_series,
    )?;
    if g.max_processes == 0 || g.max_processes > 100_000 {
        return Err(invalid(
            text,
            "sources.nvml.max_processes",
            "must be between 1 and 100000",
        ));
    }
    if g.hostname.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(text, "sources.nvml.hostname", "must not be empty"));
    }

    let ce = &c.sources.ceph;
    check_schedule(
        text,
        "sources.ceph",
        ce.interval_secs,
        ce.timeout_ms,
        ce.max_series,
    )?;
    if ce.socket_timeout_ms == 0 || ce.socket_timeout_ms > ce.timeout_ms {
        return Err(invalid(
            text,
            "sources.ceph.socket_timeout_ms",
            "must be at least 1 and at most timeout_ms",
        ));
    }
    if let Err(e) = crate::sources::ceph::split_glob(&ce.socket_glob) {
        return Err(invalid(text, "sources.ceph.socket_glob", e.to_string()));
    }
    if ce.max_reply_bytes < 1024 || ce.max_reply_bytes > 1024 * 1024 * 1024 {
        return Err(invalid(
            text,
            "sources.ceph.max_reply_bytes",
            "must be between 1024 and 1 GiB",
        ));
    }
    if ce.max_sockets == 0 || ce.max_sockets > 4096 {
        return Err(invalid(
            text,
            "sources.ceph.max_sockets",
            "must be between 1 and 4096",
        ));
    }
    if ce.max_parallel == 0 || ce.max_parallel > 64 {
        return Err(invalid(
            text,
            "sources.ceph.max_parallel",
            "must be between 1 and 64",
        ));
    }
    Ok(())
}
