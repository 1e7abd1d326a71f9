//! Millrace's pure-Rust text stages.
//!
//! This crate owns the document-level text transformations of a Millrace pipeline, as plain
//! functions over `&str` with serde-configurable parameter structs (set from the YAML pipeline
//! spec), plus rayon-parallel batch entry points over nullable columns that the engine wraps as
//! vectorised UDFs:
//!
//! * [`clean`](mod@clean): HTML or plain text -> main text (boilerplate removal, whitespace and
//!   control-character cleanup, C4-style line rules);
//! * [`normalise`](mod@normalise): Unicode normalisation (NFC/NFKC/NFD/NFKD) and canonical quotes,
//!   dashes, spaces, zero-width removal, with a zero-copy fast path;
//! * [`pii`]: detection and redaction of e-mails, public IPs, phone numbers, credit cards (Luhn)
//!   and IBANs (mod 97);
//! * [`langid`]: language identification (ISO 639-1 + score) and a keep-languages filter.
//!
//! No function here fails or panics on any input text; parameter validation returns
//! [`TextError`].

pub mod clean;
pub mod error;
pub mod langid;
pub mod normalise;
pub mod pii;

pub use clean::{
    CleanMode, CleanParams, HtmlParams, LineFilters, clean, clean_batch, looks_like_html,
};
pub use error::{Result, TextError};
pub use langid::{
    LangDecision, LangFilterParams, LangIdParams, detect_language, detect_language_batch,
    filter_language, filter_language_batch,
};
pub use normalise::{NormalForm, NormaliseParams, is_normalised, normalise, normalise_batch};
pub use pii::{
    PiiBatchItem, PiiCounts, PiiKind, PiiMatch, PiiMode, PiiParams, PiiPlaceholders, PiiResult,
    detect_pii, redact_pii, redact_pii_batch,
};

/// Parse stage parameters from JSON (the engine converts the YAML spec to JSON values).
pub fn params_from_json<T: serde::de::DeserializeOwned>(
    stage: &'static str,
    json: &str,
) -> Result<T> {
    serde_json::from_str(json).map_err(|source| TextError::ParamsJson { stage, source })
}
