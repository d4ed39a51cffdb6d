//! Errors of `sla-report`.

/// What can go wrong while building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The SLO spec file cannot be read.
    #[error("read slo spec {path}: {source}")]
    ReadSpec {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The SLO spec file is not valid.
    #[error("slo spec {path}: {reason}")]
    Spec {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--from`/`--to` value or the period is not valid.
    #[error("{0}")]
    Period(String),
    /// An unknown `--format`.
    #[error("unknown format {0:?}: use md, html, json or csv")]
    Format(String),
    /// The Prometheus URL is not valid.
    #[error("prometheus url {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A query failed (transport, status, timeout or an error answer).
    #[error("query {query:?}: {reason}")]
    Query {
        /// The PromQL expression.
        query: String,
        /// What failed.
        reason: String,
    },
    /// Writing the output failed.
    #[error("write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}
