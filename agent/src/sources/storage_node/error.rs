//! The storage_node source's errors.

/// What failed scraping a storage node.
#[derive(Debug, thiserror::Error)]
pub enum StorageNodeError {
    /// A configured URL is not usable.
    #[error("storage node url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The HTTP request failed.
    #[error("fetch {url}: {reason}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The node answered with a non-2xx status.
    #[error("fetch {url}: status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// `/metrics` was not valid exposition text.
    #[error("parse {url}: {source}")]
    Exposition {
        /// The URL fetched.
        url: String,
        /// The parse error.
        source: crate::exposition::ParseError,
    },
    /// `/admin/status` was not the JSON we expect.
    #[error("parse {url}: {reason}")]
    StatusJson {
        /// The URL fetched.
        url: String,
        /// What was wrong.
        reason: String,
    },
}
