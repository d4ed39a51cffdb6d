//! The admin listener: `/metrics`, `/healthz`, `/readyz` and `/admin/status` (the node's
//! `ceph daemon osd.N status` / `perf dump`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::ops::{OpTracker, OpView};
use crate::store::ObjectStore;
use crate::store::disk::{DiskStore, capacity};
use crate::store::scrub::{ScrubState, ScrubStatus};

/// What the admin routes read.
#[derive(Debug)]
pub struct AdminState {
    pub node_id: String,
    pub started: Instant,
    pub store: DiskStore,
    pub metrics: Arc<Metrics>,
    pub tracker: Arc<OpTracker>,
    pub scrub: ScrubState,
    pub ready: AtomicBool,
    pub tls: bool,
    /// Replication, when the node has peers.
    pub replication: Option<Arc<crate::replication::Replicator>>,
}

#[derive(Debug, Serialize)]
struct Status {
    node_id: String,
    version: &'static str,
    uptime_seconds: f64,
    capacity_bytes: u64,
    free_bytes: u64,
    buckets: u64,
    objects: u64,
    stored_bytes: u64,
    ops_in_flight: usize,
    slow_ops: usize,
    slow_op_threshold_seconds: f64,
    oldest_ops: Vec<OpView>,
    last_scrub: ScrubStatus,
    tls: bool,
    /// One entry per replication peer (absent without peers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replication: Vec<crate::replication::PeerStatus>,
}

impl AdminState {
    /// Refreshes the gauges that are read from the system rather than counted.
    fn refresh(&self) -> (u64, u64) {
        let (total, free) = capacity(self.store.data_dir()).unwrap_or((0, 0));
        self.metrics.set_capacity(total, free);
        self.metrics.set_stored(self.store.stats());
        self.tracker.refresh_slow();
        if let Some(r) = &self.replication {
            r.refresh_gauges();
        }
        (total, free)
    }

    fn status(&self) -> Status {
        let (capacity_bytes, free_bytes) = self.refresh();
        let stats = self.store.stats();
        Status {
            node_id: self.node_id.clone(),
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            capacity_bytes,
            free_bytes,
            buckets: stats.buckets,
            objects: stats.objects,
            stored_bytes: stats.stored_bytes,
            ops_in_flight: self.tracker.in_flight(),
            slow_ops: self.tracker.refresh_slow(),
            slow_op_threshold_seconds: self.tracker.threshold().as_secs_f64(),
            oldest_ops: self.tracker.snapshot(20),
            last_scrub: self.scrub.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            tls: self.tls,
            replication: self
                .replication
                .as_ref()
                .map(|r| r.status())
                .unwrap_or_default(),
        }
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// `POST /admin/fault` (only with `--fault-injection`); the body is at most 4 KiB.
async fn fault<B>(req: Request<B>) -> Response<Full<Bytes>>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != http::Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n",
        );
    }
    let limited = http_body_util::Limited::new(req.into_body(), 4096);
    let body = match http_body_util::BodyExt::collect(limited).await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("read body: {e}\n"),
            );
        }
    };
    match crate::fault::apply(&body) {
        Ok(ms) => text(
            StatusCode::OK,
            "application/json",
            format!("{{\"disk_delay_ms\":{ms}}}\n"),
        ),
        Err(e) => text(StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
    }
}

/// Routes one admin request.
pub async fn handle<B>(
    state: Arc<AdminState>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.uri().path() == "/admin/fault" && crate::fault::enabled() {
        return Ok(fault(req).await);
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n",
        ));
    }
    let resp = match req.uri().path() {
        "/metrics" => {
            state.refresh();
            text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                state.metrics.render(),
            )
        }
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => {
            if state.ready.load(Ordering::Acquire) {
                text(StatusCode::OK, "text/plain", "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "starting\n")
            }
        }
        "/admin/status" => match serde_json::to_vec_pretty(&state.status()) {
            Ok(body) => text(StatusCode::OK, "application/json", body),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("encode status: {e}\n"),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    Ok(resp)
}
