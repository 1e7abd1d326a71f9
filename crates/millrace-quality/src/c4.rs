//! C4 quality rules (Raffel et al. 2020, section 2.2), as implemented by datatrove's
//! `C4QualityFilter`: lines are removed one by one (too-long word, no terminal punctuation,
//! too few words, "javascript", policy phrases, Wikipedia citation markers are stripped), and the
//! whole document is dropped for "lorem ipsum", a curly bracket, or too few sentences left.
//!
//! The per-line rules live in [`lines`], which is also what `millrace-text`'s `clean` stage
//! runs for its C4 line filters, so the two cannot disagree.

pub mod lines;

use crate::{Decision, QualityError, check_language, pytext, words};
use lines::{LineRule, LineRules, LineVerdict, TerminalPunct};
use serde::{Deserialize, Serialize};

/// Filter name used in drop reasons.
pub const NAME: &str = "c4_quality";

/// Parameters of [`C4QualityFilter`]; names and defaults are those of datatrove's
/// `C4QualityFilter.__init__`. Integer limits use `-1` to disable, like datatrove.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct C4QualityParams {
    /// Work on lines (`true`, as in C4) or on spaCy sentences (`false`).
    pub split_paragraph: bool,
    /// Remove Wikipedia-style citation markers (`[1]`, `[edit]`, `[citation needed]`).
    pub remove_citations: bool,
    /// Drop lines that do not end in `. ? ! " '` (or end in `...`). Default `true`.
    pub filter_no_terminal_punct: bool,
    /// Drop the document when fewer sentences remain (default 5; -1 disables).
    pub min_num_sentences: i64,
    /// Drop lines with fewer whitespace-separated words (default 3; -1 disables).
    pub min_words_per_line: i64,
    /// Drop lines with a word longer than this many characters (default 1000; -1 disables).
    pub max_word_length: i64,
    /// Drop the document if a kept line contains "lorem ipsum".
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning "javascript".
    pub filter_javascript: bool,
    /// Drop the document if a kept line contains `{`.
    pub filter_curly_bracket: bool,
    /// Drop lines with cookie / terms-of-use phrases.
    pub filter_policy: bool,
    /// Sentence-splitter language; only `"en"` is supported.
    pub language: String,
}

impl Default for C4QualityParams {
    fn default() -> Self {
        Self {
            split_paragraph: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
            language: "en".to_owned(),
        }
    }
}

/// datatrove's `C4QualityFilter`, configured.
#[derive(Debug, Clone)]
pub struct C4QualityFilter {
    params: C4QualityParams,
    rules: LineRules,
}

impl C4QualityFilter {
    /// Validate the parameters and build the filter.
    pub fn new(params: C4QualityParams) -> Result<Self, QualityError> {
        check_language(NAME, &params.language)?;
        if !lines::citation_pattern_ok() {
            return Err(QualityError::InvalidParameter {
                filter: NAME,
                param: "remove_citations",
                message: "citation pattern failed to compile".into(),
            });
        }
        let rules = Self::line_rules(&params);
        Ok(Self { params, rules })
    }

    /// The line rules these parameters select. datatrove's integer limits: `-1` disables
    /// `max_word_length`, any other negative limit makes every word too long; `min_words_per_line`
    /// of 0 or below never drops.
    fn line_rules(p: &C4QualityParams) -> LineRules {
        LineRules {
            remove_citations: p.remove_citations,
            max_word_length: (p.max_word_length != -1)
                .then(|| usize::try_from(p.max_word_length).unwrap_or(0)),
            terminal_punct: p.filter_no_terminal_punct.then_some(TerminalPunct::C4),
            min_words: usize::try_from(p.min_words_per_line)
                .ok()
                .filter(|n| *n > 0),
            lorem_ipsum: p.filter_lorem_ipsum,
            javascript: p.filter_javascript,
            curly_bracket: p.filter_curly_bracket,
            policy: p.filter_policy,
        }
    }

    /// The line rules this filter runs (see [`lines`]).
    pub fn rules(&self) -> &LineRules {
        &self.rules
    }

