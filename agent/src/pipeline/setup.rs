//! Building the pipeline receivers from the config, and the reaper task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sources::otlp::{OtlpConfig, OtlpReceiver};
use crate::sources::pushgateway::{PushgatewayConfig, PushgatewayReceiver};

use super::config::PipelineConfig;
use super::listener::PipelineState;
use super::metrics::PipelineMetrics;
use super::store::{PipelineStore, StoreLimits};

/// The built receivers and their store.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pushed series.
    pub store: Arc<PipelineStore>,
    /// The OTLP receiver, when enabled.
    pub otlp: Option<Arc<OtlpReceiver>>,
    /// The Pushgateway receiver, when enabled.
    pub pushgateway: Option<Arc<PushgatewayReceiver>>,
}

impl Pipeline {
    /// Builds the store and the enabled receivers.
    pub fn build(p: &PipelineConfig, otlp: &OtlpConfig, pg: &PushgatewayConfig) -> Pipeline {
        let limits = StoreLimits {
            max_series: p.max_series,
            max_groups: p.max_groups,
            max_labels: p.max_labels_per_series,
            max_label_value_bytes: p.max_label_value_bytes,
            max_jobs: p.max_jobs,
        };
        let store = Arc::new(PipelineStore::new(limits, Arc::new(PipelineMetrics::new())));
        let otlp = otlp
            .enabled
            .then(|| Arc::new(OtlpReceiver::new(otlp.clone(), Arc::clone(&store))));
        let pushgateway = pg.enabled.then(|| {
            Arc::new(PushgatewayReceiver::new(
                pg.clone(),
                Arc::clone(&store),
                p.max_labels_per_series,
                p.max_label_value_bytes,
                p.max_body_bytes,
            ))
        });
        Pipeline {
            store,
            otlp,
            pushgateway,
        }
    }

    /// The listener's shared state.
    pub fn state(&self, p: &PipelineConfig) -> PipelineState {
        PipelineState {
            store: Arc::clone(&self.store),
            otlp: self.otlp.clone(),
            pushgateway: self.pushgateway.clone(),
            max_connections: p.max_connections,
            header_read_timeout: Duration::from_millis(p.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(p.body_read_timeout_ms),
            max_body_bytes: p.max_body_bytes,
        }
    }

    /// Removes expired series (and delta state) every `interval` until `shutdown` turns true.
    pub fn spawn_reaper(
        &self,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if *shutdown.borrow() {
                    break;
                }
                let now = Instant::now();
                me.store.reap(now);
                if let Some(o) = &me.otlp {
                    o.expire(now);
                }
            }
        })
    }
}
