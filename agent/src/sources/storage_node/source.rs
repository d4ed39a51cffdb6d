//! [`StorageNodeSource`]: fetches `/metrics` and `/admin/status` from each configured node in
//! parallel, keeps the `storage_node_*` families and labels them with `node_id` and `node_name`.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Uri};

use super::config::StorageNodeConfig;
use super::error::StorageNodeError;
use crate::component::{BuildContext, ComponentError};
use crate::event::{Family, Labels};
use crate::http_client::{HttpClient, HttpClientConfig};
use crate::exposition::{self, ParseLimits};
use crate::metrics::AgentMetrics;
use crate::sources::{CollectError, Source};

/// The prefix of the families re-exposed.
const PREFIX: &str = "storage_node_";

/// Checks that `url` is an `http://host:port` base URL.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// is supported for storage node admin URLs".to_string());
    }
    if uri.authority().is_none() {
        return Err("no host".to_string());
    }
    if uri.query().is_some() {
        return Err("a query string is not allowed".to_string());
    }
    Ok(())
}

/// The scraper.
#[derive(Debug)]
pub struct StorageNodeSource {
    /// Each node's base URL and its client (from the agent's one HTTP client builder).
    targets: Vec<(String, HttpClient)>,
    max_response_bytes: usize,
    metrics: Arc<AgentMetrics>,
}

impl StorageNodeSource {
    /// Builds the source with a client per node from `ctx`; every URL must pass
    /// [`check_url`].
    pub fn new(config: &StorageNodeConfig, ctx: &mut BuildContext) -> Result<Self, ComponentError> {
        let timeout = std::time::Duration::from_millis(config.timeout_ms);
        let mut targets = Vec::new();
        for u in &config.urls {
            check_url(u).map_err(|reason| {
                let e = StorageNodeError::Url {
                    url: u.clone(),
                    reason,
                };
                ComponentError::new("urls", e.to_string())
            })?;
            let base = u.trim_end_matches('/').to_string();
            let client = ctx.http_client(&HttpClientConfig::new(&base, timeout))?;
            targets.push((base, client));
        }
        Ok(StorageNodeSource {
            targets,
            max_response_bytes: config.max_response_bytes,
            metrics: Arc::clone(ctx.metrics()),
        })
    }

    async fn fetch(&self, client: &HttpClient, path: &str) -> Result<Vec<u8>, StorageNodeError> {
        let url = format!("{}{path}", client.url());
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/plain;version=0.0.4, application/json"),
        );
        let a = client
            .get(path, headers, self.max_response_bytes)
            .await
            .map_err(|e| StorageNodeError::Fetch {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if !a.status.is_success() {
            return Err(StorageNodeError::Status {
                url,
                status: a.status.as_u16(),
            });
        }
        if !a.complete {
            return Err(StorageNodeError::Fetch {
                url,
                reason: format!("read body: longer than {} bytes", self.max_response_bytes),
            });
        }
        Ok(a.body)
    }

    async fn scrape(&self, base: &str, client: &HttpClient) -> Result<Vec<Family>, StorageNodeError> {
        let metrics_url = format!("{base}/metrics");
        let status_url = format!("{base}/admin/status");
        let (m, s) = futures::future::join(
            self.fetch(client, "/metrics"),
            self.fetch(client, "/admin/status"),
        )
        .await;
        let text = m?;
        let text = String::from_utf8_lossy(&text);
        let limits = ParseLimits {
            max_bytes: self.max_response_bytes,
            ..ParseLimits::default()
        };
        let families = exposition::parse(&text, &limits).map_err(|source| {
            self.metrics.inc_parse_errors("storage_node");
            StorageNodeError::Exposition {
                url: metrics_url.clone(),
                source,
            }
        })?;
        let identity = match s.and_then(|body| parse_status(&status_url, &body)) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "read storage node status; label with the target instead");
                let fallback = base.trim_start_matches("http://").to_string();
                NodeIdentity {
                    node_id: fallback.clone(),
                    node_name: fallback,
                }
            }
        };
        Ok(relabel(families, &identity.node_id, &identity.node_name))
    }
}

/// Who a storage node says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeIdentity {
    node_id: String,
    node_name: String,
}

fn parse_status(url: &str, body: &[u8]) -> Result<NodeIdentity, StorageNodeError> {
    let bad = |reason: String| StorageNodeError::StatusJson {
        url: url.to_string(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let field = |k: &str| -> Option<String> {
        match v.get(k)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let node_id = field("node_id").ok_or_else(|| bad("no node_id".to_string()))?;
    if node_id.is_empty() || node_id.len() > 256 {
        return Err(bad("node_id is empty or longer than 256 bytes".to_string()));
    }
    let node_name = field("node_name")
        .or_else(|| field("name"))
        .filter(|n| !n.is_empty() && n.len() <= 256)
        .unwrap_or_else(|| node_id.clone());
    Ok(NodeIdentity { node_id, node_name })
}

/// Keeps the `storage_node_*` families and sets `node_id` and `node_name` on every series.
pub fn relabel(families: Vec<Family>, node_id: &str, node_name: &str) -> Vec<Family> {
    families
        .into_iter()
        .filter(|f| f.name.starts_with(PREFIX))
        .map(|mut f| {
            for m in &mut f.metrics {
                m.labels.insert("node_id", node_id);
                m.labels.insert("node_name", node_name);
            }
            f
        })
        .collect()
}

fn merge(into: &mut Vec<Family>, more: Vec<Family>) {
    for f in more {
        match into.iter_mut().find(|g| g.name == f.name) {
            Some(g) if g.kind == f.kind => g.metrics.extend(f.metrics),
            Some(_) => {
                tracing::warn!(family = %f.name, "storage nodes disagree on a family's type; keep the first");
            }
            None => into.push(f),
        }
    }
}

#[async_trait]
impl Source for StorageNodeSource {
    fn name(&self) -> &str {
        "storage_node"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let results =
            futures::future::join_all(self.targets.iter().map(|(t, c)| self.scrape(t, c))).await;
        let mut out = Vec::new();
        let mut up = Family::gauge(
            "nodewatch_agent_storage_node_up",
            "Whether the last scrape of the storage node's admin endpoint succeeded.",
        );
        let mut failed = 0;
        for ((target, _), r) in self.targets.iter().zip(results) {
            let l = Labels::new().with("target", target.as_str());
            match r {
                Ok(fams) => {
                    up.push(l, 1.0);
                    merge(&mut out, fams);
                }
                Err(e) => {
                    tracing::warn!(target = %target, error = %e, "scrape storage node");
                    failed += 1;
                    up.push(l, 0.0);
                }
            }
        }
        if failed > 0 {
            tracing::debug!(failed, total = self.targets.len(), "storage nodes down");
        }
        // A node that is down is a fact about the node (`up 0`), not a failure of this source.
        out.push(up);
        Ok(out)
    }
}
