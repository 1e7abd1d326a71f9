//! Millrace document quality filters: pure-Rust re-implementations of the heuristic filters of
//! Hugging Face datatrove 0.10.1, with datatrove's parameter names, default thresholds and
//! drop-reason strings, so that a Millrace pipeline spec can say `gopher_quality: {}` and get
//! the decisions a datatrove pipeline would make.
//!
//! This crate owns:
//! * the filters — [`gopher_quality`], [`gopher_repetition`], [`c4`] (C4 line removal plus the
//!   document-level rules), [`fineweb`] (FineWeb's quality rules) and a simple [`length`]
//!   filter;
//! * the C4 line rules ([`c4::lines`]), the single implementation shared with the line filters
//!   of `millrace-text`'s `clean` stage;
//! * the English word tokeniser they share ([`words`], a rule-for-rule port of the spaCy
//!   `blank("en")` tokenisation datatrove uses) and Python-exact string helpers ([`pytext`]);
//! * [`QualityPipeline`], which runs a configured list of filters per document (this is what
//!   the engine calls) and reports the first drop reason.
//!
//! Everything works on `&str` and allocates per document, not per word. Parity with datatrove
//! is measured by `tests/parity.rs` on a corpus labelled by datatrove itself.

pub mod c4;
mod decision;
mod error;
pub mod fineweb;
pub mod gopher_quality;
pub mod gopher_repetition;
pub mod length;
mod ngrams;
mod pipeline;
pub mod pytext;
pub mod words;

pub use c4::{C4QualityFilter, C4QualityParams};
pub use decision::{Decision, Reason};
pub use error::QualityError;
pub use fineweb::{FineWebQualityFilter, FineWebQualityParams};
pub use gopher_quality::{GopherQualityFilter, GopherQualityParams};
pub use gopher_repetition::{GopherRepetitionFilter, GopherRepetitionParams};
pub use length::{LengthFilter, LengthParams, WordCounting};
pub use pipeline::{FilterSpec, Outcome, QualityFilter, QualityPipeline};

/// The only `language` value the filters accept: the word tokeniser is English's.
pub const SUPPORTED_LANGUAGE: &str = "en";

pub(crate) fn check_language(filter: &'static str, language: &str) -> Result<(), QualityError> {
    if language == SUPPORTED_LANGUAGE {
        Ok(())
    } else {
        Err(QualityError::UnsupportedLanguage {
            filter,
            language: language.to_owned(),
        })
    }
}

/// datatrove tests optional thresholds for truthiness (`if self.x and ...`), so `0` disables a
/// rule exactly like `None`.
#[inline]
pub(crate) fn enabled_f(x: Option<f64>) -> Option<f64> {
    x.filter(|v| *v != 0.0 && !v.is_nan())
}

#[inline]
pub(crate) fn enabled_u(x: Option<usize>) -> Option<usize> {
    x.filter(|v| *v != 0)
}

/// `a / b` as Python floats would compute it, except that a zero denominator gives `inf` or
/// `NaN` instead of raising: the comparisons that follow then behave as "rule not met" for
/// `NaN`, and as "over the limit" for `inf`.
#[inline]
pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b as f64
}
