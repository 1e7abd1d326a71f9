//! `clean`: HTML or plain text -> clean main text.
//!
//! # Pipeline
//! 1. **Mode** ([`CleanMode`]): `auto` sniffs the first 8 KiB for an HTML root/doctype or at least
//!    two well-known HTML tags; `html` and `text` force the choice.
//! 2. **HTML extraction** (html mode): parse with html5ever (through `scraper`), keep the single
//!    `<main>`/`role="main"` subtree when there is one, drop [`HtmlParams::drop_tags`] subtrees
//!    (script, style, noscript, nav, header, footer, aside, form, ...) and, with
//!    `drop_boilerplate`, subtrees that are hidden or whose `class`/`id`/`role` name page chrome
//!    (cookie/consent banners, menus, sidebars, breadcrumbs, ads, share bars), and lists or tables
//!    that are mostly links ([`HtmlParams::max_link_density`]: tables of contents, Prev/Up/Next
//!    bars, which Trafilatura drops too). Block elements become
//!    line or paragraph breaks, `<pre>` keeps its whitespace, entities are decoded by the parser.
//! 3. **Text cleanup** (both modes): control characters, whitespace runs, blank-line runs.
//! 4. **Line filters** ([`LineFilters`]): the C4 line rules, each off by default. The rules are
//!    `millrace_quality::c4::lines`, the implementation the `c4_quality` filter runs, so
//!    [`LineFilters::c4`] removes exactly the lines datatrove's `C4QualityFilter` removes.
//!
//! # Why html5ever (`scraper`)
//! Two maintained options were compared on the 24 HTML pages (0.35 MB; Sphinx, DocBook and Debian
//! handbook pages plus synthetic boilerplate pages from Millrace's labelled corpus) of
//! `tests/data/sample-docs.jsonl`, release build, one thread, with `scripts/html-compare`
//! (`cargo run --release -- ../../tests/data/sample-docs.jsonl`). "Chrome hits" counts
//! occurrences of strings that only appear in page chrome (`Prev`, `Next`, `Home`, `Share:`,
//! `Advertisement`, `We use cookies`, `All rights reserved`, `Navigation`, `Quick search`, ...):
//!
//! | extractor | MB/s (HTML in) | output / input bytes | chrome hits |
//! |---|---:|---:|---:|
//! | this module: `scraper` 0.29 DOM walk with pruning | 26.7 | 33.0 % | 2 (both real content: "Prevenção", a URL path) |
//! | `html2text` 0.17 (also html5ever), width 10 000 | 9.4 | 56.2 % | 275 |
//!
//! `html2text` is a renderer for terminals, not a content extractor: it prints every element
//! (DocBook "Prev / Up / Home / Next" tables, Sphinx sidebars, cookie banners, share bars) plus
//! Markdown-style decoration (`##`, `*name*`, `[1]` link references, box-drawing table borders)
//! that would have to be stripped again, and it has no hook to drop subtrees by class or role.
//! Streaming rewriters (`lol_html`) do not decode entities in text chunks and `tl` is not
//! spec-compliant on malformed markup; both would need more code for less robustness. The DOM
//! costs memory proportional to the page, which the pipeline's document size limit bounds.
//!
//! The output is deliberately plain text: paragraphs separated by one blank line, list items and
//! table rows one per line.

mod html;

use std::borrow::Cow;
use std::sync::LazyLock;

use millrace_quality::c4::lines::{self, LineRules, LineVerdict, TerminalPunct};
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// How `clean` decides whether its input is HTML.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CleanMode {
    /// Sniff the start of the document for HTML markup.
    #[default]
    Auto,
    /// Always parse as HTML.
    Html,
    /// Never parse; only text cleanup and line filters.
    #[serde(alias = "plain")]
    Text,
}

/// HTML extraction settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HtmlParams {
    /// Elements whose whole subtree is dropped (case-insensitive tag names).
    pub drop_tags: Vec<String>,
    /// Drop hidden subtrees (`hidden`, `aria-hidden="true"`, `display:none`) and those whose
    /// `class`/`id`/`role` name page chrome (cookie, consent, nav, menu, sidebar, breadcrumb,
    /// footer, ads, share, newsletter, ...). Default `true`.
    pub drop_boilerplate: bool,
    /// When the page has exactly one `<main>` or `role="main"` element, extract only that subtree.
    /// Default `true`.
    #[serde(alias = "main_only")]
    pub prefer_main: bool,
    /// A list or table (`ul`, `ol`, `dl`, `table`) with at least three links whose text is more
    /// than this share link text is navigation (a table of contents, a link farm) and is
    /// dropped; `null` keeps every list. Default `0.8`.
    pub max_link_density: Option<f64>,
}

