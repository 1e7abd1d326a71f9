//! Filter decisions and machine-readable drop reasons.

use std::borrow::Cow;
use std::fmt;

/// Why a document was dropped: the filter's name and datatrove's reason string. Renders as
/// `"<filter>:<reason>"`, e.g. `gopher_quality:gopher_short_doc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason {
    /// Filter name (`gopher_quality`, `gopher_repetition`, `c4_quality`, `fineweb_quality`, `length`).
    pub filter: &'static str,
    /// datatrove's reason string (e.g. `dup_para_frac`, `top_2_gram`, `line_punct_ratio`).
    pub reason: Cow<'static, str>,
}

impl Reason {
    pub(crate) fn new(filter: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            filter,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.filter, self.reason)
    }
}

/// A filter's verdict on one document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The document passes.
    Keep,
    /// The document is removed, for this reason.
    Drop(Reason),
}

impl Decision {
    /// True for [`Decision::Keep`].
    pub fn is_keep(&self) -> bool {
        matches!(self, Decision::Keep)
    }

    /// The drop reason, if any.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Decision::Keep => None,
            Decision::Drop(r) => Some(r),
        }
    }

    pub(crate) fn drop(filter: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        Decision::Drop(Reason::new(filter, reason))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Keep => f.write_str("keep"),
            Decision::Drop(r) => r.fmt(f),
        }
    }
}
