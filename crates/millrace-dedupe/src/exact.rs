//! Exact deduplication: one 128-bit xxh3 hash per document.
//!
//! With folding on, the text is normalised before hashing so that copies that differ only in
//! case, spacing, punctuation or Unicode compatibility forms (full-width letters, ligatures,
//! NBSP, decomposed accents) hash the same. Folding streams characters straight into the
//! hasher through a small stack buffer, so it allocates nothing per document.

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

/// Parameters of exact deduplication (YAML: `exact:`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExactParams {
    /// Whether exact dedup takes part in a dedupe run.
    pub enabled: bool,
    /// Fold the text before hashing: NFKC, lowercase, drop punctuation and symbols, collapse
    /// whitespace runs to one space and trim. Default `true` (like datatrove's simplified text).
    #[serde(alias = "fold", alias = "normalize")]
    pub normalise: bool,
}

impl Default for ExactParams {
    fn default() -> Self {
        Self {
            enabled: true,
            normalise: true,
        }
    }
}

/// xxh3-128 of `text`, either byte for byte (`fold = false`) or of its folded form (see
/// [`ExactParams::normalise`]).
pub fn text_hash(text: &str, fold: bool) -> u128 {
    if !fold {
        return xxh3_128(text.as_bytes());
    }
    let mut sink = FoldSink::new();
    // ASCII is already NFKC, so the (comparatively slow) normaliser is skipped for it.
    // Most non-ASCII text is already NFKC too; the quick check is a cheap table scan.
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        fold_chars(text.chars(), &mut sink);
    } else {
        fold_chars(text.nfkc(), &mut sink);
    }
    sink.finish()
}

/// The folded form of `text` as a `String` (what [`text_hash`] hashes with `fold = true`).
/// Meant for debugging and tests; the hash path never materialises it.
pub fn fold_text(text: &str) -> String {
    let mut out = String::new();
    let mut push = |c: char| out.push(c);
    fold_into(text.nfkc(), &mut push);
    out
}

/// Batch entry point for the SQL wrapper: one hash per input, `None` for null inputs.
pub fn text_hash_batch(texts: &[Option<&str>], fold: bool) -> Vec<Option<u128>> {
    use rayon::prelude::*;
    texts
        .par_iter()
        .map(|t| t.map(|t| text_hash(t, fold)))
        .collect()
}

/// Streams folded characters into an xxh3 hasher through a stack buffer.
struct FoldSink {
    hasher: Xxh3,
    buf: [u8; 256],
    len: usize,
}

impl FoldSink {
    fn new() -> Self {
        Self {
            hasher: Xxh3::new(),
            buf: [0; 256],
            len: 0,
        }
    }
    #[inline]
    fn push(&mut self, c: char) {
        if self.len + 4 > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
        }
        let n = c.encode_utf8(&mut self.buf[self.len..]).len();
        self.len += n;
    }
    fn finish(mut self) -> u128 {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.digest128()
    }
}

fn fold_chars(chars: impl Iterator<Item = char>, sink: &mut FoldSink) {
    let mut push = |c: char| sink.push(c);
    fold_into(chars, &mut push);
}

/// The folding rule shared by the hash and the debugging helper. Whitespace is emitted lazily
/// (only before the next kept character) so that leading/trailing whitespace disappears and
/// runs collapse to one space; punctuation between words does not split them (`can't` ->
/// `cant`), matching the usual "remove punctuation" normalisation.
fn fold_into(chars: impl Iterator<Item = char>, push: &mut impl FnMut(char)) {
    let mut pending_space = false;
    let mut started = false;
    for c in chars {
        if c.is_whitespace() {
            pending_space = started;
            continue;
        }
        if !(c.is_alphanumeric() || is_combining_mark(c)) {
            continue;
        }
        if pending_space {
            push(' ');
            pending_space = false;
        }
        started = true;
        if c.is_ascii() {
            push(c.to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                push(l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_hash_is_xxh3_of_bytes() {
        assert_eq!(text_hash("abc", false), xxh3_128(b"abc"));
        assert_ne!(text_hash("abc", false), text_hash("Abc", false));
    }

    #[test]
    fn fold_ignores_case_space_punct_and_compat_forms() {
        let a = text_hash("Hello,   World!\n", true);
        assert_eq!(a, text_hash("hello world", true));
        assert_eq!(a, text_hash("  HELLO\u{00A0}world.", true));
        // full-width letters and a ligature fold under NFKC
        assert_eq!(text_hash("ｈｅｌｌｏ world", true), a);
        assert_eq!(text_hash("ﬁne", true), text_hash("fine", true));
        // NFD-decomposed accent equals the composed one
        assert_eq!(text_hash("cafe\u{301}", true), text_hash("café", true));
        assert_ne!(a, text_hash("hello worlds", true));
        assert_ne!(text_hash("a b", true), text_hash("ab", true));
    }

    #[test]
    fn fold_text_shows_the_hashed_form() {
        assert_eq!(fold_text("  Don't   PANIC!! "), "dont panic");
        assert_eq!(
            text_hash(&fold_text("Ｘ-y  z"), false),
            text_hash("Ｘ-y  z", true)
        );
        // long input crosses the stack-buffer boundary
        let long = "Word ".repeat(500);
        assert_eq!(text_hash(&fold_text(&long), false), text_hash(&long, true));
    }

    #[test]
    fn batch_matches_single() {
        let v = text_hash_batch(&[Some("a"), None, Some("B")], true);
        assert_eq!(
            v,
            vec![Some(text_hash("a", true)), None, Some(text_hash("b", true))]
        );
    }
}
