//! Errors of the quality crate: only configuration can fail; filtering a document cannot.

/// Configuration errors of the quality filters.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QualityError {
    /// The filter was configured for a language whose word tokeniser Millrace does not have.
    #[error("{filter}: language {language:?} is not supported (only \"en\")")]
    UnsupportedLanguage {
        filter: &'static str,
        language: String,
    },
    /// A parameter has a value datatrove would reject or that cannot work.
    #[error("{filter}: invalid parameter {param}: {message}")]
    InvalidParameter {
        filter: &'static str,
        param: &'static str,
        message: String,
    },
}
