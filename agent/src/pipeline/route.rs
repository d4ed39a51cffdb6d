//! How a push source plugs into the pipeline listener: it adds a [`PushRoute`] to the shared
//! [`PushRoutes`] in its `build`, and the listener routes by path. The listener knows no source.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::Method;

use super::{BodyError, Reply};

/// A push receiver (OTLP, Pushgateway): answers one request. Runs on a blocking thread.
pub trait PushReceiver: Send + Sync + std::fmt::Debug {
    /// Whether the listener reads the body of a request with `method` (else the receiver gets
    /// an empty body).
    fn wants_body(&self, method: &Method) -> bool;

    /// Answers one request.
    fn handle(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Reply;

    /// Forgets state that expired (called by the reaper).
    fn expire(&self, _now: Instant) {}
}

/// The paths a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePath {
    /// Exactly this path.
    Exact(&'static str),
    /// Every path starting with this.
    Prefix(&'static str),
}

impl RoutePath {
    /// Whether `path` is served.
    pub fn matches(self, path: &str) -> bool {
        match self {
            RoutePath::Exact(p) => path == p,
            RoutePath::Prefix(p) => path.starts_with(p),
        }
    }
}

/// One route: its paths, the receiver's name, and the receiver (`None`: switched off, answered
/// with 404 "<name> receiver is disabled").
#[derive(Debug, Clone)]
pub struct PushRoute {
    /// The paths.
    pub path: RoutePath,
    /// The name used in the "disabled" answer.
    pub name: &'static str,
    /// The receiver, when it is on.
    pub receiver: Option<Arc<dyn PushReceiver>>,
}

/// The routes the push sources added (a [`crate::component::BuildContext`] shared value).
#[derive(Debug, Default)]
pub struct PushRoutes(Mutex<Vec<PushRoute>>);

impl PushRoutes {
    /// Adds a route.
    pub fn add(&self, r: PushRoute) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// The routes, in the order they were added.
    pub fn list(&self) -> Vec<PushRoute> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