/// Default `drop_tags`.
pub const DEFAULT_DROP_TAGS: &[&str] = &[
    "head", "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "select", "input", "textarea", "iframe", "svg", "canvas", "object", "embed", "menu",
    "dialog",
];

impl Default for HtmlParams {
    fn default() -> Self {
        Self {
            drop_tags: DEFAULT_DROP_TAGS.iter().map(|s| s.to_string()).collect(),
            drop_boilerplate: true,
            prefer_main: true,
            max_link_density: Some(0.8),
        }
    }
}

/// C4 line rules; a line that matches any enabled rule is removed. All off by default;
/// [`LineFilters::c4`] turns on datatrove's `C4QualityFilter` line removal.
///
/// The rules are `millrace_quality::c4::lines`, the code the `c4_quality` filter runs, with
/// datatrove's definitions: a line is judged after Python's `str.strip()`, words are Python
/// `str.split()` tokens counted before citation removal, and the phrase rules test the
/// lowercased line. Two C4 rules act on the line here instead of the whole page (`lorem_ipsum`,
/// `curly_braces`). What differs from `c4_quality` is the stage around the rules, not the rules:
/// lines are split on line feeds after control-character removal and whitespace collapsing
/// (which can join a policy phrase split by a tab or a double space), and blank lines are kept
/// as paragraph breaks.
///
/// Three options go beyond C4 and are off in [`LineFilters::c4`]:
/// `terminal_punct_multilingual`, `min_words_unicode` and `curly_braces_closing`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LineFilters {
    /// Drop lines containing "javascript" (any case).
    pub javascript: bool,
    /// Drop lines containing "lorem ipsum" (any case). C4 drops the whole page; here the line.
    pub lorem_ipsum: bool,
    /// Drop lines containing C4's policy phrases ("terms of use", "privacy policy", "cookie
    /// policy", "uses cookies", "use of cookies", "use cookies"), any case.
    #[serde(alias = "policies")]
    pub policy: bool,
    /// Drop lines containing `{`. C4 drops the whole page; here the line.
    #[serde(alias = "curly_bracket")]
    pub curly_braces: bool,
    /// **Not C4.** With `curly_braces`, also drop lines containing `}` (closing lines of code
    /// blocks). No effect without `curly_braces`.
    pub curly_braces_closing: bool,
    /// Drop lines with fewer than this many whitespace-separated words (0 = off).
    #[serde(alias = "min_words_per_line")]
    pub min_words: usize,
    /// **Not C4.** With `min_words`, a line also passes when it has that many Unicode words
    /// (UAX #29), so a CJK line counts one word per ideograph instead of being one "word". No
    /// effect without `min_words`.
    pub min_words_unicode: bool,
    /// Drop lines holding a whitespace-separated word longer than this many characters (0 = off).
    pub max_word_length: usize,
    /// Remove Wikipedia citation marks `[12]`, `[edit]`, `[citation needed]` inside lines.
    #[serde(alias = "remove_citations")]
    pub citations: bool,
    /// Keep only lines ending in terminal punctuation (`.` `!` `?` `"` `'`), dropping lines ending
    /// in "...".
    #[serde(alias = "filter_no_terminal_punct")]
    pub terminal_punct: bool,
    /// **Not C4.** With `terminal_punct`, also accept the CJK and Arabic-script full stops and
    /// question/exclamation marks (`。` `．` `？` `！` `؟` `۔`). No effect without
    /// `terminal_punct`.
    pub terminal_punct_multilingual: bool,
}

impl LineFilters {
    /// The settings of datatrove's `C4QualityFilter` line removal (without the page-level rules;
    /// "lorem ipsum" and `{` remove the line instead of the page). The options beyond C4 are off.
    pub fn c4() -> Self {
        Self {
            javascript: true,
            lorem_ipsum: true,
            policy: true,
            curly_braces: true,
            curly_braces_closing: false,
            min_words: 3,
            min_words_unicode: false,
            max_word_length: 1000,
            citations: true,
            terminal_punct: true,
            terminal_punct_multilingual: false,
        }
    }

