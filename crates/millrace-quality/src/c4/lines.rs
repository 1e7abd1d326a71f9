//! The C4 line rules: the one implementation behind both places Millrace removes lines the C4
//! way, [`C4QualityFilter`](super::C4QualityFilter) (the document filter, exact to datatrove's
//! `C4QualityFilter`) and the line filters of `millrace-text`'s `clean` stage.
//!
//! A line is judged after Python's `str.strip()` ([`strip`]). [`LineRules::check`] runs the
//! rules in datatrove's order and on the same text datatrove tests:
//!
//! 1. a word longer than `max_word_length` code points ([`words`] are Python `str.split()`
//!    tokens of the line *before* citation removal);
//! 2. citation markers are removed ([`remove_citations`]); the remaining rules see that text;
//! 3. no terminal punctuation ([`ends_with_terminal_punct`]: `. ? ! " '`, but not `...`);
//! 4. fewer than `min_words` words (counted before citation removal, as in datatrove);
//! 5. "lorem ipsum" ([`mentions_lorem_ipsum`]);
//! 6. "javascript" ([`mentions_javascript`]);
//! 7. a curly bracket `{` ([`has_curly_bracket`]);
//! 8. a policy phrase ([`mentions_policy`]).
//!
//! The phrase rules test Python's `str.lower()` of the line ([`lower`]). Rules 5 and 7 drop the
//! whole document in C4; [`LineRules::check`] only reports them, and the caller decides (the
//! `clean` stage drops the line).
//!
//! One documented extension is not C4: [`TerminalPunct::Multilingual`] also accepts the full
//! stops and question/exclamation marks of CJK and Arabic script
//! ([`MULTILINGUAL_END_PUNCTUATION`]). Nothing in [`C4QualityFilter`](super::C4QualityFilter)
//! uses it.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::pytext;

/// A kept line must end with one of these (datatrove's `END_PUNCTUATION`).
pub const END_PUNCTUATION: [char; 5] = ['.', '?', '!', '"', '\''];

/// A line ending in this fails the terminal-punctuation rule although it ends in `.`.
pub const ELLIPSIS: &str = "...";

/// **Not C4.** Terminal marks of scripts that do not use `.` `?` `!`, accepted in addition to
/// [`END_PUNCTUATION`] by [`TerminalPunct::Multilingual`]: ideographic and fullwidth full stop,
/// fullwidth question and exclamation marks, Arabic question mark and Urdu full stop.
pub const MULTILINGUAL_END_PUNCTUATION: [char; 6] = ['。', '．', '？', '！', '؟', '۔'];

/// Lines containing one of these (lowercased) are dropped (datatrove's `POLICY_SUBSTRINGS`).
pub const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// The lowercase phrase of the javascript rule.
pub const JAVASCRIPT: &str = "javascript";

/// The lowercase phrase of the lorem-ipsum rule.
pub const LOREM_IPSUM: &str = "lorem ipsum";

/// The character of the curly-bracket rule (only the opening bracket, as in datatrove).
pub const CURLY_BRACKET: char = '{';

/// Wikipedia citation markers removed from lines: `[12]`, `[]`, `[edit]`, `[citation needed]`.
pub const CITATION_PATTERN: &str = r"\[\d*\]|\[edit\]|\[citation needed\]";

static CITATION: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(CITATION_PATTERN).ok());

/// Whether [`CITATION_PATTERN`] compiled (it always does; checked once by
/// [`C4QualityFilter::new`](super::C4QualityFilter::new) so that no rule can fail later).
pub(crate) fn citation_pattern_ok() -> bool {
    CITATION.is_some()
}

/// Python `line.strip()`: the form of a line every rule judges.
#[inline]
pub fn strip(line: &str) -> &str {
    pytext::strip(line)
}

/// The line's words as the word rules count them: Python `str.split()` tokens.
#[inline]
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    pytext::split_whitespace(line)
}

/// Does `line` hold a word longer than `max_chars` code points (Python `len`)?
pub fn has_word_longer_than(line: &str, max_chars: usize) -> bool {
    words(line).any(|w| pytext::char_len(w) > max_chars)
}

/// Does `line` have at least `n` words?
pub fn has_at_least_words(line: &str, n: usize) -> bool {
    words(line).take(n).count() >= n
}

/// `line` without its citation markers ([`CITATION_PATTERN`]); borrowed when it has none.
pub fn remove_citations(line: &str) -> Cow<'_, str> {
    match CITATION.as_ref() {
        Some(re) if line.contains('[') => re.replace_all(line, ""),
        _ => Cow::Borrowed(line),
    }
}

/// C4's terminal-punctuation rule: does `line` end in [`END_PUNCTUATION`] but not in
/// [`ELLIPSIS`]?
#[inline]
pub fn ends_with_terminal_punct(line: &str) -> bool {
    line.ends_with(END_PUNCTUATION) && !line.ends_with(ELLIPSIS)
}

