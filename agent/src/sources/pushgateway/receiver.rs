//! The Pushgateway receiver: PUT replaces a group, POST replaces the pushed families within it,
//! DELETE removes it. Pushes are all or nothing, like the Pushgateway's: a body that does not
//! parse, breaks a bound or contradicts its grouping key is refused whole, and the group's
//! `push_failure_time_seconds` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;

use crate::exposition::{ParseLimits, parse};
use crate::pipeline::{BodyError, GroupKey, Mode, Origin, PipelineStore, Reply};

use super::config::PushgatewayConfig;
use super::error::PushError;
use super::path::parse_grouping;

/// The Pushgateway receiver.
#[derive(Debug)]
pub struct PushgatewayReceiver {
    store: Arc<PipelineStore>,
    config: PushgatewayConfig,
    max_labels: usize,
    max_label_value_bytes: usize,
    max_body_bytes: usize,
}

impl PushgatewayReceiver {
    /// A receiver that stores into `store`, with the pipeline's label and body bounds.
    pub fn new(
        config: PushgatewayConfig,
        store: Arc<PipelineStore>,
        max_labels: usize,
        max_label_value_bytes: usize,
        max_body_bytes: usize,
    ) -> Self {
        PushgatewayReceiver {
            store,
            config,
            max_labels,
            max_label_value_bytes,
            max_body_bytes,
        }
    }

    fn ttl(&self) -> Option<Duration> {
        (self.config.expire_secs > 0).then(|| Duration::from_secs(self.config.expire_secs))
    }

    /// Answers one request to `/metrics/...`.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Reply {
        let reply = match self.answer(method, path, content_type, body) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, path, "refuse push");
                // The store counts the refusals it makes itself.
                if let Some(r) = e.reason().filter(|_| !matches!(e, PushError::Refused(_))) {
                    self.store.metrics().add_dropped(Origin::Pushgateway, r, 1);
                }
                Reply::text(e.status(), e.to_string())
            }
        };
        self.store.metrics().inc_push_request(method, reply.status);
        reply
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Result<Reply, PushError> {
        let labels = parse_grouping(path, self.max_labels, self.max_label_value_bytes)?;
        let key = GroupKey {
            origin: Origin::Pushgateway,
            labels,
        };
        let mode = match *method {
            Method::PUT => Mode::Replace,
            Method::POST => Mode::ReplaceFamilies,
            Method::DELETE => {
                self.store.delete(&key);
                return Ok(Reply::text(202, ""));
            }
            _ => return Err(PushError::Method),
        };
        match self.push(&key, mode, content_type, body) {
            Ok(()) => Ok(Reply::text(200, "")),
            Err(e) => {
                self.store.record_failure(&key);
                Err(e)
            }
        }
    }

    fn push(
        &self,
        key: &GroupKey,
        mode: Mode,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Result<(), PushError> {
        if let Some(ct) = content_type
            && ct.to_ascii_lowercase().contains("protobuf")
        {
            return Err(PushError::ContentType(ct.chars().take(100).collect()));
        }
        let body = body?;
        let text = std::str::from_utf8(&body).map_err(|_| PushError::NotUtf8)?;
        let limits = ParseLimits {
            max_bytes: self.max_body_bytes,
            max_samples: self.config.max_series_per_push,
            max_labels: self.max_labels,
            max_label_value_bytes: self.max_label_value_bytes,
        };
        let mut families = parse(text, &limits)?;
        for f in &mut families {
            let mut seen = std::collections::HashSet::with_capacity(f.metrics.len());
            for m in &mut f.metrics {
                for (k, v) in key.labels.iter() {
                    match m.labels.get(k) {
                        Some(pushed) if pushed != v => {
                            return Err(PushError::Contradicts {
                                metric: f.name.clone(),
                                label: k.to_string(),
                                value: pushed.chars().take(64).collect(),
                            });
                        }
                        Some(_) => {}
                        None => m.labels.insert(k, v),
                    }
                }
                if !seen.insert(m.labels.clone()) {
                    return Err(PushError::Duplicate(f.name.clone()));
                }
            }
        }
        let job = key.labels.get("job").unwrap_or_default().to_string();
        self.store
            .push(
                key.clone(),
                &job,
                families,
                mode,
                self.ttl(),
                Instant::now(),
            )
            .map(|_| ())
            .map_err(|(r, _)| PushError::Refused(r))
    }
}

impl crate::pipeline::PushReceiver for PushgatewayReceiver {
    fn wants_body(&self, method: &Method) -> bool {
        method == Method::PUT || method == Method::POST
    }

    fn handle(
        &self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: Result<Bytes, BodyError>,
    ) -> Reply {
        PushgatewayReceiver::handle(self, method, path, content_type, body)
    }
}
