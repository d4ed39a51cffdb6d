//! The background scrubber: re-reads every stored object at a bounded rate and verifies each
//! block's CRC32C, like a Ceph deep scrub. Damage is counted, logged with the object, and listed in
//! `/admin/status`; reads of a damaged object already fail on their own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metrics::Metrics;
use crate::store::disk::DiskStore;
use crate::store::disk::format::FormatError;
use crate::store::disk::layout::key_hash;

/// The outcome of the last finished pass, for `/admin/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubStatus {
    pub passes_completed: u64,
    pub last_completed_unix: Option<u64>,
    pub last_duration_seconds: Option<f64>,
    pub last_objects: u64,
    pub last_bytes: u64,
    pub last_errors: u64,
    /// Damaged objects found by the last pass, as `bucket/sha256(key)` (at most 100).
    pub damaged: Vec<String>,
    pub running: bool,
}

/// Shared scrub state.
pub type ScrubState = Arc<Mutex<ScrubStatus>>;

/// Scrubs one full pass over every object, pacing reads to `bytes_per_sec`.
pub fn scrub_pass(
    store: &DiskStore,
    metrics: &Metrics,
    bytes_per_sec: u64,
    state: &ScrubState,
) -> ScrubStatus {
    let started = Instant::now();
    // Current versions, then noncurrent ones (versioned buckets), each `(bucket, key, version id)`.
    let keys: Vec<(String, String, Option<String>)> = store
        .all_keys()
        .into_iter()
        .map(|(b, k)| (b, k, None))
        .chain(
            store
                .all_noncurrent()
                .into_iter()
                .map(|(b, k, v)| (b, k, Some(v))),
        )
        .collect();
    let total = keys.len().max(1) as f64;
    let mut pass = ScrubStatus {
        running: true,
        ..Default::default()
    };
    let rate = bytes_per_sec.max(1) as f64;
    let mut budget_start = Instant::now();
    let mut budget_bytes = 0u64;
    for (i, (bucket, key, version_id)) in keys.iter().enumerate() {
        let opened = match version_id {
            None => store.open_object(bucket, key),
            Some(v) => store.open_version_file(bucket, key, v),
        };
        let result = opened.and_then(|r| match r {
            Some(reader) => reader
                .verify_all(1 << 20, |n| {
                    budget_bytes += n;
                    let due = Duration::from_secs_f64(budget_bytes as f64 / rate);
                    let spent = budget_start.elapsed();
                    if due > spent {
                        std::thread::sleep(due - spent);
                    }
                    if budget_start.elapsed() > Duration::from_secs(10) {
                        budget_start = Instant::now();
                        budget_bytes = 0;
                    }
                })
                .map(|()| reader.footer.meta.size),
            None => Ok(0),
        });
        match result {
            Ok(size) => {
                pass.last_objects += 1;
                pass.last_bytes += size;
                metrics.scrubbed(size);
            }
            Err(e) => {
                pass.last_errors += 1;
                metrics.scrub_error();
                let hash = key_hash(key);
                match &e {
                    FormatError::Corrupt(detail) => {
                        metrics.checksum_error();
                        tracing::error!(bucket, key_hash = hash, %detail, "scrub found a damaged object");
                    }
                    FormatError::Io(err) => {
                        tracing::error!(bucket, key_hash = hash, error = %err, "scrub could not read an object")
                    }
                }
                if pass.damaged.len() < 100 {
                    pass.damaged.push(format!("{bucket}/{hash}"));
                }
            }
        }
        metrics.set_scrub_progress((i + 1) as f64 / total);
    }
    let now = crate::store::now_ms() / 1000;
    pass.running = false;
    pass.last_completed_unix = Some(now);
    pass.last_duration_seconds = Some(started.elapsed().as_secs_f64());
    metrics.scrub_completed(now as f64);
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    pass.passes_completed = s.passes_completed + 1;
    *s = pass.clone();
    tracing::info!(
        objects = pass.last_objects,
        bytes = pass.last_bytes,
        errors = pass.last_errors,
        seconds = pass.last_duration_seconds,
        "scrub pass finished"
    );
    pass
}

/// Runs scrub passes forever, `interval` apart, on a blocking thread per pass.
pub async fn run(
    store: DiskStore,
    metrics: Arc<Metrics>,
    interval: Duration,
    bytes_per_sec: u64,
    state: ScrubState,
) {
    loop {
        tokio::time::sleep(interval).await;
        {
            state.lock().unwrap_or_else(|e| e.into_inner()).running = true;
        }
        let (s, m, st) = (store.clone(), metrics.clone(), state.clone());
        if let Err(e) =
            tokio::task::spawn_blocking(move || scrub_pass(&s, &m, bytes_per_sec, &st)).await
        {
            tracing::error!(error = %e, "scrub pass stopped");
        }
    }
}
