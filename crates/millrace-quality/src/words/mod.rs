//! Word tokeniser: a re-implementation of the English word splitting that datatrove 0.10.1
//! uses for its quality filters (`split_into_words(text, "en")`, i.e. spaCy 3.8
//! `spacy.blank("en")` followed by datatrove's `strip_strings`), plus spaCy's rule-based
//! `sentencizer` for sentence counts.
//!
//! # How it approximates spaCy
//!
//! spaCy's tokenizer is rule-based, so the same rules are applied here, in the same order:
//!
//! 1. The text is cut into runs of whitespace and non-whitespace (Python `str.isspace`); a
//!    single `' '` after a token is swallowed, any other whitespace becomes a whitespace token
//!    (datatrove drops those; the sentencizer sees them).
//! 2. A run that is an English tokenizer exception ("special case": `don't` → `do` `n't`,
//!    `e.g.`, `a.m.`, emoticons, ...) is split as the exception says.
//! 3. Otherwise prefixes and suffixes are peeled off in spaCy's loop (prefix, then suffix, with
//!    the special-case checks in between), then the remainder is kept whole if it is a URL,
//!    else split on infixes (hyphens and `,` `.` `:` `/` ... between letters, `..`, `…`, symbols).
//! 4. Runs of tokens that spell a special case containing affix characters (`:)`, `'s` ...) are
//!    re-merged, as spaCy's special-case matcher does.
//!
//! The character classes, prefix/suffix characters, units, currencies and all 1,347
//! exceptions are extracted from spaCy 3.8.18 by `scripts/gen_tables.py` into
//! `tables.rs`; the matching logic is hand-written (no regex engine on the hot path).
//!
//! Known approximations: the URL test drops the private-network look-aheads of spaCy's
//! URL regex in favour of a separate private-IP check; the special-case matcher only merges
//! tokens inside one whitespace-free run and picks the longest match greedily from the left
//! (spaCy sorts all matches by length); Python's `\w` inside the URL scheme is Rust regex's
//! Unicode `\w`. The parity test measures the end effect on datatrove's filter decisions.

pub(crate) mod chars;
pub use chars::terminal_punctuation;
#[rustfmt::skip]
#[allow(clippy::all)]
pub(crate) mod tables;

use chars::{
    alpha, alpha_lower, alpha_upper, concat_quote, dot_suffix_after, icon, prefix_char, py_space,
    sent_punct, suffix_char, uni_punct,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::LazyLock;

/// One token: its text (a slice of the input) and whether it is a whitespace token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// Token text, a slice of the tokenised string.
    pub text: &'a str,
    /// Byte offset of the token in the tokenised string.
    pub start: usize,
    /// True for whitespace tokens (which datatrove removes from word lists).
    pub is_space: bool,
}