    fn any(&self) -> bool {
        self.javascript
            || self.lorem_ipsum
            || self.policy
            || self.curly_braces
            || self.min_words > 0
            || self.max_word_length > 0
            || self.citations
            || self.terminal_punct
    }

    /// The shared C4 rules these settings select. `min_words` with `min_words_unicode` is
    /// checked by [`LineFilters::drops_beyond_c4`] instead.
    fn rules(&self) -> LineRules {
        LineRules {
            remove_citations: self.citations,
            max_word_length: (self.max_word_length > 0).then_some(self.max_word_length),
            terminal_punct: self
                .terminal_punct
                .then_some(if self.terminal_punct_multilingual {
                    TerminalPunct::Multilingual
                } else {
                    TerminalPunct::C4
                }),
            min_words: (self.min_words > 0 && !self.min_words_unicode).then_some(self.min_words),
            lorem_ipsum: self.lorem_ipsum,
            javascript: self.javascript,
            curly_bracket: self.curly_braces,
            policy: self.policy,
        }
    }

    /// The options beyond C4, on a line the shared rules kept: `stripped` is the line before
    /// citation removal (where word rules count), `kept` after it.
    fn drops_beyond_c4(&self, stripped: &str, kept: &str) -> bool {
        let n = self.min_words;
        (self.min_words_unicode
            && n > 0
            && !lines::has_at_least_words(stripped, n)
            && stripped.unicode_words().take(n).count() < n)
            || (self.curly_braces && self.curly_braces_closing && kept.contains('}'))
    }
}

/// Parameters of the `clean` stage.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CleanParams {
    /// `auto` (default), `html` or `text`.
    #[serde(alias = "input")]
    pub mode: CleanMode,
    /// HTML extraction settings (used when the input is treated as HTML).
    pub html: HtmlParams,
    /// Remove C0/C1 control characters except tab and newline; `\r\n`, `\r`, form feed and
    /// vertical tab become newlines. Default `true`.
    #[serde(alias = "remove_control_chars")]
    pub strip_control_chars: bool,
    /// Collapse runs of horizontal whitespace (spaces, tabs, NBSP and other Unicode spaces) to one
    /// ASCII space and trim each line. Default `true`. Turn off to keep code indentation.
    #[serde(alias = "normalize_whitespace", alias = "normalise_whitespace")]
    pub collapse_whitespace: bool,
    /// Maximum number of consecutive blank lines kept (default 1: paragraphs stay separated).
    pub max_blank_lines: usize,
    /// C4-style line removal rules.
    #[serde(alias = "lines")]
    pub line_filters: LineFilters,
}

impl Default for CleanParams {
    fn default() -> Self {
        Self {
            mode: CleanMode::Auto,
            html: HtmlParams::default(),
            strip_control_chars: true,
            collapse_whitespace: true,
            max_blank_lines: 1,
            line_filters: LineFilters::default(),
        }
    }
}

static HTML_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)</?(?:html|head|body|p|div|span|br|a|table|tr|td|ul|ol|li|h[1-6]|script|style|meta|link|title|article|section|nav|img|pre|code|em|strong|b|i)(?:\s[^<>]*)?/?>")
        .expect("static regex")
});

/// Does `text` look like HTML? Looks only at the first 8 KiB.
pub fn looks_like_html(text: &str) -> bool {
    let mut end = text.len().min(8192);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let start = head.trim_start();
    let lower_start: String = start
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if lower_start.starts_with("<!doctype html") || lower_start.starts_with("<html") {
        return true;
    }
    if lower_start.starts_with("<?xml") && head.to_ascii_lowercase().contains("<html") {
        return true;
    }
    HTML_TAG.find_iter(head).take(2).count() >= 2
}

/// Clean `text` (HTML or plain text) according to `p`. Borrows the input when nothing changes.
pub fn clean<'a>(text: &'a str, p: &CleanParams) -> Cow<'a, str> {
    let is_html = match p.mode {
        CleanMode::Html => true,
        CleanMode::Text => false,
        CleanMode::Auto => looks_like_html(text),
    };
    if is_html {
        let extracted = html::extract(text, &p.html);
        Cow::Owned(cleanup_text(&extracted, p).into_owned())
    } else {
        cleanup_text(text, p)
    }
}

