//! The Loki push client: the agent's one HTTP client ([`crate::http_client`]) with Loki's
//! headers (content type, `X-Scope-OrgID`), one connection, re-opened after any error.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};

use super::{Encoding, LokiEndpointConfig};
use crate::http_client::{Conn, HttpClient, HttpClientError};

/// The most response body bytes kept (for the rejection log and the partial-accept count). Loki
/// names every refused entry in a 400 (about 200 bytes each), so this covers a push of several
/// thousand refused lines; a longer answer counts the whole push as refused.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What failed before Loki answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint's settings are not usable (URL, CA or credentials file, tenant).
    #[error("loki {0}")]
    Settings(#[from] HttpClientError),
    /// Connecting, the TLS handshake, the exchange, or the timeout.
    #[error("{0}")]
    Transport(String),
}

/// Loki's answer.
#[derive(Debug, Clone)]
pub struct PushResponse {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// The start of the body.
    pub body: String,
    /// Whether `body` is the whole body.
    pub complete: bool,
}

/// A client for one endpoint.
#[derive(Debug)]
pub struct LokiClient {
    http: HttpClient,
    headers: HeaderMap,
    conn: Option<Conn>,
}

/// Parses and checks a push URL (`--loki-url`).
pub fn check_url(url: &str) -> Result<(), ClientError> {
    crate::http_client::check_url(url)
        .map(|_| ())
        .map_err(|reason| {
            ClientError::Settings(HttpClientError::Url {
                url: url.to_string(),
                reason,
            })
        })
}

impl LokiClient {
    /// The client of one endpoint made outside the topology (tests): checks the URL, loads the
    /// CA bundle (https) and checks the credentials files.
    #[cfg(test)]
    pub fn new(cfg: LokiEndpointConfig) -> Result<Self, ClientError> {
        let http = HttpClient::new(&cfg.client_config(""))?;
        LokiClient::with_http(http, &cfg)
    }

    /// The client of one endpoint over `http`, the agent's one HTTP client (from
    /// [`crate::component::BuildContext::http_client`] with
    /// [`LokiEndpointConfig::client_config`]), with Loki's headers.
    pub fn with_http(http: HttpClient, cfg: &LokiEndpointConfig) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        match cfg.encoding {
            Encoding::Protobuf => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                );
            }
            Encoding::Json => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        if let Some(t) = &cfg.tenant_id {
            let v = HeaderValue::from_str(t).map_err(|e| HttpClientError::Header {
                name: "tenant_id".into(),
                reason: e.to_string(),
            })?;
            headers.insert("X-Scope-OrgID", v);
        }
        Ok(LokiClient {
            http,
            headers,
            conn: None,
        })
    }

    /// One push attempt of an already encoded and compressed body.
    pub async fn push(&mut self, body: Bytes) -> Result<PushResponse, ClientError> {
        let a = self
            .http
            .post(
                &mut self.conn,
                self.headers.clone(),
                body,
                MAX_RESPONSE_BYTES,
            )
            .await
            .map_err(ClientError::Transport)?;
        Ok(PushResponse {
            status: a.status.as_u16(),
            retry_after: a.retry_after,
            body: String::from_utf8_lossy(&a.body).into_owned(),
            complete: a.complete,
        })
    }
}
