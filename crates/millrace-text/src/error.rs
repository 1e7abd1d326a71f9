//! The crate's single error type.

use thiserror::Error;

/// Errors raised by Millrace's text stages. The text functions themselves never fail on any input;
/// errors come from validating user-supplied parameters (pipeline spec) before a stage runs.
#[derive(Debug, Error)]
pub enum TextError {
    /// A parameter has a value outside its documented domain.
    #[error("invalid parameter `{field}` for stage `{stage}`: {reason}")]
    InvalidParam {
        stage: &'static str,
        field: &'static str,
        reason: String,
    },
    /// A language code in a language filter is not an ISO 639-1 code the detector can produce.
    #[error(
        "unknown or unsupported language code `{0}` (expected an ISO 639-1 code such as `en`, `de`, `zh`)"
    )]
    UnknownLanguage(String),
    /// Parameters could not be parsed from JSON.
    #[error("cannot parse {stage} parameters: {source}")]
    ParamsJson {
        stage: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias used across the crate.
pub type Result<T, E = TextError> = std::result::Result<T, E>;
