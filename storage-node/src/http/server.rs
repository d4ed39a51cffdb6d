//! Accept loops for the S3 and admin listeners: bounded connections, header timeouts, optional
//! TLS, and graceful shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::expect::CloseAfterBodilessExpect;
use crate::metrics::Metrics;

/// Connections served at once per listener; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4096;
/// Largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's stream that remembers whether request bytes arrived since the last response
/// bytes went out: when the header timeout closes the connection, that tells a slow request head
/// (`header_timeout`) from an idle keep-alive connection (`idle_timeout`).
struct Activity<T> {
    inner: T,
    pending: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.pending.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.pending.store(false, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The refusal a connection error stands for, if it is one (names from `metrics::REFUSAL_REASONS`).
fn refusal(e: &hyper::Error, request_pending: bool) -> Option<&'static str> {
    if e.is_parse_too_large() {
        // hyper answered 414 or 431 before closing; only its message tells which.
        return Some(if e.to_string().contains("URI too long") {
            "uri_too_long"
        } else {
            "request_header_fields_too_large"
        });
    }
    if e.is_timeout() {
        return Some(if request_pending {
            "header_timeout"
        } else {
            "idle_timeout"
        });
    }
    None
}

fn builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    b
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains for a bounded time.
/// Refused requests and timed-out connections are counted as `name`'s.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    (name, metrics): (&'static str, Arc<Metrics>),
) where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = CloseAfterBodilessExpect(service);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let pending = Arc::new(AtomicBool::new(false));
        let metrics = metrics.clone();
        let seen = pending.clone();
        let ended = move |e: hyper::Error| {
            if let Some(reason) = refusal(&e, seen.load(Ordering::Relaxed)) {
                metrics.connection_refused(name, reason);
            }
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        };
        match tls.clone() {
            None => {
                let io = Activity {
                    inner: stream,
                    pending: pending.clone(),
                };
                let conn = builder().serve_connection(TokioIo::new(io), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        ended(e);
                    }
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls_stream =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "tls handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "tls handshake timed out");
                                return;
                            }
                        };
                    let io = Activity {
                        inner: tls_stream,
                        pending: pending.clone(),
                    };
                    let conn = builder().serve_connection(TokioIo::new(io), service);
                    if let Err(e) = watcher.watch(conn).await {
                        ended(e);
                    }
                    drop(permit);
                });
            }
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after the drain timeout"),
    }
}
