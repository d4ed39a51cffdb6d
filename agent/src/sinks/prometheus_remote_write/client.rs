//! One HTTP/1.1 connection per shard to the receiver (plain or rustls), the remote_write headers,
//! auth from files, and the classification of answers into sent / retry / refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::config::{RemoteWriteConfig, check_url};
use super::error::RemoteWriteError;

/// The most bytes of an error answer kept for the log.
const ERROR_BODY_BYTES: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A connection to the receiver, reused while it stays open.
pub type Conn = SendRequest<Full<Bytes>>;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx: the receiver has the samples.
    Sent,
    /// 5xx, 429, or a network error or timeout: send the same batch again later.
    Retry {
        /// The status, when there was an answer.
        status: Option<u16>,
        /// The receiver's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
        /// What went wrong, for the log.
        reason: String,
    },
    /// Another 4xx (or 3xx): the receiver will never take this batch; do not retry.
    Refused {
        /// The status.
        status: u16,
        /// The start of the answer's body, for the log.
        body: String,
    },
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic {
        username: String,
        password_file: PathBuf,
    },
    Bearer {
        token_file: PathBuf,
    },
}

/// The receiver's address, TLS and auth.
#[derive(Clone)]
pub struct Client {
    uri: Uri,
    host: String,
    port: u16,
    host_header: HeaderValue,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    auth: Auth,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("uri", &self.uri)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .finish()
    }
}

fn file_err(what: &'static str, path: &Path, reason: impl ToString) -> RemoteWriteError {
    RemoteWriteError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn read_secret(what: &'static str, path: &Path) -> Result<String, RemoteWriteError> {
    let meta = std::fs::metadata(path).map_err(|e| file_err(what, path, e))?;
    if meta.len() > 64 * 1024 {
        return Err(file_err(what, path, "larger than 64 KiB"));
    }
    let s = std::fs::read_to_string(path).map_err(|e| file_err(what, path, e))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, RemoteWriteError> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let pem = std::fs::read(path).map_err(|e| file_err("tls_ca_file", path, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| file_err("tls_ca_file", path, e))?;
        roots
            .add(cert)
            .map_err(|e| file_err("tls_ca_file", path, e))?;
    }
    if roots.is_empty() {
        return Err(file_err("tls_ca_file", path, "no certificates in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| file_err("tls_ca_file", path, e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Client {
    /// Builds the client; checks that the URL parses and the auth and CA files can be read.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Client, RemoteWriteError> {
        let url = cfg.url.clone().unwrap_or_default();
        let uri = check_url(&url).map_err(|reason| RemoteWriteError::Url {
            url: url.clone(),
            reason,
        })?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host_header = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or_else(|| RemoteWriteError::Url {
                url: url.clone(),
                reason: "bad host".into(),
            })?;
        let tls = if https {
            let config = tls_config(cfg.tls_ca_file.as_deref())?;
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| {
                RemoteWriteError::Url {
                    url: url.clone(),
                    reason: format!("not a TLS server name: {e}"),
                }
            })?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        let auth = if let Some(b) = &cfg.basic_auth {
            read_secret("password_file", &b.password_file)?;
            Auth::Basic {
                username: b.username.clone(),
                password_file: b.password_file.clone(),
            }
        } else if let Some(t) = &cfg.bearer_token_file {
            read_secret("bearer_token_file", t)?;
            Auth::Bearer {
                token_file: t.clone(),
            }
        } else {
            Auth::None
        };
        Ok(Client {
            uri,
            host,
            port,
            host_header,
            tls,
            auth,
            timeout: Duration::from_millis(cfg.timeout_ms),
        })
    }

    /// The `Authorization` header, from the files as they are now.
    fn authorization(&self) -> Result<Option<HeaderValue>, String> {
        let v = match &self.auth {
            Auth::None => return Ok(None),
            Auth::Basic {
                username,
                password_file,
            } => {
                let pw = read_secret("password_file", password_file).map_err(|e| e.to_string())?;
                format!(
                    "Basic {}",
                    base64_encode(format!("{username}:{pw}").as_bytes())
                )
            }
            Auth::Bearer { token_file } => {
                let t = read_secret("bearer_token_file", token_file).map_err(|e| e.to_string())?;
                format!("Bearer {t}")
            }
        };
        let mut h = HeaderValue::from_str(&v).map_err(|_| "credentials are not a valid header")?;
        h.set_sensitive(true);
        Ok(Some(h))
    }

    async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => {
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| format!("http handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("tls handshake: {e}"))?;
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("http handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
        }
    }

    /// Sends one snappy-compressed `WriteRequest`, reusing `conn` when it is still open.
    pub async fn send(&self, conn: &mut Option<Conn>, body: Bytes) -> SendOutcome {
        match tokio::time::timeout(self.timeout, self.send_inner(conn, body)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(reason)) => {
                *conn = None;
                SendOutcome::Retry {
                    status: None,
                    retry_after: None,
                    reason,
                }
            }
            Err(_) => {
                *conn = None;
                SendOutcome::Retry {
                    status: None,
                    retry_after: None,
                    reason: format!("no answer within {} ms", self.timeout.as_millis()),
                }
            }
        }
    }

    async fn send_inner(
        &self,
        conn: &mut Option<Conn>,
        body: Bytes,
    ) -> Result<SendOutcome, String> {
        let auth = self.authorization()?;
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            *conn = Some(self.connect().await?);
        }
        let Some(sender) = conn.as_mut() else {
            return Err("no connection".into());
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut req = Request::post(path)
            .header(header::HOST, self.host_header.clone())
            .header(header::CONTENT_ENCODING, "snappy")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(
                header::USER_AGENT,
                concat!("nodewatch-node-agent/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(Full::new(body))
            .map_err(|e| format!("build request: {e}"))?;
        if let Some(a) = auth {
            req.headers_mut().insert(header::AUTHORIZATION, a);
        }
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        // Read (a bounded start of) the body, so the connection can be reused.
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("read answer: {e}"))?;
            if let Ok(data) = frame.into_data() {
                let room = ERROR_BODY_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if kept.len() >= ERROR_BODY_BYTES {
                    complete = false;
                    break;
                }
            }
        }
        if !complete {
            *conn = None;
        }
        let text = String::from_utf8_lossy(&kept).trim().to_string();
        Ok(classify(status, retry_after, text))
    }
}

/// Sorts an answer into sent, retry (5xx, 429) and refused (any other status).
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

fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
pub(crate) fn base64_for_test(input: &[u8]) -> String {
    base64_encode(input)
}
