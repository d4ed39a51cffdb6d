//! The agent's one HTTP client: every component that speaks HTTP (the Loki, remote_write and
//! Alertmanager sinks, the storage_node source, the kubernetes_pods source's pod lookups, the
//! `sla-report` Prometheus reader) gets an [`HttpClient`] from
//! [`crate::component::BuildContext::http_client`] (one client per distinct
//! [`HttpClientConfig`]) and nothing else. It gives: the URL parsed once, TLS with rustls (a CA
//! file or the system bundle; the same rule and the same error, naming the key, everywhere),
//! basic or bearer auth read from files on every request (so a rotated secret is picked up), a
//! timeout per request, a bounded answer body, and no proxy. A caller either keeps its own
//! HTTP/1.1 connection ([`HttpClient::post`], one per Loki pipeline or remote_write shard) or
//! takes one from the client's small idle pool ([`HttpClient::request`]); a connection is
//! re-opened after any error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// The system CA bundle (Debian's `ca-certificates`), used when no CA file is set.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The largest credentials file read.
const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// Idle connections a client keeps for [`HttpClient::request`].
const MAX_IDLE: usize = 4;

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
        name: String,
        /// Why.
        reason: String,
    },
    /// A credentials or CA file cannot be read or used.
    #[error("{what} {path}: {reason}")]
    File {
        /// The key that names the file (`password_file`, `ca_file`, `api.ca_file`, ...).
        what: String,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

impl HttpClientError {
    /// The config key the error is about, relative to the component's table.
    pub fn key(&self) -> &str {
        match self {
            HttpClientError::Url { .. } => "url",
            HttpClientError::Header { name, .. } => name,
            HttpClientError::File { what, .. } => what,
        }
    }
}

/// Why one request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No whole answer within the client's timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// A credentials file could not be read or is not a valid header.
    #[error("{0}")]
    Credentials(String),
    /// Connecting, the TLS handshake or the exchange failed.
    #[error("{0}")]
    Transport(String),
}

/// `basic_auth`: a user name and a file holding the password (re-read on every request). The
/// same table in every component that sends credentials.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The user name.
    pub username: String,
    /// The file holding the password; a trailing newline is ignored.
    pub password_file: PathBuf,
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

impl Auth {
    /// From a component's `basic_auth` and `bearer_token_file` keys (basic wins).
    pub fn from_keys(basic: Option<&BasicAuthConfig>, bearer_token_file: Option<&Path>) -> Self {
        match (basic, bearer_token_file) {
            (Some(b), _) => Auth::Basic {
                username: b.username.clone(),
                password_file: b.password_file.clone(),
            },
            (None, Some(t)) => Auth::Bearer {
                token_file: t.to_path_buf(),
            },
            (None, None) => Auth::None,
        }
    }
}

/// The settings of one client: what a component asks
/// [`crate::component::BuildContext::http_client`] for. Equal settings get the same client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpClientConfig {
    /// The base URL: [`HttpClient::post`] goes to it, [`HttpClient::request`] appends a path.
    pub url: String,
    /// The CA bundle for https (`None`: the system bundle).
    pub ca_file: Option<PathBuf>,
    /// The key prefix of the component's client keys in errors (`""`, `"api."`,
    /// `"endpoints[1]."`).
    pub key_prefix: String,
    /// The key `ca_file` is set by, under the prefix (`ca_file`, `tls_ca_file`).
    pub ca_key: &'static str,
    /// Authentication.
    pub auth: Auth,
    /// The most one request may take, connecting included.
    pub timeout: Duration,
}

impl HttpClientConfig {
    /// Settings for `url`: the system CA bundle, no auth.
    pub fn new(url: &str, timeout: Duration) -> Self {
        HttpClientConfig {
            url: url.to_string(),
            ca_file: None,
            key_prefix: String::new(),
            ca_key: "ca_file",
            auth: Auth::None,
            timeout,
        }
    }

    /// With a CA bundle set by the key `ca_key`.
    pub fn with_ca(mut self, ca_file: Option<&Path>, ca_key: &'static str) -> Self {
        self.ca_file = ca_file.map(Path::to_path_buf);
        self.ca_key = ca_key;
        self
    }

    /// With authentication.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// With the keys named under `prefix` in errors.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }
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

/// One request as it goes out (kept whole, so a retry sends it again).
#[derive(Debug, Clone)]
struct Outgoing<'a> {
    method: Method,
    target: &'a str,
    headers: HeaderMap,
    body: Bytes,
    max_body: usize,
}

/// A client for one base URL; cheap to clone (clones share the TLS config and the idle pool).
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
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
    password_key: String,
    token_key: String,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("url", &self.inner.url)
            .field("tls", &self.inner.tls.is_some())
            .field("auth", &self.inner.auth)
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