struct Specials {
    rules: FxHashMap<&'static str, &'static [&'static str]>,
    /// Special cases that spaCy re-matches over affix-split tokens, with their token pattern.
    patterns: FxHashMap<&'static str, &'static [&'static str]>,
    max_pattern_bytes: usize,
    units: FxHashSet<&'static str>,
    currency: FxHashSet<&'static str>,
}

static SPECIALS: LazyLock<Specials> = LazyLock::new(|| {
    let rules = tables::SPECIAL_CASES
        .iter()
        .map(|(s, parts, _)| (*s, *parts))
        .collect();
    let patterns: FxHashMap<_, _> = tables::SPECIAL_PATTERNS
        .iter()
        .filter(|(s, _)| !s.chars().any(py_space))
        .map(|(s, p)| (*s, *p))
        .collect();
    let max_pattern_bytes = patterns.keys().map(|s| s.len()).max().unwrap_or(0);
    Specials {
        rules,
        patterns,
        max_pattern_bytes,
        units: tables::UNITS.iter().copied().collect(),
        currency: tables::CURRENCY.iter().copied().collect(),
    }
});

/// spaCy's URL_MATCH, split in two so that the regex crate (no look-around) can run it: the
/// host-name form, and the dotted-IP form whose private ranges are rejected separately.
struct UrlMatcher {
    host: regex::Regex,
    ip: regex::Regex,
    private_ip: regex::Regex,
}

static URL: LazyLock<Option<UrlMatcher>> = LazyLock::new(|| {
    let mut lower = String::new();
    for &(lo, hi) in tables::ALPHA_LOWER {
        lower.push_str(&format!("\\x{{{lo:X}}}-\\x{{{hi:X}}}"));
    }
    let head = r"^(?:(?:[\w+\-.]{2,})://)?(?:\S+(?::\S*)?@)?";
    let tail = r"(?::\d{2,5})?(?:[/?#]\S*)?$";
    let host = format!(
        r"{head}(?:(?:[A-Za-z0-9\x{{a1}}-\x{{ffff}}][A-Za-z0-9\x{{a1}}-\x{{ffff}}_\-]{{0,62}})?[A-Za-z0-9\x{{a1}}-\x{{ffff}}]\.)+(?:[{lower}]{{2,63}}){tail}"
    );
    let ip = format!(
        r"{head}(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{{1,2}}|2[0-4]\d|25[0-5])){{2}}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])){tail}"
    );
    let private = format!(
        r"{head}(?:(?:10|127)(?:\.\d{{1,3}}){{3}}|(?:169\.254|192\.168)(?:\.\d{{1,3}}){{2}}|172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{{1,3}}){{2}})"
    );
    Some(UrlMatcher {
        host: regex::Regex::new(&host).ok()?,
        ip: regex::Regex::new(&ip).ok()?,
        private_ip: regex::Regex::new(&private).ok()?,
    })
});

#[inline]
fn url_match(s: &str) -> bool {
    // Both URL forms need a '.', which almost no word has: skip the regexes for those.
    if !s.contains('.') {
        return false;
    }
    match URL.as_ref() {
        Some(m) => m.host.is_match(s) || (m.ip.is_match(s) && !m.private_ip.is_match(s)),
        None => false,
    }
}

#[inline]
fn first_char(s: &str) -> Option<char> {
    s.chars().next()
}

/// Length in bytes of spaCy's prefix match at the start of `s` (0 if none).
fn find_prefix(s: &str) -> usize {
    let Some(c) = first_char(s) else { return 0 };
    if c == '.' {
        let dots = s.bytes().take_while(|&b| b == b'.').count();
        return if dots >= 2 { dots } else { 0 };
    }
    if c == '+' {
        // `\+(?![0-9])`
        return match s.as_bytes().get(1) {
            Some(b) if b.is_ascii_digit() => 0,
            _ => 1,
        };
    }
    if c == 'U' && s.starts_with("US$") {
        return 3;
    }
    if (c == 'C' || c == 'A') && s[1..].starts_with('$') {
        return 2;
    }
    if prefix_char(c) { c.len_utf8() } else { 0 }
}

/// Length in bytes of spaCy's suffix match at the end of `s` (0 if none). The suffix regex is
/// searched left to right, so the longest matching suffix wins.
fn find_suffix(s: &str) -> usize {
    let Some(last) = s.chars().next_back() else {
        return 0;
    };
    let mut best = 0usize;
    let before_last = s[..s.len() - last.len_utf8()].chars().next_back();
    if last == '.' {
        let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
        if dots >= 2 {
            best = best.max(dots);
        } else if let Some(p) = before_last {
            let rest = &s[..s.len() - 1 - p.len_utf8()];
            let pp = rest.chars().next_back();
            if dot_suffix_after(p)
                || (matches!(p, 'F' | 'f' | 'C' | 'c' | 'K' | 'k') && pp == Some('°'))
                || (alpha_upper(p) && pp.is_some_and(alpha_upper))
            {
                best = best.max(1);
            }
        }
    } else if suffix_char(last) {
        best = best.max(last.len_utf8());
    }
    if s.ends_with("……") {
        best = best.max("……".len());
    }
    if last == 's' || last == 'S' {
        if s.ends_with("'s") || s.ends_with("'S") {
            best = best.max(2);
        } else if s.ends_with("’s") || s.ends_with("’S") {
            best = best.max("’s".len());
        }
    }
    if last == '+' && before_last.is_some_and(|p| p.is_ascii_digit()) {
        best = best.max(1);
    }
    // `(?<=[0-9])(?:CURRENCY|UNITS)$`: neither list contains ASCII digits, so the match can
    // only start right after the last ASCII digit.
    if let Some(d) = s.bytes().rposition(|b| b.is_ascii_digit()) {
        let rest = &s[d + 1..];
        if !rest.is_empty() && rest.len() > best {
            let sp = &*SPECIALS;
            if sp.units.contains(rest) || sp.currency.contains(rest) {
                best = rest.len();
            }
        }
    }
    best
}

const HYPHENS: [&str; 7] = ["-", "–", "—", "--", "---", "——", "~"];

/// spaCy English infix matches (`finditer`) as byte ranges of `s`.
fn find_infixes(s: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut prev: Option<char> = None;
    let mut i = 0usize;
    while i < s.len() {
        let rest = &s[i..];
        let Some(c) = first_char(rest) else { break };
        let cl = c.len_utf8();
        let next = rest[cl..].chars().next();
        let mut m = 0usize;
        if c == '.' && next == Some('.') {
            m = rest.bytes().take_while(|&b| b == b'.').count();
        } else if c == '…' || icon(c) {
            m = cl;
        } else if let Some(p) = prev {
            if p.is_ascii_digit()
                && matches!(c, '+' | '-' | '*' | '^')
                && next.is_some_and(|n| n.is_ascii_digit() || n == '-')
            {
                m = 1;
            } else if c == '.'
                && (alpha_lower(p) || concat_quote(p))
                && next.is_some_and(|n| alpha_upper(n) || concat_quote(n))
            {
                m = 1;
            } else if c == ',' && alpha(p) && next.is_some_and(alpha) {
                m = 1;
            } else if alpha(p) || p.is_ascii_digit() {
                for h in HYPHENS {
                    if rest.starts_with(h) && rest[h.len()..].chars().next().is_some_and(alpha) {
                        m = h.len();
                        break;
                    }
                }
                if m == 0 && matches!(c, ':' | '<' | '>' | '=' | '/') && next.is_some_and(alpha) {
                    m = 1;
                }
            }
        }
        if m > 0 {
            out.push((i, i + m));
            prev = s[..i + m].chars().next_back();
            i += m;
        } else {
            prev = Some(c);
            i += cl;
        }
    }
}

/// Reusable buffers for one tokenisation call.
#[derive(Default)]
struct Scratch {
    spans: Vec<(usize, usize)>,
    suffixes: Vec<(usize, usize)>,
    infixes: Vec<(usize, usize)>,
    merged: Vec<(usize, usize)>,
}

/// Push the tokens of a special case (`parts` spell `s`) as byte spans offset by `base`.
fn push_parts(parts: &[&str], s: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total != s.len() {
        out.push((base, base + s.len()));
        return;
    }
    let mut at = base;
    for p in parts {
        out.push((at, at + p.len()));
        at += p.len();
    }
}

/// spaCy `_tokenize` for one whitespace-free run; spans are byte ranges within `chunk`.
fn tokenize_chunk(chunk: &str, sc: &mut Scratch) {
    let sp = &*SPECIALS;
    sc.spans.clear();
    if let Some(parts) = sp.rules.get(chunk) {
        push_parts(parts, chunk, 0, &mut sc.spans);
        return;
    }
    // Fast path for the common plain word: ASCII letters only has no prefix, suffix, infix or
    // URL form, so (not being a special case) it is one token.
    if chunk.bytes().all(|b| b.is_ascii_alphabetic()) {
        sc.spans.push((0, chunk.len()));
        return;
    }
    sc.suffixes.clear();
    // `_split_affixes`
    let (mut lo, mut hi) = (0usize, chunk.len());
    let mut last_size = usize::MAX;
    while lo < hi && hi - lo != last_size {
        let s = &chunk[lo..hi];
        if sp.rules.contains_key(s) {
            break;
        }
        last_size = hi - lo;
        let pre = find_prefix(s);
        if pre != 0 {
            let minus_pre = &s[pre..];
            if !minus_pre.is_empty() && sp.rules.contains_key(minus_pre) {
                sc.spans.push((lo, lo + pre));
                lo += pre;
                break;
            }
        }
        let suf = find_suffix(&s[pre..]);
        if suf != 0 {
            let minus_suf = &s[..s.len() - suf];
            if !minus_suf.is_empty() && sp.rules.contains_key(minus_suf) {
                sc.suffixes.push((hi - suf, hi));
                hi -= suf;
                break;
            }
        }
        if pre != 0 && suf != 0 && pre + suf <= s.len() {
            sc.spans.push((lo, lo + pre));
            sc.suffixes.push((hi - suf, hi));
            lo += pre;
            hi -= suf;
        } else if pre != 0 {
            sc.spans.push((lo, lo + pre));
            lo += pre;
        } else if suf != 0 {
            sc.suffixes.push((hi - suf, hi));
            hi -= suf;
        }
        if lo < hi && sp.rules.contains_key(&chunk[lo..hi]) {
            break;
        }
    }
    // `_attach_tokens`
    if lo < hi {
        let s = &chunk[lo..hi];
        if let Some(parts) = sp.rules.get(s) {
            push_parts(parts, s, lo, &mut sc.spans);
        } else if url_match(s) {
            sc.spans.push((lo, hi));
        } else {
            find_infixes(s, &mut sc.infixes);
            if sc.infixes.is_empty() {
                sc.spans.push((lo, hi));
            } else {
                let mut start = 0usize;
                for &(a, b) in &sc.infixes {
                    // spaCy ignores an infix at the very start of the string.
                    if a == 0 {
                        continue;
                    }
                    if a != start {
                        sc.spans.push((lo + start, lo + a));
                    }
                    sc.spans.push((lo + a, lo + b));
                    start = b;
                }
                if start < s.len() {
                    sc.spans.push((lo + start, hi));
                }
            }
        }
    }
    sc.spans.extend(sc.suffixes.iter().rev());
    if sc.spans.len() >= 2 && sp.max_pattern_bytes > 0 {
        merge_special_patterns(chunk, sc);
    }
}

/// spaCy's special-case matcher: token runs spelling a special case that contains affix
/// characters are replaced by that special case's tokens.
fn merge_special_patterns(chunk: &str, sc: &mut Scratch) {
    let sp = &*SPECIALS;
    let n = sc.spans.len();
    sc.merged.clear();
    let mut changed = false;
    let mut i = 0;
    while i < n {
        let start = sc.spans[i].0;
        let mut best: Option<(usize, &'static [&'static str])> = None;
        let mut j = i;
        while j < n && sc.spans[j].1 - start <= sp.max_pattern_bytes {
            let text = &chunk[start..sc.spans[j].1];
            if let Some(pattern) = sp.patterns.get(text) {
                let ntok = j - i + 1;
                let same_split = pattern.len() == ntok
                    && pattern
                        .iter()
                        .zip(&sc.spans[i..=j])
                        .all(|(p, &(a, b))| *p == &chunk[a..b]);
                if same_split && ntok >= 1
                    && let Some(parts) = sp.rules.get(text) {
                        best = Some((j, parts));
                    }
            }
            j += 1;
        }
        match best {
            Some((j, parts)) if j > i || parts.len() != 1 => {
                let text = &chunk[start..sc.spans[j].1];
                push_parts(parts, text, start, &mut sc.merged);
                changed = true;
                i = j + 1;
            }
            _ => {
                sc.merged.push(sc.spans[i]);
                i += 1;
            }
        }
    }
    if changed {
        std::mem::swap(&mut sc.spans, &mut sc.merged);
    }
}

/// Tokenise `text` like spaCy `blank("en")`, calling `emit` for every token in order,
/// whitespace tokens included.
pub fn for_each_token<'a>(text: &'a str, emit: impl FnMut(Token<'a>)) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
    }
    // Reuse this thread's buffers (C4 tokenises every line separately); a nested call from
    // inside `emit` gets fresh ones.
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut sc) => tokenize_text(text, emit, &mut sc),
        Err(_) => tokenize_text(text, emit, &mut Scratch::default()),
    })
}