/// [`clean`] over a batch of nullable documents, in parallel across documents.
pub fn clean_batch(texts: &[Option<&str>], p: &CleanParams) -> Vec<Option<String>> {
    texts
        .par_iter()
        .map(|t| t.map(|t| clean(t, p).into_owned()))
        .collect()
}

#[inline]
fn is_horizontal_space(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

/// Control-character pass: returns the text with line ends unified and controls removed.
fn strip_controls(text: &str) -> Cow<'_, str> {
    let needs = text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t');
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{0B}' | '\u{0C}' | '\u{85}' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn collapse_spaces(line: &str, out: &mut String) {
    let mut pending_space = false;
    for c in line.trim_matches(is_horizontal_space).chars() {
        if is_horizontal_space(c) {
            pending_space = true;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
}

/// Text cleanup shared by both modes; borrows when the result equals the input.
fn cleanup_text<'a>(text: &'a str, p: &CleanParams) -> Cow<'a, str> {
    let base = if p.strip_control_chars {
        strip_controls(text)
    } else {
        Cow::Borrowed(text)
    };
    let f = &p.line_filters;
    let filtering = f.any();
    let rules = f.rules();
    let mut out = String::with_capacity(base.len());
    let mut blank_run = 0usize;
    let mut scratch = String::new();
    for raw_line in base.split('\n') {
        let mut line: &str = raw_line;
        if p.collapse_whitespace {
            scratch.clear();
            collapse_spaces(line, &mut scratch);
            line = &scratch;
        }
        let cited;
        if filtering && !line.trim().is_empty() {
            let stripped = lines::strip(line);
            match rules.check(stripped) {
                LineVerdict::Drop(_) => continue,
                LineVerdict::Keep(kept) => {
                    if f.drops_beyond_c4(stripped, &kept) {
                        continue;
                    }
                    if let Cow::Owned(kept) = kept {
                        // Citations were removed. Keep the line's own edges when it had any
                        // (`collapse_whitespace: false`).
                        cited = if stripped.len() == line.len() {
                            kept
                        } else {
                            lines::remove_citations(line).into_owned()
                        };
                        line = &cited;
                    }
                }
            }
        }
        let is_blank = line.trim().is_empty();
        if is_blank {
            blank_run += 1;
            // blank lines at the start of the document are dropped entirely
            if blank_run > p.max_blank_lines || out.is_empty() {
                continue;
            }
            if p.collapse_whitespace {
                line = "";
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    // trailing blank lines and the final newline we added
    let keep = out
        .trim_end_matches(|c: char| c == '\n' || (p.collapse_whitespace && c.is_whitespace()))
        .len();
    out.truncate(keep);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert!(looks_like_html("<!DOCTYPE html><p>x"));
        assert!(looks_like_html("  <html><body>x</body></html>"));
        assert!(looks_like_html("Some <b>bold</b> and <i>it</i>"));
        assert!(!looks_like_html(
            "#include <stdio.h>\nint main() { return a < b && c > d; }"
        ));
        assert!(!looks_like_html("Plain text with one <br> tag only"));
        assert!(!looks_like_html("Just prose."));
    }

    #[test]
    fn plain_text_borrowed_when_clean() {
        let p = CleanParams::default();
        let s = "First line.\n\nSecond paragraph here.";
        assert!(matches!(clean(s, &p), Cow::Borrowed(_)));
    }

    #[test]
    fn text_cleanup() {
        let p = CleanParams::default();
        let s = "\n\n  Hello \t  world\u{0}\r\nnext\u{7}line\u{a0}\u{a0}x\n\n\n\nend  \n\n";
        assert_eq!(clean(s, &p), "Hello world\nnextline x\n\nend");
        let keep = CleanParams {
            collapse_whitespace: false,
            strip_control_chars: false,
            ..Default::default()
        };
        assert_eq!(clean("  code\n\tindent", &keep), "  code\n\tindent");
    }

    #[test]
    fn c4_line_rules() {
        let p = CleanParams {
            line_filters: LineFilters::c4(),
            ..Default::default()
        };
        let s = "This is a good sentence.\nPlease enable JavaScript to view.\nLorem ipsum dolor sit amet.\n\
                 Read our privacy policy here.\nfunction() { return 1; }\nToo short.\nNo terminal punctuation here\n\
                 A cited claim[12] stays here.\nTrailing ellipsis goes away...";
        assert_eq!(
            clean(s, &p),
            "This is a good sentence.\nA cited claim stays here."
        );
        let only_js = CleanParams {
            line_filters: LineFilters {
                javascript: true,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            clean("keep\njavascript:void(0)\nkeep too", &only_js),
            "keep\nkeep too"
        );
    }

    #[test]
    fn min_words_cjk() {
        // C4 counts whitespace-separated words: a CJK sentence is one word.
        let c4_count = CleanParams {
            line_filters: LineFilters {
                min_words: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(clean("これは日本語の文です。\n短\nok go", &c4_count), "");
        // `min_words_unicode` (not C4) counts one word per ideograph.
        let p = CleanParams {
            line_filters: LineFilters {
                min_words: 3,
                min_words_unicode: true,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            clean("これは日本語の文です。\n短\nok go\nok go on", &p),
            "これは日本語の文です。\nok go on"
        );
    }

    #[test]
    fn options_beyond_c4() {
        let text = "这是一个完整的中文句子。\nAn English sentence is here.\nclosing } brace line.";
        let c4 = CleanParams {
            line_filters: LineFilters::c4(),
            ..Default::default()
        };
        assert_eq!(
            clean(text, &c4),
            "An English sentence is here.\nclosing } brace line."
        );
        let extended = CleanParams {
            line_filters: LineFilters {
                terminal_punct_multilingual: true,
                min_words_unicode: true,
                curly_braces_closing: true,
                ..LineFilters::c4()
            },
            ..Default::default()
        };
        assert_eq!(
            clean(text, &extended),
            "这是一个完整的中文句子。\nAn English sentence is here."
        );
        // The modifiers do nothing without their rule.
        let modifiers_only = CleanParams {
            line_filters: LineFilters {
                terminal_punct_multilingual: true,
                min_words_unicode: true,
                curly_braces_closing: true,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(clean(text, &modifiers_only), text);
    }

    #[test]
    fn citations_keep_line_edges_without_collapsing() {
        let p = CleanParams {
            collapse_whitespace: false,
            line_filters: LineFilters {
                citations: true,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            clean("  a claim[1] here\n[2]\nnext", &p),
            "  a claim here\n\nnext"
        );
    }

    #[test]
    fn html_mode_end_to_end() {
        let p = CleanParams::default();
        let page = "<!DOCTYPE html><html><head><title>T</title></head><body>\
            <nav class=\"topnav\"><a href=\"/\">Home</a></nav>\
            <div class=\"cookie-banner\">We use cookies. <button>Accept</button></div>\
            <h1>Heading</h1><p>First &lt;para&gt;   with\n spaces.</p><p>Second.</p>\
            <footer class=\"site-footer\"><p>Copyright</p></footer></body></html>";
        assert_eq!(
            clean(page, &p),
            "Heading\n\nFirst <para> with spaces.\n\nSecond."
        );
        // forcing text mode leaves markup alone
        let t = CleanParams {
            mode: CleanMode::Text,
            ..Default::default()
        };
        assert!(clean(page, &t).contains("<nav"));
    }

    #[test]
    fn params_serde() {
        let p: CleanParams = serde_json::from_str(
            r#"{"mode":"html","lines":{"min_words_per_line":3,"javascript":true},"html":{"main_only":false}}"#,
        )
        .unwrap();
        assert_eq!(p.mode, CleanMode::Html);
        assert_eq!(p.line_filters.min_words, 3);
        assert!(!p.html.prefer_main);
        assert!(serde_json::from_str::<CleanParams>(r#"{"nope":true}"#).is_err());
        // datatrove's names work as aliases; the options beyond C4 have their own names.
        let f: LineFilters = serde_json::from_str(
            r#"{"policies":true,"curly_bracket":true,"min_words_per_line":3,"max_word_length":1000,
                "remove_citations":true,"filter_no_terminal_punct":true,"javascript":true,
                "lorem_ipsum":true}"#,
        )
        .unwrap();
        assert_eq!(f, LineFilters::c4());
        let f: LineFilters = serde_json::from_str(
            r#"{"terminal_punct_multilingual":true,"min_words_unicode":true,"curly_braces_closing":true}"#,
        )
        .unwrap();
        assert!(f.terminal_punct_multilingual && f.min_words_unicode && f.curly_braces_closing);
        assert_eq!(
            serde_json::from_str::<CleanParams>("{}").unwrap(),
            CleanParams::default()
        );
    }
}
