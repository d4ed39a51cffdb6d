//! The HTTP listener: `/metrics` (the prometheus_exporter sink) and `/healthz`.
//!
//! Connections are bounded by a semaphore (`api.max_connections`), request headers must arrive
//! within `api.header_read_timeout_ms`, and rendering runs on a blocking thread so that a large
//! exposition never stalls the async workers the sources use.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::component::BuildContext;
use crate::config::ApiConfig;
use crate::metrics::AgentMetrics;
use crate::sinks::prometheus_exporter::{PrometheusExporterConfig, respond};
use crate::store::Store;

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// The anomaly alerts `/api/v1/alerts` lists.
    pub alerts: Arc<crate::alerts::AlertBook>,
    /// The store `/metrics` renders.
    pub store: Arc<Store>,
    /// The agent's own telemetry.
    pub metrics: Arc<AgentMetrics>,
    /// The `/metrics` settings.
    pub exporter: PrometheusExporterConfig,
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send its headers.
    pub header_read_timeout: Duration,
}

impl ApiState {
    /// The listener's state from what the components left in `ctx` (the alert book, the
    /// exporter's settings: its defaults when it left none) and the `[api]` table.
    pub fn from_context(ctx: &mut BuildContext, api: &ApiConfig) -> Self {
        ApiState {
            alerts: ctx.shared::<crate::alerts::AlertBook>(),
            store: Arc::clone(ctx.store()),
            metrics: Arc::clone(ctx.metrics()),
            exporter: ctx
                .get::<PrometheusExporterConfig>()
                .map(|e| (*e).clone())
                .unwrap_or_default(),
            max_connections: api.max_connections,
            header_read_timeout: Duration::from_millis(api.header_read_timeout_ms),
        }
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: Arc<ApiState>, shutdown: watch::Receiver<bool>) {
    let limits = crate::http_server::Limits {
        max_connections: state.max_connections,
        header_read_timeout: state.header_read_timeout,
    };
    crate::http_server::serve(listener, limits, "api", shutdown, move |req| {
        let state = Arc::clone(&state);
        async move { handle(req, state).await }
    })
    .await;
}

fn text_response(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(req: Request<Incoming>, state: Arc<ApiState>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/healthz" {
        return text_response(StatusCode::OK, "ok\n");
    }
    if path == "/api/v1/alerts" {
        let mut r = Response::new(Full::new(Bytes::from(
            crate::sinks::alertmanager::api_alerts_json(&state.alerts),
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        return r;
    }
    if path != state.exporter.path {
        return text_response(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let header_str = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let accept = header_str(header::ACCEPT);
    let accept_encoding = header_str(header::ACCEPT_ENCODING);
    let head = req.method() == Method::HEAD;
    let st = Arc::clone(&state);
    let rendered = tokio::task::spawn_blocking(move || {
        respond(
            &st.store,
            &st.metrics,
            accept.as_deref(),
            accept_encoding.as_deref(),
            st.exporter.gzip,
        )
    })
    .await;
    let out = match rendered {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "render /metrics");
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n");
        }
    };
    let body = if head { Vec::new() } else { out.body };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(out.content_type),
    );
    r.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if let Some(enc) = out.content_encoding {
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(enc),
        );
    }
    r
}
