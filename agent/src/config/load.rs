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

/// Checks the values the types alone cannot: the agent's own tables here, each component's
/// table by the component ([`crate::component::Component::validate`]).
fn validate(c: &Config, text: &str) -> Result<(), ConfigError> {
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
    if let Err((key, reason)) = c.pipeline.check() {
        return Err(invalid(text, key, reason));
    }
    for (kind, id, component) in c.components() {
        if let Err(e) = component.validate() {
            let table = format!("{}.{id}", kind.table());
            let key = if e.key.is_empty() {
                table
            } else {
                format!("{table}.{}", e.key)
            };
            return Err(invalid(text, &key, e.reason));
        }
    }
    Ok(())
}

/// Validates a config that did not come from a file (flags applied over a file or the defaults).
pub fn validate_config(c: &Config) -> Result<(), ConfigError> {
    validate(c, "")
}
