//! HTTPS with rustls (ring provider), from PEM files: the S3 API's server config, and the client
//! config replication uses to reach `https://` peers.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use crate::config::TlsFiles;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCert(String),
    #[error("{0} holds no PEM private key")]
    NoKey(String),
    #[error("build tls config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client config that trusts the CA certificates in `ca_file` (PEM) and nothing else: peers
/// present certificates from the cluster's own CA.
pub fn load_client_config(
    ca_file: &std::path::Path,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let path = ca_file.display().to_string();
    let mut reader = File::open(ca_file)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            what: "CA certificates",
            path: path.clone(),
            source,
        })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(|source| TlsError::Read {
            what: "CA certificates",
            path: path.clone(),
            source,
        })?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCert(path));
    }
    Ok(Arc::new(client_config(roots)?))
}

/// A client config over `roots` (ring provider, safe protocol versions). No ALPN here: the
/// connector (`hyper-rustls`) offers the HTTP versions it speaks.
pub fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Loads the certificate chain and key and builds a server config offering HTTP/1.1.
pub fn load_server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let open = |what: &'static str, path: &std::path::Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| TlsError::Read {
                what,
                path: path.display().to_string(),
                source,
            })
    };
    let certs = rustls_pemfile::certs(&mut open("certificate", &files.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            what: "certificate",
            path: files.cert.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCert(files.cert.display().to_string()));
    }
    let key = rustls_pemfile::private_key(&mut open("private key", &files.key)?)
        .map_err(|source| TlsError::Read {
            what: "private key",
            path: files.key.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(files.key.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
