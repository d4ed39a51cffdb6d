//! The sender: one loop that, for each Alertmanager, POSTs the active alerts (with `endsAt` four
//! resend intervals ahead) plus the resolved ones not yet delivered (with `endsAt` = the resolve
//! time) to `/api/v2/alerts`. It sends at once on a change and every `resend_interval_secs`
//! otherwise, and while an Alertmanager fails it retries with exponential backoff and jitter.
//! Active alerts are state, so nothing of them is lost while one is down; resolved ones wait in a
//! bounded queue per Alertmanager, and an overflow is counted in
//! `nodewatch_agent_alerts_dropped_total{alertmanager}`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use tokio::sync::watch;

use super::config::AlertmanagerConfig;
use super::links::rfc3339;
use crate::alerts::{Alert, AlertBook};
use crate::component::{BuildContext, ComponentError};
use crate::http_client::HttpClient;
use crate::metrics::AlertDeliveryMetrics as SinkStats;

/// The most answer bytes read (Alertmanager answers with a short JSON or an error line).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why one POST failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    /// Building or sending the request failed (connection refused, timeout).
    #[error("post alerts to {url}: {reason}")]
    Send {
        /// The Alertmanager.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The Alertmanager answered with an error status.
    #[error("post alerts to {url}: status {status}")]
    Status {
        /// The Alertmanager.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// The JSON body of one POST.
pub fn encode(active: &[Alert], resolved: &[Alert], now: SystemTime, resend: Duration) -> Vec<u8> {
    let ends = now + resend * 4;
    let one = |a: &Alert, ends_at: SystemTime| {
        serde_json::json!({
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(ends_at),
            "generatorURL": a.annotations.get("grafana_url").cloned().unwrap_or_default(),
        })
    };
    let list: Vec<serde_json::Value> = active
        .iter()
        .map(|a| one(a, ends))
        .chain(resolved.iter().map(|a| one(a, a.ends_at.unwrap_or(now))))
        .collect();
    serde_json::to_vec(&list).unwrap_or_else(|_| b"[]".to_vec())
}

#[derive(Debug)]
struct Target {
    url: String,
    client: HttpClient,
    pending: VecDeque<Alert>,
    sent_generation: u64,
    last_sent: Option<Instant>,
    next_attempt: Instant,
    backoff: Duration,
}

/// The alertmanager sink.
#[derive(Debug)]
pub struct AlertmanagerSink {
    config: AlertmanagerConfig,
    book: Arc<AlertBook>,
    stats: Arc<SinkStats>,
    /// Each Alertmanager's base URL and its client (from the agent's one client builder).
    clients: Vec<(String, HttpClient)>,
}

impl AlertmanagerSink {
    /// A sink over `book`, with a client per Alertmanager from `ctx` (a CA or credentials file
    /// that cannot be used is an error naming its key); counters go to `stats`.
    pub fn new(
        config: AlertmanagerConfig,
        book: Arc<AlertBook>,
        stats: Arc<SinkStats>,
        ctx: &mut BuildContext,
    ) -> Result<Self, ComponentError> {
        let mut clients = Vec::new();
        for u in &config.urls {
            let url = u.trim_end_matches('/').to_string();
            let client = ctx.http_client(&config.client_config(&url))?;
            stats.register(&url);
            clients.push((url, client));
        }
        Ok(AlertmanagerSink {
            config,
            book,
            stats,
            clients,
        })
    }

    async fn post(client: &HttpClient, body: Vec<u8>) -> Result<(), AlertmanagerError> {
        let url = client.url();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let a = client
            .request(
                Method::POST,
                "/api/v2/alerts",
                headers,
                Bytes::from(body),
                MAX_ANSWER_BYTES,
            )
            .await
            .map_err(|e| AlertmanagerError::Send {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if !a.status.is_success() {
            return Err(AlertmanagerError::Status {
                url: url.to_string(),
                status: a.status.as_u16(),
            });
        }
        Ok(())
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let resend = Duration::from_secs(self.config.resend_interval_secs);
        let base_backoff = Duration::from_millis(500);
        let max_backoff = Duration::from_millis(self.config.max_backoff_ms.max(500));
        let mut targets: Vec<Target> = self
            .clients
            .iter()
            .map(|(url, client)| Target {
                url: url.clone(),
                client: client.clone(),
                pending: VecDeque::new(),
                sent_generation: 0,
                last_sent: None,
                next_attempt: Instant::now(),
                backoff: base_backoff,
            })
            .collect();
        let mut ticker = crate::component::Ticker::new(Duration::from_millis(250), shutdown);
        while ticker.tick().await {
            let resolved = self.book.take_resolved();
            for t in &mut targets {
                for a in &resolved {
                    if t.pending.len() >= self.config.max_pending {
                        t.pending.pop_front();
                        self.stats.dropped(&t.url);
                        tracing::warn!(alertmanager = %t.url, "resolved-alert queue full; drop the oldest");
                    }
                    t.pending.push_back(a.clone());
                }
            }
            let generation = self.book.generation();
            let now = Instant::now();
            for t in &mut targets {
                let due = t.last_sent.is_none_or(|l| now.duration_since(l) >= resend)
                    || t.sent_generation != generation
                    || !t.pending.is_empty();
                if !due || now < t.next_attempt {
                    continue;
                }
                let active = self.book.active();
                if active.is_empty() && t.pending.is_empty() {
                    t.last_sent = Some(now);
                    t.sent_generation = generation;
                    continue;
                }
                let pending: Vec<Alert> = t.pending.iter().cloned().collect();
                let body = encode(&active, &pending, SystemTime::now(), resend);
                match Self::post(&t.client, body).await {
                    Ok(()) => {
                        let n = (active.len() + pending.len()) as u64;
                        self.stats.sent(&t.url, n);
                        t.pending.clear();
                        t.sent_generation = generation;
                        t.last_sent = Some(Instant::now());
                        t.backoff = base_backoff;
                        t.next_attempt = Instant::now();
                    }
                    Err(e) => {
                        self.stats.failed(&t.url);
                        let jitter = Duration::from_millis(
                            u64::from(rand_jitter()) % (t.backoff.as_millis() as u64 / 4 + 1),
                        );
                        t.next_attempt = Instant::now() + t.backoff + jitter;
                        tracing::warn!(error = %e, retry_in_ms = (t.backoff + jitter).as_millis() as u64, "alertmanager unreachable; retry");
                        t.backoff = (t.backoff * 2).min(max_backoff);
                    }
                }
            }
        }
    }
}

/// A cheap jitter source: the clock's nanoseconds.
fn rand_jitter() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// What the sink hands the transform that raises alerts (`detect`): the links it puts on each
/// alert and the delivery stats it reports with its own series.
#[derive(Debug)]
pub struct AlertOutput {
    /// Runbook and Grafana links.
    pub links: super::Links,
    /// Delivery per Alertmanager.
    pub stats: Arc<SinkStats>,
}
