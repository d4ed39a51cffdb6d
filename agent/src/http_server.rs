//! The one HTTP/1 accept loop the agent's listeners share (`api`: `/metrics` and the API;
//! `pipeline`: OTLP and Pushgateway pushes): connections bounded by a semaphore, request headers
//! due within a timeout, one task per connection, and a stop on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument as _;

/// The bounds of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
}

/// Accepts connections until `shutdown` turns true, answering each request with `handler`.
/// `name` goes into the connection's tracing span and log lines.
pub async fn serve<H, Fut>(
    listener: TcpListener,
    limits: Limits,
    name: &'static str,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, listener = name, "accept connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let handler = handler.clone();
        let span = tracing::debug_span!("http_conn", listener = name, %peer);
        tokio::spawn(
            async move {
                let _permit = permit;
                let svc = service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, listener = name, "serve connection");
                }
            }
            .instrument(span),
        );
    }
}
