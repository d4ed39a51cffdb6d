//! The `files` log source: glob patterns with static labels. Entries carry `job="files"`, the
//! `filename` they were read from and the configured labels.

mod config;
mod source;

pub use config::FilesConfig;
pub use source::{FilesDiscover, FilesError};

#[cfg(test)]
mod tests;
