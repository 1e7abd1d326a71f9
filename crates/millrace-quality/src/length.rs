//! Document length filter: minimum / maximum characters and words.

use crate::{Decision, QualityError, pytext, words};
use serde::{Deserialize, Serialize};

/// Filter name used in drop reasons.
pub const NAME: &str = "length";

/// How [`LengthFilter`] counts words.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WordCounting {
    /// Python `str.split()`: whitespace-separated pieces (fast).
    #[default]
    Whitespace,
    /// datatrove's English word tokeniser (punctuation counts as words), as in Gopher.
    #[serde(alias = "spacy")]
    SpacyEn,
}

/// Parameters of [`LengthFilter`]; every bound is optional (`null` = no bound). Characters are
/// Unicode code points (Python `len`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LengthParams {
    /// Drop documents with fewer characters.
    #[serde(alias = "min_length")]
    pub min_chars: Option<usize>,
    /// Drop documents with more characters.
    #[serde(alias = "max_length")]
    pub max_chars: Option<usize>,
    /// Drop documents with fewer words.
    pub min_words: Option<usize>,
    /// Drop documents with more words.
    pub max_words: Option<usize>,
    /// How words are counted.
    pub word_counting: WordCounting,
}

/// Length filter, configured.
#[derive(Debug, Clone)]
pub struct LengthFilter {
    params: LengthParams,
}

impl LengthFilter {
    /// Validate the parameters and build the filter.
    pub fn new(params: LengthParams) -> Result<Self, QualityError> {
        let bad = |param: &'static str| QualityError::InvalidParameter {
            filter: NAME,
            param,
            message: "minimum is larger than maximum".into(),
        };
        if let (Some(a), Some(b)) = (params.min_chars, params.max_chars)
            && a > b {
                return Err(bad("min_chars"));
            }
        if let (Some(a), Some(b)) = (params.min_words, params.max_words)
            && a > b {
                return Err(bad("min_words"));
            }
        Ok(Self { params })
    }

    /// The parameters this filter runs with.
    pub fn params(&self) -> &LengthParams {
        &self.params
    }

    /// Decide on one document. Reasons: `too_few_chars`, `too_many_chars`, `too_few_words`,
    /// `too_many_words`.
    pub fn filter(&self, text: &str) -> Decision {
        self.filter_words(&mut words::Words::new(text))
    }

    /// [`Self::filter`] on a document whose words other filters may have split already.
    pub fn filter_words(&self, doc: &mut words::Words<'_>) -> Decision {
        let p = &self.params;
        let text = doc.text();
        if p.min_chars.is_some() || p.max_chars.is_some() {
            let n = pytext::char_len(text);
            if p.min_chars.is_some_and(|m| n < m) {
                return Decision::drop(NAME, "too_few_chars");
            }
            if p.max_chars.is_some_and(|m| n > m) {
                return Decision::drop(NAME, "too_many_chars");
            }
        }
        if p.min_words.is_some() || p.max_words.is_some() {
            let n = match p.word_counting {
                WordCounting::Whitespace => pytext::split_whitespace(text).count(),
                WordCounting::SpacyEn => doc.get().len(),
            };
            if p.min_words.is_some_and(|m| n < m) {
                return Decision::drop(NAME, "too_few_words");
            }
            if p.max_words.is_some_and(|m| n > m) {
                return Decision::drop(NAME, "too_many_words");
            }
        }
        Decision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let f = LengthFilter::new(LengthParams {
            min_chars: Some(5),
            max_words: Some(3),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(f.filter("abc").to_string(), "length:too_few_chars");
        assert_eq!(f.filter("a b c d e").to_string(), "length:too_many_words");
        assert!(f.filter("héllo wörld").is_keep());
        let f = LengthFilter::new(LengthParams {
            min_words: Some(4),
            word_counting: WordCounting::SpacyEn,
            ..Default::default()
        })
        .expect("valid");
        assert!(f.filter("don't stop.").is_keep());
        assert!(
            LengthFilter::new(LengthParams {
                min_chars: Some(9),
                max_chars: Some(1),
                ..Default::default()
            })
            .is_err()
        );
    }
}
