//! What can go wrong with one Pushgateway request.

use crate::pipeline::DropReason;

/// Why a Pushgateway request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The path is not `/metrics/job/<job>{/<label>/<value>}`.
    #[error("bad grouping key in path: {0}")]
    Path(String),
    /// A method other than PUT, POST or DELETE.
    #[error("method not allowed: use PUT, POST or DELETE")]
    Method,
    /// A protobuf body (only the text format is accepted).
    #[error("unsupported content type {0:?}: push the text exposition format")]
    ContentType(String),
    /// The body could not be read.
    #[error(transparent)]
    Body(#[from] crate::pipeline::BodyError),
    /// The body is not valid text exposition format, or breaks a parse bound.
    #[error("parse pushed metrics: {0}")]
    Parse(#[from] crate::exposition::ParseError),
    /// The body is not UTF-8.
    #[error("pushed metrics are not UTF-8")]
    NotUtf8,
    /// A pushed series has a grouping label with another value.
    #[error(
        "pushed metric {metric} has label {label}={value:?}, which contradicts the grouping key"
    )]
    Contradicts {
        /// The metric.
        metric: String,
        /// The label.
        label: String,
        /// The pushed value.
        value: String,
    },
    /// Two pushed series of one family have the same labels (after the grouping key is added).
    #[error("pushed metric {0} has two series with the same labels")]
    Duplicate(String),
    /// The store refused the push (a bound).
    #[error("push refused: {}", .0.as_str())]
    Refused(DropReason),
}

impl PushError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            PushError::Path(_) => 400,
            PushError::Method => 405,
            PushError::ContentType(_) => 415,
            PushError::Body(b) => b.status(),
            PushError::Refused(DropReason::SeriesLimit | DropReason::GroupLimit) => 503,
            _ => 400,
        }
    }

    /// The `reason` this error counts under, when it drops pushed data.
    pub fn reason(&self) -> Option<DropReason> {
        use crate::exposition::ParseError;
        match self {
            PushError::Parse(ParseError::TooManySamples { .. } | ParseError::TooLarge { .. }) => {
                Some(DropReason::PushLimit)
            }
            PushError::Parse(ParseError::Line { reason, .. }) if reason.contains("labels") => {
                Some(DropReason::TooManyLabels)
            }
            PushError::Parse(ParseError::Line { reason, .. })
                if reason.contains("length limit") =>
            {
                Some(DropReason::LabelValueTooLong)
            }
            PushError::Parse(_)
            | PushError::NotUtf8
            | PushError::Contradicts { .. }
            | PushError::Duplicate(_) => Some(DropReason::InvalidPoint),
            PushError::Body(crate::pipeline::BodyError::TooLarge(_)) => Some(DropReason::PushLimit),
            PushError::Refused(r) => Some(*r),
            _ => None,
        }
    }
}
