//! The one HTTP client every sink uses (Loki, remote_write): the URL parsed once, TLS with rustls
//! (a CA file or the system bundle), basic or bearer auth read from files on every request (so a
//! rotated secret is picked up), a timeout per request, no proxy. One HTTP/1.1 connection per
//! caller, kept open between requests and re-opened after any error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The system CA bundle (Debian's `ca-certificates`), used when no CA file is set.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The largest credentials file read.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// One open connection.
pub type Conn = SendRequest<Full<Bytes>>;

/// What is wrong with a client's settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpClientError {
    /// The URL is not `http(s)://host[:port]/path`.
    #[error("url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A header value the settings give is not valid in HTTP.
    #[error("{name}: {reason}")]
    Header {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A credentials or CA file cannot be read or used.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which setting names the file (`password_file`, `ca_file`, ...).
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// `Basic`, the password read from a file.
    Basic {
        /// The user.
        username: String,
        /// The password file.
        password_file: PathBuf,
    },
    /// `Bearer`, the token read from a file.
    Bearer {
        /// The token file.
        token_file: PathBuf,
    },
}

/// The settings of one client.
#[derive(Debug, Clone)]
pub struct ClientSettings<'a> {
    /// The URL every request goes to.
    pub url: &'a str,
    /// The CA bundle for https (`None`: the system bundle).
    pub ca_file: Option<&'a Path>,
    /// The setting `ca_file` is read from, for error messages.
    pub ca_key: &'static str,
    /// Authentication.
    pub auth: Auth,
    /// The most one request may take, connecting included.
    pub timeout: Duration,
}

/// Checks a URL: http or https, a host, no credentials in it.
pub fn check_url(u: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = u.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("scheme must be http or https".into()),
    }
    let Some(auth) = uri.authority() else {
        return Err("no host".into());
    };
    if auth.as_str().contains('@') {
        return Err("put credentials in basic_auth, not in the URL".into());
    }
    if auth.host().is_empty() {
        return Err("no host".into());
    }
    Ok(uri)
}

/// A client for one URL; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    url: String,
    host: String,
    port: u16,
    host_header: HeaderValue,
    path: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    auth: Auth,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .finish()
    }
}

/// An answer: the status, `Retry-After` as sent, and the start of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// At most the requested number of body bytes.
    pub body: Vec<u8>,
    /// Whether `body` is the whole body.
    pub complete: bool,
}

fn file_err(what: &'static str, path: &Path, reason: impl ToString) -> HttpClientError {
    HttpClientError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads a credentials file (bounded), without its trailing newline.
pub fn read_secret(what: &'static str, path: &Path) -> Result<String, HttpClientError> {
    let meta = std::fs::metadata(path).map_err(|e| file_err(what, path, e))?;
    if meta.len() > MAX_SECRET_BYTES {
        return Err(file_err(what, path, "larger than 64 KiB"));
    }
    let s = std::fs::read_to_string(path).map_err(|e| file_err(what, path, e))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// `Basic <base64(user:password)>`.
pub fn basic_auth_value(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64(format!("{username}:{password}").as_bytes())
    )
}

/// The rustls client config for a CA bundle. A bundle may hold certificates rustls cannot use
/// (the system one often does): those are skipped; a bundle with none usable, or one that is not
/// PEM, is an error.
pub fn tls_config(
    ca_file: Option<&Path>,
    what: &'static str,
) -> Result<rustls::ClientConfig, HttpClientError> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let pem = std::fs::read(path).map_err(|e| file_err(what, path, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| file_err(what, path, e))?;
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(file_err(what, path, "no usable CA certificate in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| file_err(what, path, e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl HttpClient {
    /// Parses the URL, loads the CA bundle (https) and checks the credentials files are readable.
    pub fn new(s: &ClientSettings<'_>) -> Result<Self, HttpClientError> {
        let url_err = |reason: String| HttpClientError::Url {
            url: s.url.to_string(),
            reason,
        };
        let uri = check_url(s.url).map_err(url_err)?;
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
            .ok_or_else(|| url_err("bad host".into()))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let tls = if https {
            let config = tls_config(s.ca_file, s.ca_key)?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| url_err(format!("not a TLS server name: {e}")))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        match &s.auth {
            Auth::None => {}
            Auth::Basic { password_file, .. } => {
                read_secret("password_file", password_file)?;
            }
            Auth::Bearer { token_file } => {
                read_secret("bearer_token_file", token_file)?;
            }
        }
        Ok(HttpClient {
            url: s.url.to_string(),
            host,
            port,
            host_header,
            path,
            tls,
            auth: s.auth.clone(),
            timeout: s.timeout.max(Duration::from_millis(1)),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn authorization(&self) -> Result<Option<HeaderValue>, String> {
        let v = match &self.auth {
            Auth::None => return Ok(None),
            Auth::Basic {
                username,
                password_file,
            } => {
                let pw = read_secret("password_file", password_file).map_err(|e| e.to_string())?;
                basic_auth_value(username, &pw)
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
            .map_err(|e| format!("connect {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        let hs = |e: hyper::Error| format!("http handshake: {e}");
        match &self.tls {
            None => {
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(hs)?;
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
                    .map_err(hs)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
        }
    }

    /// One POST of `body` with `headers` (Host, User-Agent and Authorization are added) on
    /// `conn`, opened when there is none. Keeps at most `max_body` bytes of the answer; an
    /// answer longer than that closes the connection. `Err` is a transport failure or the
    /// timeout; the connection is dropped then.
    pub async fn post(
        &self,
        conn: &mut Option<Conn>,
        headers: HeaderMap,
        body: Bytes,
        max_body: usize,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(self.timeout, self.post_inner(conn, headers, body, max_body))
            .await
        {
            Ok(Ok(a)) => {
                if !a.complete {
                    *conn = None;
                }
                Ok(a)
            }
            Ok(Err(e)) => {
                *conn = None;
                Err(e)
            }
            Err(_) => {
                *conn = None;
                Err(format!("no answer within {} ms", self.timeout.as_millis()))
            }
        }
    }

    async fn post_inner(
        &self,
        conn: &mut Option<Conn>,
        headers: HeaderMap,
        body: Bytes,
        max_body: usize,
    ) -> Result<Answer, String> {
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
        let mut req = Request::post(self.path.as_str())
            .body(Full::new(body))
            .map_err(|e| format!("build request: {e}"))?;
        let h = req.headers_mut();
        h.insert(header::HOST, self.host_header.clone());
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("nodewatch-node-agent/", env!("CARGO_PKG_VERSION"))),
        );
        h.extend(headers);
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a);
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
            .map(str::to_string);
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("read answer: {e}"))?;
            if let Ok(data) = frame.into_data() {
                let room = max_body.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if data.len() > room {
                    complete = false;
                    break;
                }
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body: kept,
            complete,
        })
    }
}

/// Standard base64 (RFC 4648, padded), the encoding of `Basic` credentials.
pub fn base64(input: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests;
