//! Replication settings: the peers (`--peer ID=URL`, repeatable), the write quorum, its timeout and
//! the per-peer backlog bound. Resolved by `crate::config`, checked here.

use serde::Deserialize;

use super::hlc::node_tag;
use crate::config::ConfigError;

fn default_write_quorum() -> usize {
    1
}
fn default_quorum_timeout_ms() -> u64 {
    5_000
}
fn default_backlog_max_bytes() -> u64 {
    1 << 30
}

/// A peer as the config file may give it: `"ID=URL"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PeersToml {
    /// `peers = ["b=http://10.0.0.2:9000", ...]`
    List(Vec<String>),
    /// `[peers]` then `b = "http://10.0.0.2:9000"`.
    Table(std::collections::BTreeMap<String, String>),
}

impl PeersToml {
    /// The `ID=URL` strings.
    pub fn into_specs(self) -> Vec<String> {
        match self {
            PeersToml::List(v) => v,
            PeersToml::Table(t) => t
                .into_iter()
                .map(|(id, url)| format!("{id}={url}"))
                .collect(),
        }
    }
}

/// One peer: its node id and where its S3 listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    /// `host:port` of the peer's S3 endpoint (replication uses a route on it).
    pub authority: String,
    /// The URL as given.
    pub url: String,
    /// `http` or `https` (then the peer's certificate must chain to `peer_ca_file`).
    pub scheme: &'static str,
}

/// The resolved replication settings.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    pub peers: Vec<Peer>,
    /// Copies (the local one included) that must be durable before a write is answered.
    pub write_quorum: usize,
    /// How long a write waits for its quorum before answering 503.
    pub quorum_timeout_ms: u64,
    /// Unacknowledged object bytes kept for one peer; past it the peer is repaired by recovery.
    pub backlog_max_bytes: u64,
    /// The CA certificates (PEM) that `https://` peers' certificates must chain to.
    pub peer_ca_file: Option<std::path::PathBuf>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            peers: Vec::new(),
            write_quorum: default_write_quorum(),
            quorum_timeout_ms: default_quorum_timeout_ms(),
            backlog_max_bytes: default_backlog_max_bytes(),
            peer_ca_file: None,
        }
    }
}

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// Peer ids become file names (cursor files) and label values: keep them short and plain.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses one `ID=URL`.
pub fn parse_peer(spec: &str) -> Result<Peer, ConfigError> {
    let (id, url) = spec
        .split_once('=')
        .ok_or_else(|| invalid("peer", format!("{spec:?} is not ID=URL")))?;
    let (id, url) = (id.trim(), url.trim());
    if !valid_id(id) {
        return Err(invalid(
            "peer",
            format!("peer id {id:?} must be 1 to 64 of [A-Za-z0-9._-]"),
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid("peer", format!("{url:?}: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => {
            return Err(invalid(
                "peer",
                format!("{url:?}: give an http:// or https:// URL"),
            ));
        }
    };
    let authority = uri
        .authority()
        .filter(|a| a.port_u16().is_some())
        .ok_or_else(|| invalid("peer", format!("{url:?} needs a host and a port")))?;
    if !matches!(uri.path(), "" | "/") {
        return Err(invalid(
            "peer",
            format!("{url:?}: the URL must not have a path"),
        ));
    }
    Ok(Peer {
        id: id.to_owned(),
        authority: authority.as_str().to_owned(),
        url: url.to_owned(),
        scheme,
    })
}

impl ReplicationConfig {
    /// Builds and checks the settings; `node_id` is this node's own id.
    pub fn build(
        node_id: &str,
        peer_specs: Vec<String>,
        write_quorum: Option<usize>,
        quorum_timeout_ms: Option<u64>,
        backlog_max_bytes: Option<u64>,
        peer_ca_file: Option<std::path::PathBuf>,
    ) -> Result<Self, ConfigError> {
        let mut peers: Vec<Peer> = Vec::new();
        for spec in peer_specs.iter().filter(|s| !s.trim().is_empty()) {
            let p = parse_peer(spec)?;
            if p.id == node_id {
                return Err(invalid(
                    "peer",
                    format!("peer {:?} has this node's own id", p.id),
                ));
            }
            if node_tag(&p.id) == node_tag(node_id)
                || peers.iter().any(|q| node_tag(&q.id) == node_tag(&p.id))
            {
                return Err(invalid(
                    "peer",
                    format!(
                        "peer id {:?} is given twice (or its version tag collides; rename it)",
                        p.id
                    ),
                ));
            }
            peers.push(p);
        }
        let c = ReplicationConfig {
            write_quorum: write_quorum.unwrap_or_else(default_write_quorum),
            quorum_timeout_ms: quorum_timeout_ms.unwrap_or_else(default_quorum_timeout_ms),
            backlog_max_bytes: backlog_max_bytes.unwrap_or_else(default_backlog_max_bytes),
            peers,
            peer_ca_file,
        };
        if c.peer_ca_file.is_none() && c.peers.iter().any(|p| p.scheme == "https") {
            return Err(invalid(
                "peer_ca_file",
                "https:// peers need the CA that signed their certificates (--peer-ca-file)",
            ));
        }
        if c.write_quorum == 0 || c.write_quorum > c.peers.len() + 1 {
            return Err(invalid(
                "write_quorum",
                format!(
                    "must be 1 to {} (this node and its {} peers)",
                    c.peers.len() + 1,
                    c.peers.len()
                ),
            ));
        }
        if c.quorum_timeout_ms == 0 {
            return Err(invalid("quorum_timeout_ms", "must be above 0"));
        }
        if c.backlog_max_bytes == 0 {
            return Err(invalid("replication_backlog_max_bytes", "must be above 0"));
        }
        Ok(c)
    }
}