fn file_err(what: &str, path: &Path, reason: impl ToString) -> HttpClientError {
    HttpClientError::File {
        what: what.to_string(),
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads a credentials file (bounded), without its trailing newline.
pub fn read_secret(what: &str, path: &Path) -> Result<String, HttpClientError> {
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
    what: &str,
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
    /// Parses the URL, loads the CA bundle (https) and checks the credentials files are
    /// readable. Components call [`crate::component::BuildContext::http_client`] instead.
    pub fn new(c: &HttpClientConfig) -> Result<Self, HttpClientError> {
        let url_err = |reason: String| HttpClientError::Url {
            url: c.url.clone(),
            reason,
        };
        let uri = check_url(&c.url).map_err(url_err)?;
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
            let config = tls_config(c.ca_file.as_deref(), &c.key(c.ca_key))?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| url_err(format!("not a TLS server name: {e}")))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        let password_key = c.key("basic_auth.password_file");
        let token_key = c.key("bearer_token_file");
        match &c.auth {
            Auth::None => {}
            Auth::Basic { password_file, .. } => {
                read_secret(&password_key, password_file)?;
            }
            Auth::Bearer { token_file } => {
                read_secret(&token_key, token_file)?;
            }
        }
        Ok(HttpClient {
            inner: Arc::new(Inner {
                url: c.url.clone(),
                host,
                port,
                host_header,
                path,
                tls,
                auth: c.auth.clone(),
                password_key,
                token_key,
                timeout: c.timeout.max(Duration::from_millis(1)),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Whether `other` is this client (a clone of it), not just one with equal settings.
    pub fn same_as(&self, other: &HttpClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn authorization(&self) -> Result<Option<HeaderValue>, RequestError> {
        let i = &self.inner;
        let cred = |e: HttpClientError| RequestError::Credentials(e.to_string());
        let v = match &i.auth {
            Auth::None => return Ok(None),
            Auth::Basic {
                username,
                password_file,
            } => {
                let pw = read_secret(&i.password_key, password_file).map_err(cred)?;
                basic_auth_value(username, &pw)
            }
            Auth::Bearer { token_file } => {
                let t = read_secret(&i.token_key, token_file).map_err(cred)?;
                format!("Bearer {t}")
            }
        };
        let mut h = HeaderValue::from_str(&v)
            .map_err(|_| RequestError::Credentials("credentials are not a valid header".into()))?;
        h.set_sensitive(true);
        Ok(Some(h))
    }

    async fn connect(&self) -> Result<Conn, RequestError> {
        let i = &self.inner;
        let tcp = TcpStream::connect((i.host.as_str(), i.port))
            .await
            .map_err(|e| RequestError::Transport(format!("connect {}:{}: {e}", i.host, i.port)))?;
        let _ = tcp.set_nodelay(true);
        let hs = |e: hyper::Error| RequestError::Transport(format!("http handshake: {e}"));
        match &i.tls {
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
                    .map_err(|e| RequestError::Transport(format!("tls handshake: {e}")))?;
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

    /// One POST of `body` with `headers` (Host, User-Agent and Authorization are added) to the
    /// URL, on `conn`, opened when there is none. Keeps at most `max_body` bytes of the answer;
    /// an answer longer than that closes the connection. `Err` is a transport failure or the
    /// timeout; the connection is dropped then.
    pub async fn post(
        &self,
        conn: &mut Option<Conn>,
        headers: HeaderMap,
        body: Bytes,
        max_body: usize,
    ) -> Result<Answer, String> {
        let out = Outgoing {
            method: Method::POST,
            target: &self.inner.path,
            headers,
            body,
            max_body,
        };
        self.exchange_on(conn, out).await.map_err(|e| e.to_string())
    }

    /// One request to the URL's path followed by `path` (`/api/v2/alerts`, `/metrics`,
    /// `/api/v1/query?query=...`), on an idle connection of the client's pool or a new one.
    /// A pooled connection the server closed meanwhile is retried once on a new connection.
    /// Keeps at most `max_body` bytes of the answer ([`Answer::complete`] says whether that was
    /// all of it).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
        max_body: usize,
    ) -> Result<Answer, RequestError> {
        let base = self.inner.path.split('?').next().unwrap_or("/");
        let target = format!("{}{path}", base.trim_end_matches('/'));
        let pooled = {
            let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let reused = pooled.is_some();
        let mut conn = pooled;
        let out = Outgoing {
            method,
            target: &target,
            headers,
            body,
            max_body,
        };
        let mut r = self.exchange_on(&mut conn, out.clone()).await;
        if reused && matches!(r, Err(RequestError::Transport(_))) {
            conn = None;
            r = self.exchange_on(&mut conn, out).await;
        }
        if let Some(c) = conn {
            let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(c);
            }
        }
        r
    }

    /// A GET of the URL's path followed by `path`; see [`HttpClient::request`].
    pub async fn get(
        &self,
        path: &str,
        headers: HeaderMap,
        max_body: usize,
    ) -> Result<Answer, RequestError> {
        self.request(Method::GET, path, headers, Bytes::new(), max_body)
            .await
    }

    async fn exchange_on(
        &self,
        conn: &mut Option<Conn>,
        out: Outgoing<'_>,
    ) -> Result<Answer, RequestError> {
        let timeout = self.inner.timeout;
        let r = tokio::time::timeout(timeout, self.exchange(conn, out)).await;
        match r {
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
                Err(RequestError::Timeout(timeout))
            }
        }
    }

    async fn exchange(
        &self,
        conn: &mut Option<Conn>,
        out: Outgoing<'_>,
    ) -> Result<Answer, RequestError> {
        let Outgoing {
            method,
            target,
            headers,
            body,
            max_body,
        } = out;
        let transport = RequestError::Transport;
        let auth = self.authorization()?;
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            *conn = Some(self.connect().await?);
        }
        let Some(sender) = conn.as_mut() else {
            return Err(transport("no connection".into()));
        };
        sender
            .ready()
            .await
            .map_err(|e| transport(format!("connection: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(target)
            .body(Full::new(body))
            .map_err(|e| transport(format!("build request: {e}")))?;
        let h = req.headers_mut();
        h.insert(header::HOST, self.inner.host_header.clone());
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
            .map_err(|e| transport(format!("send: {e}")))?;
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
            let frame = frame.map_err(|e| transport(format!("read answer: {e}")))?;
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