fn tokenize_text<'a>(text: &'a str, mut emit: impl FnMut(Token<'a>), sc: &mut Scratch) {
    let Some(first) = first_char(text) else {
        return;
    };
    let mut in_ws = py_space(first);
    let mut start = 0usize;
    let mut run = |from: usize, to: usize, ws: bool, sc: &mut Scratch| {
        let chunk = &text[from..to];
        if ws {
            emit(Token {
                text: chunk,
                start: from,
                is_space: true,
            });
            return;
        }
        tokenize_chunk(chunk, sc);
        for &(a, b) in &sc.spans {
            emit(Token {
                text: &chunk[a..b],
                start: from + a,
                is_space: false,
            });
        }
    };
    for (i, c) in text.char_indices() {
        if py_space(c) != in_ws {
            if start < i {
                run(start, i, in_ws, sc);
            }
            start = if c == ' ' { i + 1 } else { i };
            in_ws = !in_ws;
        }
    }
    if start < text.len() {
        run(start, text.len(), in_ws, sc);
    }
}

/// datatrove `split_into_words(text, "en")`: spaCy tokens, whitespace tokens removed.
pub fn split_words(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    split_words_into(text, &mut out);
    out
}

/// [`split_words`] into a caller-provided buffer (cleared first), to reuse its allocation.
/// A document's words (as [`split_words_into`] splits them), split at most once however many
/// filters of a pipeline ask for them: the split is most of what Gopher and FineWeb rules cost.
pub struct Words<'a> {
    text: &'a str,
    words: Option<Vec<&'a str>>,
}

