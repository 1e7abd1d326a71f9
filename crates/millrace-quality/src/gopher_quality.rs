//! Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A), as
//! implemented by datatrove's `GopherQualityFilter`.

use crate::words::chars::{dt_punctuation, py_alpha};
use crate::{Decision, QualityError, check_language, enabled_f, enabled_u, pytext, ratio, words};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

/// Filter name used in drop reasons.
pub const NAME: &str = "gopher_quality";

/// datatrove's default stop words.
pub const DEFAULT_STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

/// Parameters of [`GopherQualityFilter`]; names and defaults are those of datatrove's
/// `GopherQualityFilter.__init__`. A threshold set to `null` or `0` disables its rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GopherQualityParams {
    /// Minimum number of non-symbol words (default 50).
    pub min_doc_words: Option<usize>,
    /// Maximum number of non-symbol words (default 100,000).
    pub max_doc_words: Option<usize>,
    /// Minimum mean length of non-symbol words, in characters (default 3).
    pub min_avg_word_length: Option<f64>,
    /// Maximum mean length of non-symbol words, in characters (default 10).
    pub max_avg_word_length: Option<f64>,
    /// Maximum ratio of `#` and of ellipses to words (default 0.1).
    pub max_symbol_word_ratio: Option<f64>,
    /// Maximum share of lines starting with a bullet (`•` or `-`) (default 0.9).
    pub max_bullet_lines_ratio: Option<f64>,
    /// Maximum share of lines ending with an ellipsis (default 0.3).
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Despite datatrove's name, the MINIMUM share of words containing a letter (default 0.8).
    #[serde(alias = "min_alpha_words_ratio")]
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Minimum number of distinct stop words present (default 2).
    pub min_stop_words: Option<usize>,
    /// Stop words; `null` means datatrove's list ([`DEFAULT_STOP_WORDS`]).
    pub stop_words: Option<Vec<String>>,
    /// Word-tokeniser language; only `"en"` is supported.
    pub language: String,
}

impl Default for GopherQualityParams {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50),
            max_doc_words: Some(100_000),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2),
            stop_words: None,
            language: "en".to_owned(),
        }
    }
}

/// datatrove's `GopherQualityFilter`, configured.
#[derive(Debug, Clone)]
pub struct GopherQualityFilter {
    params: GopherQualityParams,
    stop_words: Vec<String>,
    stop_set: FxHashSet<String>,
}

impl GopherQualityFilter {
    /// Validate the parameters and build the filter.
    pub fn new(params: GopherQualityParams) -> Result<Self, QualityError> {
        check_language(NAME, &params.language)?;
        let mut stop_words: Vec<String> = match &params.stop_words {
            Some(v) => v.clone(),
            None => DEFAULT_STOP_WORDS.iter().map(|s| (*s).to_owned()).collect(),
        };
        stop_words.sort();
        stop_words.dedup();
        let stop_set = stop_words.iter().cloned().collect();
        Ok(Self {
            params,
            stop_words,
            stop_set,
        })
    }

    /// The parameters this filter runs with.
    pub fn params(&self) -> &GopherQualityParams {
        &self.params
    }

    /// Decide on one document.
    pub fn filter(&self, text: &str) -> Decision {
        self.filter_words(&mut words::Words::new(text))
    }

