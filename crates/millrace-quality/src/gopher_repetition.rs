//! Gopher repetition rules (Rae et al. 2021, table A1), as implemented by datatrove's
//! `GopherRepetitionFilter`: duplicate paragraphs and lines, the most frequent 2–4-grams and
//! the characters covered by repeated 5–10-grams.

use crate::ngrams::WordStats;
use crate::{Decision, QualityError, check_language, enabled_f, pytext, ratio, words};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

/// Filter name used in drop reasons.
pub const NAME: &str = "gopher_repetition";

/// Parameters of [`GopherRepetitionFilter`]; names and defaults are those of datatrove's
/// `GopherRepetitionFilter.__init__`. `null` or `0` disables the four duplicate-fraction rules.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GopherRepetitionParams {
    /// Maximum share of duplicated paragraphs (default 0.3).
    pub dup_para_frac: Option<f64>,
    /// Maximum share of characters in duplicated paragraphs (default 0.2).
    pub dup_para_char_frac: Option<f64>,
    /// Maximum share of duplicated lines (default 0.3).
    pub dup_line_frac: Option<f64>,
    /// Maximum share of characters in duplicated lines (default 0.2).
    pub dup_line_char_frac: Option<f64>,
    /// `(n, max share of characters in the most frequent n-gram)`, default
    /// `[[2, 0.2], [3, 0.18], [4, 0.16]]`.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `(n, max share of characters in repeated n-grams)`, default
    /// `[[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.10]]`.
    pub dup_n_grams: Vec<(usize, f64)>,
    /// Word-tokeniser language; only `"en"` is supported.
    pub language: String,
}

impl Default for GopherRepetitionParams {
    fn default() -> Self {
        Self {
            dup_para_frac: Some(0.3),
            dup_para_char_frac: Some(0.2),
            dup_line_frac: Some(0.3),
            dup_line_char_frac: Some(0.2),
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.10),
            ],
            language: "en".to_owned(),
        }
    }
}

/// datatrove `find_duplicates`: (number of repeated elements, characters in them).
pub(crate) fn find_duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (usize, usize, usize) {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let (mut total, mut dup, mut dup_chars) = (0usize, 0usize, 0usize);
    for it in items {
        total += 1;
        if !seen.insert(it) {
            dup += 1;
            dup_chars += pytext::char_len(it);
        }
    }
    (total, dup, dup_chars)
}

/// Python `re.split(r"\n{min,}", s)` for `min` in {1, 2}.
fn split_newline_runs(s: &str, min: usize) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut pos = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut i = pos;
        while i < bytes.len() {
            if bytes[i] == b'\n' {
                let run = bytes[i..].iter().take_while(|&&b| b == b'\n').count();
                if run >= min {
                    let piece = &s[pos..i];
                    pos = i + run;
                    return Some(piece);
                }
                i += run;
            } else {
                i += 1;
            }
        }
        done = true;
        Some(&s[pos..])
    })
}

/// datatrove's `GopherRepetitionFilter`, configured.
#[derive(Debug, Clone)]
pub struct GopherRepetitionFilter {
    params: GopherRepetitionParams,
}

impl GopherRepetitionFilter {
    /// Validate the parameters and build the filter.
    pub fn new(params: GopherRepetitionParams) -> Result<Self, QualityError> {
        check_language(NAME, &params.language)?;
        for &(n, _) in params.top_n_grams.iter().chain(&params.dup_n_grams) {
            if n == 0 {
                return Err(QualityError::InvalidParameter {
                    filter: NAME,
                    param: "top_n_grams/dup_n_grams",
                    message: "n-gram size must be at least 1".into(),
                });
            }
        }
        Ok(Self { params })
    }

    /// The parameters this filter runs with.
    pub fn params(&self) -> &GopherRepetitionParams {
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
        if text.is_empty() {
            return Decision::drop(NAME, "empty");
        }
        let text_len = pytext::char_len(text);

        let (n_para, para_dups, para_dup_chars) =
            find_duplicates(split_newline_runs(pytext::strip(text), 2));
        if let Some(max) = enabled_f(p.dup_para_frac)
            && ratio(para_dups, n_para) > max {
                return Decision::drop(NAME, "dup_para_frac");
            }
        if let Some(max) = enabled_f(p.dup_para_char_frac)
            && ratio(para_dup_chars, text_len) > max {
                return Decision::drop(NAME, "dup_para_char_frac");
            }
        let (n_lines, line_dups, line_dup_chars) = find_duplicates(split_newline_runs(text, 1));
        if let Some(max) = enabled_f(p.dup_line_frac)
            && ratio(line_dups, n_lines) > max {
                return Decision::drop(NAME, "dup_line_frac");
            }
        if let Some(max) = enabled_f(p.dup_line_char_frac)
            && ratio(line_dup_chars, text_len) > max {
                return Decision::drop(NAME, "dup_line_char_frac");
            }

        let mut stats = WordStats::new(doc.get());
        for &(n, frac) in &p.top_n_grams {
            if let Some(top) = stats.top_duplicate_chars(n)
                && ratio(top, text_len) > frac {
                    return Decision::drop(NAME, format!("top_{n}_gram"));
                }
        }
        for &(n, frac) in &p.dup_n_grams {
            if stats.len() < n {
                continue;
            }
            if ratio(stats.all_duplicate_chars(n), text_len) > frac {
                return Decision::drop(NAME, format!("duplicated_{n}_n_grams"));
            }
        }
        Decision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        let f = GopherRepetitionFilter::new(GopherRepetitionParams::default()).expect("valid");
        f.filter(text)
            .reason()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "keep".into())
    }

    #[test]
    fn newline_split_matches_re_split() {
        assert_eq!(
            split_newline_runs("a\n\nb\nc\n\n\nd", 2).collect::<Vec<_>>(),
            ["a", "b\nc", "d"]
        );
        assert_eq!(
            split_newline_runs("\na\n\n", 1).collect::<Vec<_>>(),
            ["", "a", ""]
        );
    }

    // Expected reasons below were checked against datatrove 0.10.1 itself.
    #[test]
    fn each_rule() {
        assert_eq!(reason(""), "gopher_repetition:empty");
        assert_eq!(
            reason(
                "Same para here.\n\nSame para here.\n\nSame para here.\n\nOther one is longer than the others."
            ),
            "gopher_repetition:dup_para_frac"
        );
        assert_eq!(
            reason("Same para here.\n\nSame para here.\n\nOther one.\n\nLast one."),
            "gopher_repetition:dup_para_char_frac"
        );
        assert_eq!(
            reason("one line\ntwo line\none line\none line\nthree"),
            "gopher_repetition:dup_line_frac"
        );
        let long = "a very long line that repeats".repeat(2);
        assert_eq!(
            reason(&format!("{long}\nb\nc\nd\ne\nf\ng\n{long}")),
            "gopher_repetition:dup_line_char_frac"
        );
        assert_eq!(
            reason("the cat the cat the cat sat on a mat while it was raining outside today"),
            "gopher_repetition:top_2_gram"
        );
        let twice: Vec<String> = (0..6)
            .map(|n| {
                let p: Vec<String> = "abcdef".chars().map(|c| format!("{c}{n}")).collect();
                format!("{0} {0}", p.join(" "))
            })
            .collect();
        assert_eq!(
            reason(&twice.join(" ")),
            "gopher_repetition:duplicated_5_n_grams"
        );
        let uniq: String = (0..40).map(|i| format!("w{i} ")).collect();
        assert_eq!(reason(&uniq), "keep");
    }
}