/// **Not C4.** [`ends_with_terminal_punct`], also accepting [`MULTILINGUAL_END_PUNCTUATION`].
#[inline]
pub fn ends_with_terminal_punct_multilingual(line: &str) -> bool {
    (line.ends_with(END_PUNCTUATION) || line.ends_with(MULTILINGUAL_END_PUNCTUATION))
        && !line.ends_with(ELLIPSIS)
}

/// Python `line.lower()` (for the phrase rules); borrowed when already lowercase ASCII.
#[inline]
pub fn lower(line: &str) -> Cow<'_, str> {
    pytext::lower(line)
}

/// The javascript rule, on a [`lower`]ed line.
#[inline]
pub fn mentions_javascript(lower: &str) -> bool {
    lower.contains(JAVASCRIPT)
}

/// The lorem-ipsum rule, on a [`lower`]ed line.
#[inline]
pub fn mentions_lorem_ipsum(lower: &str) -> bool {
    lower.contains(LOREM_IPSUM)
}

/// The policy rule ([`POLICY_SUBSTRINGS`]), on a [`lower`]ed line.
#[inline]
pub fn mentions_policy(lower: &str) -> bool {
    POLICY_SUBSTRINGS.iter().any(|s| lower.contains(s))
}

/// The curly-bracket rule: does `line` contain [`CURLY_BRACKET`]?
#[inline]
pub fn has_curly_bracket(line: &str) -> bool {
    line.contains(CURLY_BRACKET)
}

/// Which punctuation set the terminal-punctuation rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalPunct {
    /// C4's: [`ends_with_terminal_punct`].
    C4,
    /// **Not C4**: [`ends_with_terminal_punct_multilingual`].
    Multilingual,
}

impl TerminalPunct {
    /// Does `line` pass the rule?
    #[inline]
    pub fn accepts(self, line: &str) -> bool {
        match self {
            TerminalPunct::C4 => ends_with_terminal_punct(line),
            TerminalPunct::Multilingual => ends_with_terminal_punct_multilingual(line),
        }
    }
}

/// The rule that removed a line, in the order [`LineRules::check`] tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineRule {
    /// A word longer than `max_word_length`.
    WordTooLong,
    /// No terminal punctuation.
    NoTerminalPunct,
    /// Fewer than `min_words` words.
    TooFewWords,
    /// "lorem ipsum" (drops the whole document in C4).
    LoremIpsum,
    /// "javascript".
    Javascript,
    /// A `{` (drops the whole document in C4).
    CurlyBracket,
    /// A policy phrase.
    Policy,
}

/// The verdict of [`LineRules::check`] on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineVerdict<'a> {
    /// The line stays, as this text (citation markers removed when enabled).
    Keep(Cow<'a, str>),
    /// The first rule, in datatrove's order, that the line breaks.
    Drop(LineRule),
}

/// A configuration of the C4 line rules. [`LineRules::C4`] is datatrove's `C4QualityFilter`
/// default; [`LineRules::NONE`] enables nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRules {
    /// Remove citation markers ([`remove_citations`]) before the rules after the word-length one.
    pub remove_citations: bool,
    /// Drop lines with a word longer than this many code points.
    pub max_word_length: Option<usize>,
    /// Drop lines without terminal punctuation of this set.
    pub terminal_punct: Option<TerminalPunct>,
    /// Drop lines with fewer words than this.
    pub min_words: Option<usize>,
    /// Drop (C4: the document) on "lorem ipsum".
    pub lorem_ipsum: bool,
    /// Drop lines mentioning "javascript".
    pub javascript: bool,
    /// Drop (C4: the document) on `{`.
    pub curly_bracket: bool,
    /// Drop lines with a policy phrase.
    pub policy: bool,
}

impl Default for LineRules {
    fn default() -> Self {
        Self::NONE
    }
}

impl LineRules {
    /// No rule enabled: every line is kept as it is.
    pub const NONE: LineRules = LineRules {
        remove_citations: false,
        max_word_length: None,
        terminal_punct: None,
        min_words: None,
        lorem_ipsum: false,
        javascript: false,
        curly_bracket: false,
        policy: false,
    };

    /// datatrove's `C4QualityFilter()` defaults: every rule, `max_word_length` 1000,
    /// `min_words_per_line` 3, C4 terminal punctuation, citations removed.
    pub const C4: LineRules = LineRules {
        remove_citations: true,
        max_word_length: Some(1000),
        terminal_punct: Some(TerminalPunct::C4),
        min_words: Some(3),
        lorem_ipsum: true,
        javascript: true,
        curly_bracket: true,
        policy: true,
    };

