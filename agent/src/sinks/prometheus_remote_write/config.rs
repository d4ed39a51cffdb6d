//! `[sinks.prometheus_remote_write]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::buffer::{QueueConfig, WhenFull};
use crate::component::{BuildContext, ComponentError};
pub use crate::http_client::BasicAuthConfig;
use crate::http_client::{Auth, HttpClientConfig};

/// The remote_write sink. It is off unless `url` is set (here or with `--remote-write-url`).
///
/// Sizing: a WAL record is snappy-compressed protobuf, about 10.7 bytes per sample (measured by
/// `benches/remote_write_encode`). With host, smartctl and a storage node on (the
/// `agent_process` bench: ~25 KB of WAL per collection of all three), the defaults (every 15 s)
/// write ~6 MB an hour, so the default bound of 256 MiB holds about 40 hours of outage, well over
/// the 2 hours it must survive.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver, e.g. `http://prometheus:9090/api/v1/write`. Unset: the sink is off.
    #[serde(default)]
    pub url: Option<String>,
    /// Parallel senders; a series always goes to the same one (by a hash of its labels), so its
    /// samples stay in order, also across restarts.
    #[serde(default = "default_max_shards")]
    pub max_shards: usize,
    /// The most samples in one request.
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: usize,
    /// How long a sample may wait for a fuller batch.
    #[serde(default = "default_batch_send_deadline_ms")]
    pub batch_send_deadline_ms: u64,
    /// The first retry delay; it doubles up to `max_backoff_ms`, with jitter.
    #[serde(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,
    /// The longest retry delay (a `Retry-After` header may ask for longer, up to 5 minutes).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// The time limit of one request (connect, send, answer).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The WAL's size bound; past it the oldest unsent samples are dropped and counted.
    #[serde(default = "default_wal_max_bytes")]
    pub wal_max_bytes: u64,
    /// What an append does when the WAL is at `wal_max_bytes`: `"drop_oldest"` (the default:
    /// the oldest unsent samples are dropped and counted) or `"block"` (the append waits for the
    /// receiver; collections queue in memory, past `queue_capacity` they are dropped and counted).
    #[serde(default = "default_wal_when_full")]
    pub wal_when_full: WhenFull,
    /// The size of one WAL segment file.
    #[serde(default = "default_wal_segment_bytes")]
    pub wal_segment_bytes: u64,
    /// Collections waiting in memory to be written to the WAL; more are dropped and counted.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Labels added to every series that does not have them already.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// HTTP basic auth.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// A file holding a bearer token (re-read on every request, so it can rotate).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM CA certificates for an https URL; the system bundle when unset.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: None,
            max_shards: default_max_shards(),
            max_samples_per_send: default_max_samples_per_send(),
            batch_send_deadline_ms: default_batch_send_deadline_ms(),
            min_backoff_ms: default_min_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            timeout_ms: default_timeout_ms(),
            wal_max_bytes: default_wal_max_bytes(),
            wal_when_full: default_wal_when_full(),
            wal_segment_bytes: default_wal_segment_bytes(),
            queue_capacity: default_queue_capacity(),
            external_labels: BTreeMap::new(),
            basic_auth: None,
            bearer_token_file: None,
            tls_ca_file: None,
        }
    }
}

fn default_max_shards() -> usize {
    4
}
fn default_max_samples_per_send() -> usize {
    2000
}
fn default_batch_send_deadline_ms() -> u64 {
    5_000
}
fn default_min_backoff_ms() -> u64 {
    30
}
fn default_max_backoff_ms() -> u64 {
    5_000
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_wal_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_wal_when_full() -> WhenFull {
    WhenFull::DropOldest
}
fn default_wal_segment_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_queue_capacity() -> usize {
    64
}

impl RemoteWriteConfig {
    /// The receiver's client settings (`tls_ca_file`, `basic_auth`, `bearer_token_file`).
    pub fn client_config(&self) -> HttpClientConfig {
        let url = self.url.as_deref().unwrap_or_default();
        HttpClientConfig::new(url, std::time::Duration::from_millis(self.timeout_ms))
            .with_ca(self.tls_ca_file.as_deref(), "tls_ca_file")
            .with_auth(Auth::from_keys(
                self.basic_auth.as_ref(),
                self.bearer_token_file.as_deref(),
            ))
    }

    /// The WAL's bounds (`wal_max_bytes`, `wal_segment_bytes`).
    pub fn wal_limits(&self) -> QueueConfig {
        QueueConfig {
            max_bytes: self.wal_max_bytes,
            segment_bytes: self.wal_segment_bytes,
        }
    }
}

impl crate::component::Component for RemoteWriteConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        if let Some(u) = &self.url {
            crate::http_client::check_url(u).map_err(|r| ComponentError::new("url", r))?;
        }
        if self.max_shards == 0 || self.max_shards > 64 {
            return Err(ComponentError::new(
                "max_shards",
                "must be between 1 and 64",
            ));
        }
        if self.max_samples_per_send == 0 || self.max_samples_per_send > 100_000 {
            return Err(ComponentError::new(
                "max_samples_per_send",
                "must be between 1 and 100000",
            ));
        }
        if self.min_backoff_ms == 0 || self.max_backoff_ms < self.min_backoff_ms {
            return Err(ComponentError::new(
                "max_backoff_ms",
                "min_backoff_ms must be at least 1 and at most max_backoff_ms",
            ));
        }
        if self.timeout_ms == 0 {
            return Err(ComponentError::new("timeout_ms", "must be at least 1"));
        }
        if self.wal_segment_bytes < 64 * 1024 || self.wal_segment_bytes > 256 * 1024 * 1024 {
            return Err(ComponentError::new(
                "wal_segment_bytes",
                "must be between 64 KiB and 256 MiB",
            ));
        }
        if self.wal_max_bytes < 4 * self.wal_segment_bytes {
            return Err(ComponentError::new(
                "wal_max_bytes",
                "must be at least four segments",
            ));
        }
        if self.queue_capacity == 0 || self.queue_capacity > 10_000 {
            return Err(ComponentError::new(
                "queue_capacity",
                "must be between 1 and 10000",
            ));
        }
        for name in self.external_labels.keys() {
            if !crate::event::is_valid_label_name(name) {
                return Err(ComponentError::new(
                    "external_labels",
                    format!("{name:?} is not a label name"),
                ));
            }
        }
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            return Err(ComponentError::new(
                "bearer_token_file",
                "basic_auth and bearer_token_file are exclusive",
            ));
        }
        Ok(())
    }

    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        if self.url.is_none() {
            return Ok(());
        }
        let (rw, tasks) = super::RemoteWrite::start(self, ctx)?;
        ctx.store().add_listener(std::sync::Arc::clone(&rw) as _);
        ctx.metrics().add_family_source(rw as _);
        ctx.add_tasks(tasks);
        Ok(())
    }
}