impl<'a> Words<'a> {
    /// The words of `text`, not split yet.
    pub fn new(text: &'a str) -> Self {
        Self { text, words: None }
    }

    /// The words, split on the first call.
    pub fn get(&mut self) -> &[&'a str] {
        let text = self.text;
        self.words.get_or_insert_with(|| {
            let mut v = Vec::new();
            split_words_into(text, &mut v);
            v
        })
    }

    /// The text the words are of.
    pub fn text(&self) -> &'a str {
        self.text
    }
}

pub fn split_words_into<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    for_each_token(text, |t| {
        if !t.is_space {
            out.push(t.text);
        }
    });
}

/// Byte offsets where spaCy's sentencizer ends each sentence of `text` (end of the sentence's
/// last token), in order. Empty for a text without tokens.
pub fn sentence_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let punct = sent_punct();
    let mut seen_period = false;
    let mut last_end = 0usize;
    let mut any = false;
    for_each_token(text, |t| {
        let (in_punct_chars, is_punct) = sentencizer_flags(t.text, punct);
        if seen_period && !is_punct && !in_punct_chars {
            ends.push(last_end);
            seen_period = false;
        } else if in_punct_chars {
            seen_period = true;
        }
        last_end = t.start + t.text.len();
        any = true;
    });
    if any {
        ends.push(last_end);
    }
    ends
}

