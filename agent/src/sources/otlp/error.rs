//! What can go wrong with one OTLP request.

/// Why an OTLP request was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The `Content-Type` is neither `application/x-protobuf` nor `application/json`.
    #[error("unsupported content type {0:?}: use application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// The body could not be read (too large, too slow, bad gzip).
    #[error(transparent)]
    Body(#[from] crate::pipeline::BodyError),
    /// The protobuf body does not decode as an `ExportMetricsServiceRequest`.
    #[error("decode protobuf ExportMetricsServiceRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The JSON body does not decode as an `ExportMetricsServiceRequest`.
    #[error("decode JSON ExportMetricsServiceRequest: {0}")]
    Json(#[from] serde_json::Error),
}

impl OtlpError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            OtlpError::UnsupportedContentType(_) => 415,
            OtlpError::Body(b) => b.status(),
            OtlpError::Protobuf(_) | OtlpError::Json(_) => 400,
        }
    }
}
