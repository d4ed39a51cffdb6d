//! The Pushgateway receiver's configuration.

use std::sync::Arc;

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError};
use crate::pipeline::{
    PipelineConfig, PipelineStore, PushReceiver, PushRoute, PushRoutes, RoutePath,
};

/// `[sources.pushgateway]`: the Pushgateway API (`/metrics/job/<job>{/<label>/<value>}`) on the
/// pipeline listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushgatewayConfig {
    /// Whether `/metrics/job/...` is served.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds after its last successful push at which a group is removed; 0 keeps groups until
    /// they are deleted (the Pushgateway's own behaviour). The default, two days, outlives a
    /// daily batch job that missed one run, so a "last success is too old" alert still sees the
    /// job's series and fires instead of finding nothing.
    #[serde(default = "default_expire_secs")]
    pub expire_secs: u64,
    /// The most series (exposition lines) one push may carry; a larger push is refused whole.
    #[serde(default = "default_max_series_per_push")]
    pub max_series_per_push: usize,
}

impl Default for PushgatewayConfig {
    fn default() -> Self {
        PushgatewayConfig {
            enabled: default_enabled(),
            expire_secs: default_expire_secs(),
            max_series_per_push: default_max_series_per_push(),
        }
    }
}

impl crate::component::Component for PushgatewayConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        if self.expire_secs > 365 * 86_400 {
            return Err(ComponentError::new(
                "expire_secs",
                "must be at most 31536000",
            ));
        }
        if self.max_series_per_push == 0 {
            return Err(ComponentError::new(
                "max_series_per_push",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Adds the `/metrics/job/...` routes to the pipeline listener (when the listener runs).
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let (Some(store), Some(p)) = (ctx.get::<PipelineStore>(), ctx.get::<PipelineConfig>())
        else {
            return Ok(());
        };
        store
            .metrics()
            .set_telemetry(crate::pipeline::Origin::Pushgateway, ctx.telemetry());
        let receiver = self.enabled.then(|| {
            Arc::new(super::PushgatewayReceiver::new(
                self.clone(),
                store,
                p.max_labels_per_series,
                p.max_label_value_bytes,
                p.max_body_bytes,
            )) as Arc<dyn PushReceiver>
        });
        ctx.shared::<PushRoutes>().add(PushRoute {
            path: RoutePath::Prefix("/metrics/"),
            name: "Pushgateway",
            receiver,
        });
        Ok(())
    }
}

fn default_enabled() -> bool {
    true
}
fn default_expire_secs() -> u64 {
    2 * 86_400
}
fn default_max_series_per_push() -> usize {
    10_000
}
