//! The Pushgateway source: the Pushgateway push API (`PUT`/`POST`/`DELETE`
//! `/metrics/job/<job>{/<label>/<value>}`, `@base64` label values, text-format bodies) for batch
//! jobs, with `push_time_seconds`/`push_failure_time_seconds` per group and a configurable
//! expiry.

pub mod config;
mod error;
pub mod path;
mod receiver;

pub use config::PushgatewayConfig;
pub use error::PushError;
pub use receiver::PushgatewayReceiver;

#[cfg(test)]
mod tests;
