//! The OTLP receiver's configuration.

use std::sync::Arc;

use serde::Deserialize;

use crate::component::{BuildContext, ComponentError, in_range};
use crate::pipeline::{PipelineStore, PushReceiver, PushRoute, PushRoutes, RoutePath};

/// `[sources.otlp]`: OTLP/HTTP metrics at `/v1/metrics` on the pipeline listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Whether `/v1/metrics` is served.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Seconds after which a series no export refreshed is removed (OTLP exporters resend every
    /// series each interval, 60 s by default, so 10 minutes is ten missed exports).
    #[serde(default = "default_expire_secs")]
    pub expire_secs: u64,
    /// The most data points one request may carry; the rest are rejected (`push_limit`) and
    /// reported in `partial_success`.
    #[serde(default = "default_max_datapoints_per_request")]
    pub max_datapoints_per_request: usize,
    /// The most series with delta temporality whose running totals are kept.
    #[serde(default = "default_max_delta_series")]
    pub max_delta_series: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: default_enabled(),
            expire_secs: default_expire_secs(),
            max_datapoints_per_request: default_max_datapoints_per_request(),
            max_delta_series: default_max_delta_series(),
        }
    }
}

impl crate::component::Component for OtlpConfig {
    fn validate(&self) -> Result<(), ComponentError> {
        in_range("expire_secs", self.expire_secs, 1..=30 * 86_400)?;
        if self.max_datapoints_per_request == 0 {
            return Err(ComponentError::new(
                "max_datapoints_per_request",
                "must be at least 1",
            ));
        }
        if self.max_delta_series == 0 {
            return Err(ComponentError::new(
                "max_delta_series",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Adds the `/v1/metrics` route to the pipeline listener (when the listener runs).
    fn build(&self, ctx: &mut BuildContext) -> Result<(), ComponentError> {
        let Some(store) = ctx.get::<PipelineStore>() else {
            return Ok(());
        };
        store
            .metrics()
            .set_telemetry(crate::pipeline::Origin::Otlp, ctx.telemetry());
        let receiver = self.enabled.then(|| {
            Arc::new(super::OtlpReceiver::new(self.clone(), store)) as Arc<dyn PushReceiver>
        });
        ctx.shared::<PushRoutes>().add(PushRoute {
            path: RoutePath::Exact("/v1/metrics"),
            name: "OTLP",
            receiver,
        });
        Ok(())
    }
}

fn default_enabled() -> bool {
    true
}
fn default_expire_secs() -> u64 {
    600
}
fn default_max_datapoints_per_request() -> usize {
    50_000
}
fn default_max_delta_series() -> usize {
    100_000
}
