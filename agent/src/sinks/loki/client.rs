//! One HTTP/1.1 connection to a Loki endpoint (plain or rustls), re-opened after any error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::{Encoding, LokiEndpointConfig};

/// The most response body bytes kept (for the rejection log).
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// What failed before Loki answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("loki url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A credential or CA file could not be read.
    #[error("read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The CA bundle is not usable.
    #[error("tls: {0}")]
    Tls(String),
    /// Connecting, the TLS handshake, or the exchange failed.
    #[error("{0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("push timed out after {0:?}")]
    Timeout(Duration),
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
}

/// A client for one endpoint.
pub struct LokiClient {
    cfg: LokiEndpointConfig,
    host: String,
    port: u16,
    authority: String,
    path: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for LokiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiClient")
            .field("url", &self.cfg.url)
            .field("tls", &self.tls.is_some())
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

fn read_secret(p: &Path) -> Result<String, ClientError> {
    std::fs::read_to_string(p)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|source| ClientError::File {
            path: p.display().to_string(),
            source,
        })
}

/// Parses and checks a push URL (`--loki-url`).
pub fn check_url(url: &str) -> Result<(), ClientError> {
    parse_url(url).map(|_| ())
}

fn parse_url(url: &str) -> Result<(bool, String, u16, String, String), ClientError> {
    let bad = |reason: &str| ClientError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad("the scheme must be http or https")),
    };
    let host = uri.host().ok_or_else(|| bad("no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    Ok((
        https,
        host.trim_matches(['[', ']']).to_string(),
        port,
        authority,
        path,
    ))
}

fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let path = ca_file.unwrap_or(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let pem = std::fs::read(path).map_err(|source| ClientError::File {
        path: path.display().to_string(),
        source,
    })?;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
        // A system bundle may hold certificates rustls cannot use; skip those.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ClientError::Tls(format!(
            "{}: no usable CA certificate",
            path.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl LokiClient {
    /// Checks the URL and loads the CA bundle (https).
    pub fn new(cfg: LokiEndpointConfig) -> Result<Self, ClientError> {
        let (https, host, port, authority, path) = parse_url(&cfg.url)?;
        let tls = if https {
            let server_name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| ClientError::Tls(format!("server name {host}: {e}")))?;
            Some((tls_connector(cfg.ca_file.as_deref())?, server_name))
        } else {
            None
        };
        Ok(LokiClient {
            cfg,
            host,
            port,
            authority,
            path,
            tls,
            conn: None,
        })
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let t = |e: std::io::Error| {
            ClientError::Transport(format!("connect {}:{}: {e}", self.host, self.port))
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(t)?;
        let _ = tcp.set_nodelay(true);
        let hs = |e: hyper::Error| ClientError::Transport(format!("http handshake: {e}"));
        let sender = match &self.tls {
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ClientError::Transport(format!("tls handshake: {e}")))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(hs)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(hs)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        Ok(sender)
    }

    /// One push attempt of an already encoded and compressed body.
    pub async fn push(&mut self, body: Bytes) -> Result<PushResponse, ClientError> {
        let timeout = Duration::from_millis(self.cfg.timeout_ms.max(1));
        match tokio::time::timeout(timeout, self.push_inner(body)).await {
            Ok(r) => {
                if r.is_err() {
                    self.conn = None;
                }
                r
            }
            Err(_) => {
                self.conn = None;
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    async fn push_inner(&mut self, body: Bytes) -> Result<PushResponse, ClientError> {
        let mut sender = match self.conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| ClientError::Transport(format!("connection: {e}")))?;
        let mut req = http::Request::post(self.path.as_str())
            .header(http::header::HOST, self.authority.as_str())
            .header(
                http::header::USER_AGENT,
                concat!("nodewatch-node-agent/", env!("CARGO_PKG_VERSION")),
            );
        req = match self.cfg.encoding {
            Encoding::Protobuf => req.header(http::header::CONTENT_TYPE, "application/x-protobuf"),
            Encoding::Json => req
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::CONTENT_ENCODING, "gzip"),
        };
        if let Some(t) = &self.cfg.tenant_id {
            req = req.header("X-Scope-OrgID", t.as_str());
        }
        if let Some(b) = &self.cfg.basic_auth {
            let pw = read_secret(&b.password_file)?;
            let token = base64_encode(format!("{}:{pw}", b.username).as_bytes());
            req = req.header(http::header::AUTHORIZATION, format!("Basic {token}"));
        } else if let Some(f) = &self.cfg.bearer_token_file {
            let tok = read_secret(f)?;
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {tok}"));
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ClientError::Transport(format!("build request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Transport(format!("send: {e}")))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Transport(format!("read response: {e}")))?;
            if let Some(d) = frame.data_ref()
                && kept.len() < MAX_RESPONSE_BYTES
            {
                let room = MAX_RESPONSE_BYTES - kept.len();
                kept.extend_from_slice(&d[..d.len().min(room)]);
            }
        }
        self.conn = Some(sender);
        Ok(PushResponse {
            status,
            retry_after,
            body: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
pub(super) fn base64_for_tests(input: &[u8]) -> String {
    base64_encode(input)
}
