//! Building one `/metrics` response from the store: no HTTP here, so tests call it directly.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::render::{Format, render};
use crate::metrics::AgentMetrics;

/// The exporter's `component_kind` and `component_id` (its registry key).
const COMPONENT_KIND: &str = "sink";
const COMPONENT_ID: &str = "prometheus_exporter";
use crate::store::Store;

/// A rendered `/metrics` body and its headers.
#[derive(Debug, Clone)]
pub struct MetricsResponse {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// `Some("gzip")` when the body is compressed.
    pub content_encoding: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

/// Whether an `Accept-Encoding` header accepts gzip (listed, and not with `q=0`).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    h.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let coding = it.next().unwrap_or_default();
        (coding.eq_ignore_ascii_case("gzip") || coding == "*")
            && !it.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
    })
}

/// Renders the store and the agent's own metrics for one scrape. Counts into the exporter's
/// `component_*` counters (series): received (every series offered), sent (written), dropped (a
/// duplicate of one already written, or of a family whose type conflicts); a body that could not
/// be gzipped is an error.
pub fn respond(
    store: &Store,
    metrics: &Arc<AgentMetrics>,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    gzip_enabled: bool,
) -> MetricsResponse {
    let start = Instant::now();
    let format = Format::negotiate(accept);
    let batches = store.snapshot();
    let own = metrics.families();
    let mut text = String::with_capacity(64 * 1024);
    let report = render(
        batches.iter().flat_map(|b| b.iter()).chain(own.iter()),
        format,
        &mut text,
    );
    let raw_len = text.len();
    let telemetry = metrics.components.handle(COMPONENT_KIND, COMPONENT_ID);
    let offered: usize = batches
        .iter()
        .flat_map(|b| b.iter())
        .chain(own.iter())
        .map(crate::event::Family::series_count)
        .sum();
    telemetry.received(offered as u64);
    telemetry.sent(report.series as u64);
    telemetry.dropped(offered.saturating_sub(report.series) as u64);
    let (body, content_encoding) = if gzip_enabled && accepts_gzip(accept_encoding) {
        let mut enc = GzEncoder::new(Vec::with_capacity(raw_len / 4), Compression::fast());
        match enc.write_all(text.as_bytes()).and_then(|()| enc.finish()) {
            Ok(gz) => (gz, Some("gzip")),
            Err(e) => {
                telemetry.error();
                tracing::warn!(error = %e, "gzip /metrics body; sending it uncompressed");
                (text.into_bytes(), None)
            }
        }
    } else {
        (text.into_bytes(), None)
    };
    metrics.observe_render(
        start.elapsed(),
        raw_len,
        report.type_conflicts + report.duplicates,
    );
    MetricsResponse {
        content_type: format.content_type(),
        content_encoding,
        body,
    }
}