/// Number of sentences spaCy's sentencizer finds in `text` (`len(list(doc.sents))`).
pub fn count_sentences(text: &str) -> usize {
    let punct = sent_punct();
    let (mut seen_period, mut any, mut breaks) = (false, false, 0usize);
    for_each_token(text, |t| {
        let (in_punct_chars, is_punct) = sentencizer_flags(t.text, punct);
        if seen_period && !is_punct && !in_punct_chars {
            breaks += 1;
            seen_period = false;
        } else if in_punct_chars {
            seen_period = true;
        }
        any = true;
    });
    if any { breaks + 1 } else { 0 }
}

/// (token is one of the sentencizer's punct_chars, token is all P* punctuation).
#[inline]
fn sentencizer_flags(text: &str, punct: &chars::CharSet) -> (bool, bool) {
    let mut it = text.chars();
    let single = match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    };
    (
        single.is_some_and(|c| punct.contains(c)),
        text.chars().all(uni_punct),
    )
}

/// datatrove `split_into_sentences(text, "en")`: contiguous pieces of `text`, each ending
/// where a sentence ends (the last piece runs to the end of the text).
pub fn split_sentences(text: &str) -> Vec<&str> {
    let ends = sentence_ends(text);
    let mut out = Vec::with_capacity(ends.len().max(1));
    let mut a = 0usize;
    for (k, &e) in ends.iter().enumerate() {
        let b = if k + 1 == ends.len() { text.len() } else { e };
        out.push(&text[a..b]);
        a = b;
    }
    if out.is_empty() {
        out.push(text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contractions_and_punctuation() {
        assert_eq!(
            split_words("I don't know."),
            ["I", "do", "n't", "know", "."]
        );
        assert_eq!(split_words("Hello, world!"), ["Hello", ",", "world", "!"]);
        assert_eq!(split_words("(e.g. this)"), ["(", "e.g.", "this", ")"]);
        assert_eq!(split_words("the cat's toy"), ["the", "cat", "'s", "toy"]);
    }

    #[test]
    fn infixes_and_urls() {
        assert_eq!(split_words("well-known"), ["well", "-", "known"]);
        assert_eq!(
            split_words("see https://example.com/a-b now"),
            ["see", "https://example.com/a-b", "now"]
        );
        assert_eq!(split_words("10km"), ["10", "km"]);
        assert_eq!(split_words("$100"), ["$", "100"]);
        assert_eq!(split_words("wait...what"), ["wait", "...", "what"]);
    }

    #[test]
    fn whitespace_tokens_are_dropped() {
        assert_eq!(split_words("  a \n\n b\t"), ["a", "b"]);
        assert!(split_words(" \n ").is_empty());
    }

    #[test]
    fn sentences() {
        assert_eq!(count_sentences("One. Two! Three?"), 3);
        assert_eq!(count_sentences("Mr. Smith went home."), 1);
        assert_eq!(count_sentences("no period here"), 1);
        assert_eq!(count_sentences(""), 0);
        // "b." is an English tokenizer exception (single-letter abbreviation), so no break.
        assert_eq!(split_sentences("A b. C d."), ["A b. C d."]);
        assert_eq!(split_sentences("Ab cd. Ef gh."), ["Ab cd.", " Ef gh."]);
    }
}
