//! The storage_node source: scrapes the local storage nodes' `/metrics` (the `storage_node_*`
//! families) and `/admin/status`, and re-exposes the OSD-style series labelled with the node's
//! id and name, plus `nodewatch_agent_storage_node_up{target}`.

mod config;
mod error;
mod source;

pub use config::StorageNodeConfig;
pub use error::StorageNodeError;
pub use source::{StorageNodeSource, check_url, relabel};

#[cfg(test)]
mod tests;