    /// Judge one line, already [`strip`]ped. Returns the first rule it breaks, in datatrove's
    /// order (see the [module documentation](self)), or the text it is kept as.
    pub fn check<'a>(&self, line: &'a str) -> LineVerdict<'a> {
        let mut n_words = 0usize;
        if self.max_word_length.is_some() || self.min_words.is_some() {
            for w in words(line) {
                n_words += 1;
                if self
                    .max_word_length
                    .is_some_and(|max| pytext::char_len(w) > max)
                {
                    return LineVerdict::Drop(LineRule::WordTooLong);
                }
            }
        }
        let line = if self.remove_citations {
            remove_citations(line)
        } else {
            Cow::Borrowed(line)
        };
        if self.terminal_punct.is_some_and(|t| !t.accepts(&line)) {
            return LineVerdict::Drop(LineRule::NoTerminalPunct);
        }
        // The word count is taken before citation removal, as in datatrove.
        if self.min_words.is_some_and(|min| n_words < min) {
            return LineVerdict::Drop(LineRule::TooFewWords);
        }
        if self.lorem_ipsum || self.javascript || self.policy {
            let lower = lower(&line);
            if self.lorem_ipsum && mentions_lorem_ipsum(&lower) {
                return LineVerdict::Drop(LineRule::LoremIpsum);
            }
            if self.javascript && mentions_javascript(&lower) {
                return LineVerdict::Drop(LineRule::Javascript);
            }
            if self.curly_bracket && has_curly_bracket(&line) {
                return LineVerdict::Drop(LineRule::CurlyBracket);
            }
            if self.policy && mentions_policy(&lower) {
                return LineVerdict::Drop(LineRule::Policy);
            }
        } else if self.curly_bracket && has_curly_bracket(&line) {
            return LineVerdict::Drop(LineRule::CurlyBracket);
        }
        LineVerdict::Keep(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(rules: LineRules, line: &str) -> Result<String, LineRule> {
        match rules.check(strip(line)) {
            LineVerdict::Keep(t) => Ok(t.into_owned()),
            LineVerdict::Drop(r) => Err(r),
        }
    }

    #[test]
    fn predicates() {
        assert!(ends_with_terminal_punct("A sentence."));
        assert!(ends_with_terminal_punct("He said \"yes\""));
        assert!(!ends_with_terminal_punct("It trails off..."));
        assert!(!ends_with_terminal_punct("It trails off…"));
        assert!(!ends_with_terminal_punct("No mark"));
        assert!(!ends_with_terminal_punct("これは文です。"));
        assert!(ends_with_terminal_punct_multilingual("これは文です。"));
        assert!(ends_with_terminal_punct_multilingual("هل هذا صحيح؟"));
        assert!(!ends_with_terminal_punct_multilingual("It trails off..."));
        assert!(!ends_with_terminal_punct_multilingual("It trails off…"));
        assert!(mentions_policy(&lower("Read our Privacy Policy.")));
        assert!(mentions_javascript(&lower("Enable JAVASCRIPT.")));
        assert!(mentions_lorem_ipsum(&lower("Lorem Ipsum dolor.")));
        // Python's lower() maps the Kelvin sign to "k"; an ASCII-only comparison would not.
        assert!(mentions_policy(&lower("This site uses coo\u{212a}ies.")));
        assert!(has_curly_bracket("f() {"));
        assert!(!has_curly_bracket("}"));
        assert_eq!(remove_citations("A claim[1] here[edit]."), "A claim here.");
        assert!(matches!(remove_citations("No marks."), Cow::Borrowed(_)));
        assert!(has_word_longer_than("short loooong", 5));
        assert!(!has_word_longer_than("short words", 5));
        assert!(has_at_least_words("one two\u{1f}three", 3));
        assert!(!has_at_least_words("这是一个完整的中文句子。", 3));
    }

    #[test]
    fn check_follows_datatrove_order_and_text() {
        let c4 = LineRules::C4;
        assert_eq!(
            verdict(c4, "  A fine line here.  "),
            Ok("A fine line here.".into())
        );
        // Words are counted before citation removal: three words although two remain.
        assert_eq!(verdict(c4, "Hello [1] world."), Ok("Hello  world.".into()));
        // Punctuation is tested after it: the line now ends in a space.
        assert_eq!(
            verdict(c4, "A claim is made. [1]"),
            Err(LineRule::NoTerminalPunct)
        );
        assert_eq!(verdict(c4, "Two words."), Err(LineRule::TooFewWords));
        assert_eq!(
            verdict(c4, "Lorem ipsum about javascript."),
            Err(LineRule::LoremIpsum)
        );
        assert_eq!(
            verdict(c4, "Enable javascript { now }."),
            Err(LineRule::Javascript)
        );
        assert_eq!(
            verdict(c4, "Code { here } privacy policy."),
            Err(LineRule::CurlyBracket)
        );
        // Only the opening bracket counts.
        assert_eq!(
            verdict(c4, "A closing } bracket."),
            Ok("A closing } bracket.".into())
        );
        assert_eq!(verdict(c4, "Read the terms of use."), Err(LineRule::Policy));
        let long = format!("{} is long.", "x".repeat(1001));
        assert_eq!(verdict(c4, &long), Err(LineRule::WordTooLong));
        assert_eq!(
            verdict(LineRules::NONE, " anything {at} all "),
            Ok("anything {at} all".into())
        );
        let multi = LineRules {
            terminal_punct: Some(TerminalPunct::Multilingual),
            ..LineRules::NONE
        };
        assert!(verdict(multi, "これは文です。").is_ok());
        assert_eq!(
            verdict(LineRules::C4, "これは文です。"),
            Err(LineRule::NoTerminalPunct)
        );
    }
}
