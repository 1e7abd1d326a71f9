//! Running a configured list of quality filters over documents.

use crate::{
    C4QualityFilter, C4QualityParams, Decision, FineWebQualityFilter, FineWebQualityParams,
    GopherQualityFilter, GopherQualityParams, GopherRepetitionFilter, GopherRepetitionParams,
    LengthFilter, LengthParams, QualityError,
};
use crate::words::Words;
use serde::{Deserialize, Serialize};

/// One entry of a pipeline spec's quality-filter list, e.g. in YAML:
///
/// ```yaml
/// - gopher_repetition: {}
/// - gopher_quality: { min_doc_words: 30 }
/// - c4_quality: { filter_no_terminal_punct: false }
/// - fineweb_quality: {}
/// - length: { min_chars: 200 }
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterSpec {
    /// datatrove `GopherQualityFilter`.
    #[serde(alias = "gopher")]
    GopherQuality(GopherQualityParams),
    /// datatrove `GopherRepetitionFilter`.
    GopherRepetition(GopherRepetitionParams),
    /// datatrove `C4QualityFilter` (may rewrite the text).
    #[serde(alias = "c4")]
    C4Quality(C4QualityParams),
    /// datatrove `FineWebQualityFilter`.
    #[serde(alias = "fineweb")]
    FineWebQuality(FineWebQualityParams),
    /// Length bounds.
    Length(LengthParams),
}

/// A configured filter.
#[derive(Debug, Clone)]
pub enum QualityFilter {
    /// See [`GopherQualityFilter`].
    GopherQuality(GopherQualityFilter),
    /// See [`GopherRepetitionFilter`].
    GopherRepetition(GopherRepetitionFilter),
    /// See [`C4QualityFilter`].
    C4Quality(C4QualityFilter),
    /// See [`FineWebQualityFilter`].
    FineWebQuality(FineWebQualityFilter),
    /// See [`LengthFilter`].
    Length(LengthFilter),
}

impl QualityFilter {
    /// Build a filter from its spec.
    pub fn from_spec(spec: &FilterSpec) -> Result<Self, QualityError> {
        Ok(match spec {
            FilterSpec::GopherQuality(p) => {
                Self::GopherQuality(GopherQualityFilter::new(p.clone())?)
            }
            FilterSpec::GopherRepetition(p) => {
                Self::GopherRepetition(GopherRepetitionFilter::new(p.clone())?)
            }
            FilterSpec::C4Quality(p) => Self::C4Quality(C4QualityFilter::new(p.clone())?),
            FilterSpec::FineWebQuality(p) => {
                Self::FineWebQuality(FineWebQualityFilter::new(p.clone())?)
            }
            FilterSpec::Length(p) => Self::Length(LengthFilter::new(p.clone())?),
        })
    }

    /// Filter name as used in drop reasons.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GopherQuality(_) => crate::gopher_quality::NAME,
            Self::GopherRepetition(_) => crate::gopher_repetition::NAME,
            Self::C4Quality(_) => crate::c4::NAME,
            Self::FineWebQuality(_) => crate::fineweb::NAME,
            Self::Length(_) => crate::length::NAME,
        }
    }

    /// Apply the filter; the text is `Some` when the filter rewrote it (C4 on a kept document).
    pub fn apply(&self, text: &str) -> (Decision, Option<String>) {
        self.apply_words(&mut Words::new(text))
    }

    /// [`Self::apply`] on a document whose words earlier filters may have split already.
    pub fn apply_words(&self, doc: &mut Words<'_>) -> (Decision, Option<String>) {
        match self {
            Self::GopherQuality(f) => (f.filter_words(doc), None),
            Self::GopherRepetition(f) => (f.filter_words(doc), None),
            Self::C4Quality(f) => f.filter(doc.text()),
            Self::FineWebQuality(f) => (f.filter_words(doc), None),
            Self::Length(f) => (f.filter_words(doc), None),
        }
    }
}

/// Result of running a [`QualityPipeline`] on one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Keep`, or the first filter's drop reason.
    pub decision: Decision,
    /// The rewritten text when a filter (C4) changed it and the document was kept; `None` means
    /// the input text stands unchanged (or the document was dropped).
    pub text: Option<String>,
}

/// An ordered list of quality filters, run like a datatrove pipeline: each filter sees the text
/// as left by the ones before it, and the first drop ends the run.
#[derive(Debug, Clone)]
pub struct QualityPipeline {
    filters: Vec<QualityFilter>,
}

impl QualityPipeline {
    /// Build the pipeline from spec entries, validating each.
    pub fn new(specs: &[FilterSpec]) -> Result<Self, QualityError> {
        Ok(Self {
            filters: specs
                .iter()
                .map(QualityFilter::from_spec)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The configured filters, in order.
    pub fn filters(&self) -> &[QualityFilter] {
        &self.filters
    }

    /// Run all filters on one document.
    pub fn run(&self, text: &str) -> Outcome {
        let mut current: Option<String> = None;
        // The words of the input text, shared by every filter until one rewrites the text.
        let mut words = Words::new(text);
        for f in &self.filters {
            let (decision, rewritten) = match &current {
                None => f.apply_words(&mut words),
                Some(t) => f.apply(t),
            };
            if !decision.is_keep() {
                return Outcome {
                    decision,
                    text: None,
                };
            }
            if let Some(t) = rewritten
                && t != current.as_deref().unwrap_or(text) {
                    current = Some(t);
                }
        }
        Outcome {
            decision: Decision::Keep,
            text: current,
        }
    }

    /// Run on a batch (e.g. an Arrow string column); null entries stay `None`.
    pub fn run_batch(&self, texts: &[Option<&str>]) -> Vec<Option<Outcome>> {
        texts.iter().map(|t| t.map(|t| self.run(t))).collect()
    }

    /// Only the first drop reason per document, rendered `"<filter>:<reason>"` (`None` = keep
    /// or null input).
    pub fn drop_reasons_batch(&self, texts: &[Option<&str>]) -> Vec<Option<String>> {
        texts
            .iter()
            .map(|t| t.and_then(|t| self.run(t).decision.reason().map(|r| r.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_drop_wins_and_c4_text_flows_on() {
        let specs = vec![
            FilterSpec::C4Quality(C4QualityParams {
                min_num_sentences: 1,
                ..Default::default()
            }),
            FilterSpec::Length(LengthParams {
                max_chars: Some(30),
                ..Default::default()
            }),
        ];
        let p = QualityPipeline::new(&specs).expect("valid");
        // C4 removes the unpunctuated line, leaving a short text the length filter keeps.
        let out = p.run("Navigation menu home\nThis is a sentence.");
        assert_eq!(
            out,
            Outcome {
                decision: Decision::Keep,
                text: Some("This is a sentence.".into())
            }
        );
        let out = p.run("This is a much longer sentence that goes on and on.");
        assert_eq!(out.decision.to_string(), "length:too_many_chars");
        assert_eq!(p.run_batch(&[None, Some("x")])[0], None);
        assert_eq!(
            p.drop_reasons_batch(&[Some("x")]),
            vec![Some("c4_quality:too_few_sentences".to_string())]
        );
    }
}
