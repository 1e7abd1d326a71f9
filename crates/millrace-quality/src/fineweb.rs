//! FineWeb's additional quality rules (Penedo et al. 2024), as implemented by datatrove's
//! `FineWebQualityFilter`: share of lines ending in terminal punctuation, share of short
//! lines, characters in duplicated lines, and newlines per word.

use crate::words::chars::dt_terminal_punctuation;
use crate::{
    Decision, QualityError, check_language, gopher_repetition::find_duplicates, pytext, ratio,
    words,
};
use serde::{Deserialize, Serialize};

/// Filter name used in drop reasons.
pub const NAME: &str = "fineweb_quality";

/// Parameters of [`FineWebQualityFilter`]; names and defaults are those of datatrove's
/// `FineWebQualityFilter.__init__`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FineWebQualityParams {
    /// Minimum share of lines ending in terminal punctuation (default 0.12).
    #[serde(alias = "line_punct_threshold")]
    pub line_punct_thr: f64,
    /// Do not apply the punctuation rule to documents with no punctuated line at all.
    pub line_punct_exclude_zero: bool,
    /// Line endings that count as terminal punctuation; `null` means datatrove's
    /// `TERMINAL_PUNCTUATION` set.
    pub stop_chars: Option<Vec<String>>,
    /// Maximum share of short lines (default 0.67).
    #[serde(alias = "short_line_threshold")]
    pub short_line_thr: f64,
    /// A line of at most this many characters is short (default 30).
    pub short_line_length: usize,
    /// Maximum share of characters (newlines excluded) in duplicated lines.
    ///
    /// Default **0.01**, datatrove's code default, which is what FineWeb was actually filtered
    /// with and what Millrace's parity corpus was labelled with. The FineWeb paper's text
    /// quotes 0.1; set `char_duplicates_ratio: 0.1` to follow the paper instead.
    pub char_duplicates_ratio: f64,
    /// Maximum number of newlines per word (default 0.3).
    pub new_line_ratio: f64,
    /// Word-tokeniser language; only `"en"` is supported.
    pub language: String,
}

impl Default for FineWebQualityParams {
    fn default() -> Self {
        Self {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
            language: "en".to_owned(),
        }
    }
}

/// datatrove's `FineWebQualityFilter`, configured.
#[derive(Debug, Clone)]
pub struct FineWebQualityFilter {
    params: FineWebQualityParams,
}

impl FineWebQualityFilter {
    /// Validate the parameters and build the filter.
    pub fn new(params: FineWebQualityParams) -> Result<Self, QualityError> {
        check_language(NAME, &params.language)?;
        Ok(Self { params })
    }

    /// The parameters this filter runs with.
    pub fn params(&self) -> &FineWebQualityParams {
        &self.params
    }

    fn ends_with_stop(&self, line: &str) -> bool {
        match &self.params.stop_chars {
            None => line
                .chars()
                .next_back()
                .is_some_and(|c| dt_terminal_punctuation().contains(c)),
            Some(list) => list.iter().any(|s| line.ends_with(s.as_str())),
        }
    }

    /// Decide on one document.
    pub fn filter(&self, text: &str) -> Decision {
        self.filter_words(&mut words::Words::new(text))
    }

    /// [`Self::filter`] on a document whose words other filters may have split already.
    pub fn filter_words(&self, doc: &mut words::Words<'_>) -> Decision {
        let p = &self.params;
        let text = doc.text();
        let lines: Vec<&str> = text
            .split('\n')
            .filter(|l| !pytext::strip(l).is_empty())
            .collect();
        if lines.is_empty() {
            return Decision::drop(NAME, "empty");
        }
        let punct = lines.iter().filter(|l| self.ends_with_stop(l)).count();
        let r = ratio(punct, lines.len());
        if r < p.line_punct_thr && !(r == 0.0 && p.line_punct_exclude_zero) {
            return Decision::drop(NAME, "line_punct_ratio");
        }
        let short = lines
            .iter()
            .filter(|l| pytext::char_len(l) <= p.short_line_length)
            .count();
        if ratio(short, lines.len()) > p.short_line_thr {
            return Decision::drop(NAME, "short_line_ratio");
        }
        let (_, _, dup_chars) = find_duplicates(lines.iter().copied());
        let newlines = text.bytes().filter(|&b| b == b'\n').count();
        let non_newline_chars = pytext::char_len(text) - newlines;
        if ratio(dup_chars, non_newline_chars) > p.char_duplicates_ratio {
            return Decision::drop(NAME, "char_dup_ratio");
        }
        let n_words = doc.get().len();
        if ratio(newlines, n_words) > p.new_line_ratio {
            return Decision::drop(NAME, "list_ratio");
        }
        Decision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        let f = FineWebQualityFilter::new(FineWebQualityParams::default()).expect("valid");
        f.filter(text)
            .reason()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "keep".into())
    }

    // Expected reasons were checked against datatrove 0.10.1 itself.
    #[test]
    fn each_rule() {
        assert_eq!(reason(" \n\n"), "fineweb_quality:empty");
        assert_eq!(
            reason("no punctuation at all in this line\nnor in this one here"),
            "fineweb_quality:line_punct_ratio"
        );
        assert_eq!(
            reason("Short.\nTiny.\nSmall.\nA longer line that is over thirty characters."),
            "fineweb_quality:short_line_ratio"
        );
        let dup = "The quick brown fox jumps over the lazy dog, and that is the story of the animals with their friends. ";
        assert_eq!(
            reason(&format!(
                "{dup}\n{dup}\nAnother line that is long enough as well here."
            )),
            "fineweb_quality:char_dup_ratio"
        );
        let list: String = (0..5)
            .map(|i| format!("Supercalifragilisticexpialidocious-{i}!!\n\n\n"))
            .collect();
        assert_eq!(reason(&list), "fineweb_quality:list_ratio");
        assert_eq!(
            reason(
                "A normal paragraph with several words that ends properly. It has two sentences."
            ),
            "keep"
        );
    }

    #[test]
    fn custom_stop_chars() {
        let p = FineWebQualityParams {
            stop_chars: Some(vec![";".into()]),
            ..Default::default()
        };
        let f = FineWebQualityFilter::new(p).expect("valid");
        assert!(
            !f.filter("A normal paragraph with several words that ends properly.")
                .is_keep()
        );
    }
}