    /// The parameters this filter runs with.
    pub fn params(&self) -> &C4QualityParams {
        &self.params
    }

    /// Decide on one document. When kept, also returns the text after line removal
    /// (datatrove replaces `doc.text` with it); `None` when dropped.
    pub fn filter(&self, text: &str) -> (Decision, Option<String>) {
        let p = &self.params;
        let pieces: Vec<&str> = if p.split_paragraph {
            pytext::splitlines(text).collect()
        } else {
            words::split_sentences(text)
        };
        let mut num_sentences: i64 = 0;
        let mut kept: Vec<std::borrow::Cow<'_, str>> = Vec::new();
        for piece in pieces {
            let line = match self.rules.check(lines::strip(piece)) {
                LineVerdict::Keep(line) => line,
                LineVerdict::Drop(LineRule::LoremIpsum) => {
                    return (Decision::drop(NAME, "lorem_ipsum"), None);
                }
                LineVerdict::Drop(LineRule::CurlyBracket) => {
                    return (Decision::drop(NAME, "curly_bracket"), None);
                }
                LineVerdict::Drop(_) => continue,
            };
            if p.min_num_sentences != -1 {
                num_sentences += if p.split_paragraph {
                    // datatrove's split_into_sentences returns one piece for a text without
                    // sentence ends, never zero.
                    words::count_sentences(&line).max(1) as i64
                } else {
                    1
                };
            }
            kept.push(line);
        }
        if num_sentences < p.min_num_sentences {
            return (Decision::drop(NAME, "too_few_sentences"), None);
        }
        let sep = if p.split_paragraph { "\n" } else { " " };
        let joined = kept.join(sep);
        let out = pytext::strip(&joined);
        let out = if out.len() == joined.len() {
            joined
        } else {
            out.to_owned()
        };
        (Decision::Keep, Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, p: C4QualityParams) -> (String, Option<String>) {
        let (d, t) = C4QualityFilter::new(p).expect("valid").filter(text);
        (
            d.reason()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "keep".into()),
            t,
        )
    }

    const GOOD: &str = "This is a fine sentence. Here is another one.\nA third sentence is here. And a fourth one.\nThe fifth sentence ends it.";

    #[test]
    fn keeps_and_removes_lines() {
        let text = format!(
            "Menu\n{GOOD}\nPlease enable JavaScript to view it.\nRead our privacy policy now.\nSee this[1] claim here."
        );
        let (r, t) = run(&text, C4QualityParams::default());
        assert_eq!(r, "keep");
        assert_eq!(
            t.as_deref(),
            Some(format!("{GOOD}\nSee this claim here.").as_str())
        );
    }

    #[test]
    fn document_rules() {
        assert_eq!(
            run("Too short. Really.", C4QualityParams::default()).0,
            "c4_quality:too_few_sentences"
        );
        assert_eq!(
            run(
                &format!("{GOOD}\nLorem ipsum dolor sit amet."),
                C4QualityParams::default()
            )
            .0,
            "c4_quality:lorem_ipsum"
        );
        assert_eq!(
            run(
                &format!("{GOOD}\nfunction f() {{ return 1; }}."),
                C4QualityParams::default()
            )
            .0,
            "c4_quality:curly_bracket"
        );
        // Without the terminal-punctuation rule, unpunctuated lines count as one sentence.
        let p = C4QualityParams {
            filter_no_terminal_punct: false,
            ..Default::default()
        };
        assert_eq!(
            run(
                "one two three\nfour five six\nseven eight nine\nten eleven twelve\na b c",
                p
            )
            .0,
            "keep"
        );
        let p = C4QualityParams {
            max_word_length: 5,
            ..Default::default()
        };
        assert_eq!(run(GOOD, p).0, "c4_quality:too_few_sentences");
    }

    #[test]
    fn sentence_mode() {
        let p = C4QualityParams {
            split_paragraph: false,
            ..Default::default()
        };
        let (r, t) = run(GOOD, p);
        assert_eq!(r, "keep");
        assert!(t.is_some_and(|t| t.starts_with("This is a fine sentence. Here is another one.")));
    }
}
