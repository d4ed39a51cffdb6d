//! The agent's TOML configuration: the schema (each component's part lives with the component),
//! the embedded defaults, command-line overrides and `check-config`.
//!
//! With no file at all, [`Config::default`] runs: `/metrics` on 127.0.0.1:9464, the host source
//! on, SMART on when `smartctl` is on `PATH`, storage-node scraping of http://127.0.0.1:9900.

mod load;
mod root;

pub use crate::sinks::SinksConfig;
pub use crate::sources::SourcesConfig;
pub use crate::transforms::TransformsConfig;
pub use load::{ConfigError, check_config, load_file, parse, validate_config};
pub use root::{ApiConfig, Config, Overrides};

#[cfg(test)]
mod tests;
