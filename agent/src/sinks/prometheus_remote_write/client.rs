//! The remote_write request: the agent's one HTTP client ([`crate::http_client`]) with the
//! remote_write 1.0 headers, one connection per shard, and the classification of answers into
//! sent / retry / refused.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::http_client::HttpClient;

pub use crate::http_client::Conn;

/// The most answer body bytes kept for the log.
const ERROR_BODY_BYTES: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx.
    Sent,
    /// 5xx, 429 or a transport failure: send again later.
    Retry {
        /// The status, when there was an answer.
        status: Option<u16>,
        /// `Retry-After`, when given (bounded).
        retry_after: Option<Duration>,
        /// Why.
        reason: String,
    },
    /// Any other 4xx: the receiver will never take it.
    Refused {
        /// The status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
}

/// The client of one receiver; cheap to clone (one per shard).
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
}

impl Client {
    /// The sink's client over the agent's one HTTP client (from
    /// [`crate::component::BuildContext::http_client`] with
    /// [`super::RemoteWriteConfig::client_config`]).
    pub fn new(http: HttpClient) -> Client {
        Client { http }
    }

    /// Sends one compressed `WriteRequest` on `conn` (opened when there is none).
    pub async fn send(&self, conn: &mut Option<Conn>, body: Bytes) -> SendOutcome {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "X-Prometheus-Remote-Write-Version",
            HeaderValue::from_static("0.1.0"),
        );
        match self.http.post(conn, headers, body, ERROR_BODY_BYTES).await {
            Ok(a) => {
                let retry_after = a
                    .retry_after
                    .as_deref()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                let text = String::from_utf8_lossy(&a.body).trim().to_string();
                classify(a.status, retry_after, text)
            }
            Err(reason) => SendOutcome::Retry {
                status: None,
                retry_after: None,
                reason,
            },
        }
    }
}

/// Sorts an answer: 2xx sent, 5xx and 429 retried, any other status refused.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, body: String) -> SendOutcome {
    if status.is_success() {
        SendOutcome::Sent
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        SendOutcome::Retry {
            status: Some(status.as_u16()),
            retry_after,
            reason: body,
        }
    } else {
        SendOutcome::Refused {
            status: status.as_u16(),
            body,
        }
    }
}