    /// [`Self::filter`] on a document whose words other filters may have split already.
    pub fn filter_words(&self, doc: &mut words::Words<'_>) -> Decision {
        let p = &self.params;
        let text = doc.text();
        let words = doc.get();
        let n_words = words.len();

        let punct = dt_punctuation();
        let (mut n_non_symbol, mut non_symbol_chars) = (0usize, 0usize);
        for w in words {
            if w.chars().any(|c| !punct.contains(c)) {
                n_non_symbol += 1;
                non_symbol_chars += pytext::char_len(w);
            }
        }
        if let Some(min) = enabled_u(p.min_doc_words)
            && n_non_symbol < min {
                return Decision::drop(NAME, "gopher_short_doc");
            }
        if let Some(max) = enabled_u(p.max_doc_words)
            && n_non_symbol > max {
                return Decision::drop(NAME, "gopher_long_doc");
            }
        // numpy's mean of an empty list is NaN, which fails both comparisons.
        let avg = ratio(non_symbol_chars, n_non_symbol);
        if let Some(min) = enabled_f(p.min_avg_word_length)
            && avg < min {
                return Decision::drop(NAME, "gopher_below_avg_threshold");
            }
        if let Some(max) = enabled_f(p.max_avg_word_length)
            && avg > max {
                return Decision::drop(NAME, "gopher_above_avg_threshold");
            }
        if let Some(max) = enabled_f(p.max_symbol_word_ratio) {
            let hashes = text.bytes().filter(|&b| b == b'#').count();
            if ratio(hashes, n_words) > max {
                return Decision::drop(NAME, "gopher_too_many_hashes");
            }
            let ellipses = text.matches("...").count() + text.matches('…').count();
            if ratio(ellipses, n_words) > max {
                return Decision::drop(NAME, "gopher_too_many_ellipsis");
            }
        }
        let bullet_max = enabled_f(p.max_bullet_lines_ratio);
        let ellipsis_max = enabled_f(p.max_ellipsis_lines_ratio);
        if bullet_max.is_some() || ellipsis_max.is_some() {
            let (mut n_lines, mut bullets, mut ellipsis_lines) = (0usize, 0usize, 0usize);
            for line in pytext::splitlines(text) {
                n_lines += 1;
                let l = pytext::lstrip(line);
                if l.starts_with('•') || l.starts_with('-') {
                    bullets += 1;
                }
                let r = pytext::rstrip(line);
                if r.ends_with("...") || r.ends_with('…') {
                    ellipsis_lines += 1;
                }
            }
            if let Some(max) = bullet_max
                && ratio(bullets, n_lines) > max {
                    return Decision::drop(NAME, "gopher_too_many_bullets");
                }
            if let Some(max) = ellipsis_max
                && ratio(ellipsis_lines, n_lines) > max {
                    return Decision::drop(NAME, "gopher_too_many_end_ellipsis");
                }
        }
        if let Some(min) = enabled_f(p.max_non_alpha_words_ratio) {
            let alpha_words = words.iter().filter(|w| w.chars().any(py_alpha)).count();
            if ratio(alpha_words, n_words) < min {
                return Decision::drop(NAME, "gopher_below_alpha_threshold");
            }
        }
        if let Some(min) = enabled_u(p.min_stop_words)
            && self.count_stop_words(words, min) < min {
                return Decision::drop(NAME, "gopher_enough_stop_words");
            }
        Decision::Keep
    }

    /// Number of distinct stop words among `words`, counting no further than `enough`.
    fn count_stop_words(&self, words: &[&str], enough: usize) -> usize {
        let mut seen = vec![false; self.stop_words.len()];
        let mut found = 0usize;
        for w in words {
            if self.stop_set.contains(*w)
                && let Ok(i) = self.stop_words.binary_search_by(|s| s.as_str().cmp(w))
                    && !seen[i] {
                        seen[i] = true;
                        found += 1;
                        if found >= enough {
                            break;
                        }
                    }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> GopherQualityFilter {
        GopherQualityFilter::new(GopherQualityParams::default()).expect("defaults are valid")
    }

    // Expected reasons below were checked against datatrove 0.10.1 itself.
    const PROSE: &str = "The quick brown fox jumps over the lazy dog, and that is the story of the animals with their friends. ";

    fn reason(text: &str) -> String {
        f().filter(text)
            .reason()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "keep".into())
    }

    #[test]
    fn keeps_prose() {
        assert_eq!(reason(&PROSE.repeat(5)), "keep");
    }

    #[test]
    fn each_rule() {
        let prose = PROSE.repeat(5);
        assert_eq!(
            reason("The cat sat on the mat."),
            "gopher_quality:gopher_short_doc"
        );
        assert_eq!(
            reason(&"a b c d e ".repeat(20)),
            "gopher_quality:gopher_below_avg_threshold"
        );
        assert_eq!(
            reason(&"extraordinarily ".repeat(60)),
            "gopher_quality:gopher_above_avg_threshold"
        );
        assert_eq!(
            reason(&format!("{prose} {}", "#tag ".repeat(20))),
            "gopher_quality:gopher_too_many_hashes"
        );
        assert_eq!(
            reason(&format!("{prose} {}", "wait... ".repeat(20))),
            "gopher_quality:gopher_too_many_ellipsis"
        );
        let bullets = "- the quick brown fox jumped over the lazy dogs\n".repeat(10);
        assert_eq!(reason(&bullets), "gopher_quality:gopher_too_many_bullets");
        assert_eq!(
            reason(&format!("{prose}\nand then…\nso the…\n")),
            "gopher_quality:gopher_too_many_end_ellipsis"
        );
        let nums = format!("{} {}", PROSE.repeat(2), "1234 5678 ".repeat(40));
        assert_eq!(reason(&nums), "gopher_quality:gopher_below_alpha_threshold");
        assert_eq!(
            reason(&"Cats sit on mats while dogs run fast. ".repeat(10)),
            "gopher_quality:gopher_enough_stop_words"
        );
    }

    #[test]
    fn zero_disables_rules_and_language_is_checked() {
        let p = GopherQualityParams {
            min_doc_words: Some(0),
            min_stop_words: None,
            ..Default::default()
        };
        assert_eq!(
            GopherQualityFilter::new(p).map(|f| f.filter("Cats sit on mats quietly.")),
            Ok(Decision::Keep)
        );
        let p = GopherQualityParams {
            language: "de".into(),
            ..Default::default()
        };
        assert!(matches!(
            GopherQualityFilter::new(p),
            Err(QualityError::UnsupportedLanguage { .. })
        ));
    }
}
