//! `clean`'s `LineFilters::c4()` and `millrace-quality`'s `C4QualityFilter` (datatrove-exact) keep
//! exactly the same lines: on hand-written edge cases and on every line of the quality crate's
//! 557-document datatrove parity corpus.
//!
//! The document-level rules that `clean` does not apply are kept out of the way: the sentence
//! minimum is disabled (`min_num_sentences: -1`), and "lorem ipsum" / `{` (which drop the whole
//! page in C4 and the line in `clean`) either see one-line documents, where page and line are the
//! same, or are disabled on both sides.

use millrace_quality::pytext;
use millrace_quality::{C4QualityFilter, C4QualityParams, Decision};
use millrace_text::{CleanMode, CleanParams, LineFilters, clean};
use serde_json::Value;

/// Lines that exercise every rule and the places the two implementations used to disagree.
const LINES: &[&str] = &[
    "This is a good sentence.",
    "Please enable JavaScript to view.",
    "Please enable JAVASCRIPT to view.",
    "Lorem ipsum dolor sit amet.",
    "Read our privacy policy here.",
    "This site uses coo\u{212a}ies, as you know.",
    "We use cookies on this site.",
    "Terms of Use apply to everyone.",
    "function() { return 1; }",
    "A function body { return 1. }.",
    "A closing } bracket only.",
    "}",
    "Too short.",
    "No terminal punctuation here",
    "A cited claim[12] stays here.",
    "Hello [1] world.",
    "A claim is made here. [1]",
    "[1] A claim is made here.",
    "[citation needed]",
    "Trailing ellipsis goes away...",
    "A unicode ellipsis goes too…",
    "He said \"this is fine\"",
    "It's the 'quoted' one'",
    "Is this a question?",
    "What a line this is!",
    "这是一个完整的中文句子。",
    "これは日本語の文です。",
    "هذه جملة عربية كاملة؟",
    "Ein deutscher Satz, der endet.",
    "a\u{1f}b\u{1f}c d.",
    "word\u{a0}word\u{a0}word.",
];

fn c4_filter(lorem_and_curly: bool) -> C4QualityFilter {
    C4QualityFilter::new(C4QualityParams {
        min_num_sentences: -1,
        filter_lorem_ipsum: lorem_and_curly,
        filter_curly_bracket: lorem_and_curly,
        ..Default::default()
    })
    .expect("valid parameters")
}

fn clean_params(collapse_whitespace: bool, lorem_and_curly: bool) -> CleanParams {
    CleanParams {
        mode: CleanMode::Text,
        // Leave every line as it is, so that both sides see the same lines.
        strip_control_chars: false,
        collapse_whitespace,
        max_blank_lines: usize::MAX,
        line_filters: LineFilters {
            lorem_ipsum: lorem_and_curly,
            curly_braces: lorem_and_curly,
            ..LineFilters::c4()
        },
        ..Default::default()
    }
}

/// A kept line for comparison: its words joined by one space (`clean` may collapse whitespace
/// runs and keeps a line's edges; which lines are kept is what must agree).
fn words(line: &str) -> String {
    pytext::split_whitespace(line).collect::<Vec<_>>().join(" ")
}

/// The lines `C4QualityFilter` keeps, or none when it drops the document.
fn c4_kept(filter: &C4QualityFilter, text: &str) -> Vec<String> {
    match filter.filter(text) {
        (Decision::Keep, Some(out)) => pytext::splitlines(&out)
            .map(words)
            .filter(|l| !l.is_empty())
            .collect(),
        (Decision::Keep, None) => panic!("a kept document comes with its text"),
        (Decision::Drop(_), _) => Vec::new(),
    }
}

/// The non-blank lines `clean` keeps.
fn clean_kept(p: &CleanParams, text: &str) -> Vec<String> {
    clean(text, p)
        .split('\n')
        .map(words)
        .filter(|l| !l.is_empty())
        .collect()
}

/// One line at a time: every rule on, "lorem ipsum" and `{` included.
fn assert_same_per_line(lines: &[&str], collapse_whitespace: bool) -> usize {
    let c4 = c4_filter(true);
    let p = clean_params(collapse_whitespace, true);
    let mut kept = 0;
    for line in lines {
        let theirs = c4_kept(&c4, line);
        let ours = clean_kept(&p, line);
        assert_eq!(
            ours, theirs,
            "line {line:?} (collapse_whitespace: {collapse_whitespace})"
        );
        kept += theirs.len();
    }
    kept
}

#[test]
fn same_lines_on_edge_cases() {
    let kept = assert_same_per_line(LINES, false);
    assert!(kept > 5 && kept < LINES.len() / 2, "{kept} lines kept");
    // The default whitespace collapsing does not change these lines' verdicts.
    assert_same_per_line(LINES, true);
    // The same as one document, without the page-level rules.
    let doc = LINES.join("\n");
    for collapse in [false, true] {
        assert_eq!(
            clean_kept(&clean_params(collapse, false), &doc),
            c4_kept(&c4_filter(false), &doc),
            "collapse_whitespace: {collapse}"
        );
    }
}

fn parity_corpus() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../millrace-quality/tests/data/parity/corpus.jsonl.zst"
    );
    millrace_test_fixtures::read_jsonl::<Value>(path)
        .into_iter()
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        // `clean` splits lines on "\n" only, C4 on every Python line break: give both "\n".
        .map(|t| pytext::splitlines(&t).collect::<Vec<_>>().join("\n"))
        .collect()
}

#[test]
fn same_lines_on_parity_corpus() {
    let docs = parity_corpus();
    assert!(docs.len() >= 557, "{} documents", docs.len());
    // Whole documents, page-level rules off on both sides.
    let (c4, p) = (c4_filter(false), clean_params(false, false));
    let mut kept = 0;
    for (i, doc) in docs.iter().enumerate() {
        let theirs = c4_kept(&c4, doc);
        assert_eq!(clean_kept(&p, doc), theirs, "document {i}");
        kept += theirs.len();
    }
    assert!(kept > 1000, "{kept} lines kept");
    // Every line alone, every rule on.
    let lines: Vec<&str> = docs
        .iter()
        .flat_map(|d| d.split('\n'))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() > 10_000, "{} lines", lines.len());
    assert_same_per_line(&lines, false);
}
