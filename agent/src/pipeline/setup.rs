//! Building the pipeline's store from the config, the listener's state over the push sources'
//! routes, and the reaper task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::PipelineConfig;
use super::listener::PipelineState;
use super::route::PushRoute;
use super::store::{PipelineStore, StoreLimits};
use crate::metrics::pipeline::PipelineMetrics;

/// The pipeline's store and the routes of the push sources.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pushed series.
    pub store: Arc<PipelineStore>,
    /// The push sources' routes.
    pub routes: Vec<PushRoute>,
}

impl Pipeline {
    /// The store of pushed series, with the bounds of `p`.
    pub fn store(p: &PipelineConfig) -> Arc<PipelineStore> {
        let limits = StoreLimits {
            max_series: p.max_series,
            max_groups: p.max_groups,
            max_labels: p.max_labels_per_series,
            max_label_value_bytes: p.max_label_value_bytes,
            max_jobs: p.max_jobs,
        };
        Arc::new(PipelineStore::new(limits, Arc::new(PipelineMetrics::new())))
    }

    /// The listener's shared state.
    pub fn state(&self, p: &PipelineConfig) -> PipelineState {
        PipelineState {
            store: Arc::clone(&self.store),
            routes: self.routes.clone(),
            max_connections: p.max_connections,
            header_read_timeout: Duration::from_millis(p.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(p.body_read_timeout_ms),
            max_body_bytes: p.max_body_bytes,
        }
    }

    /// Removes expired series (and the receivers' expired state) every `interval` until `shutdown` turns true.
    pub fn spawn_reaper(
        &self,
        interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut ticker = crate::component::Ticker::new(interval, shutdown);
            while ticker.tick().await {
                let now = Instant::now();
                me.store.reap(now);
                for r in me.routes.iter().filter_map(|r| r.receiver.as_ref()) {
                    r.expire(now);
                }
            }
        })
    }
}
