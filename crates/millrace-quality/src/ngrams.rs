//! Word n-gram duplicate statistics for the Gopher repetition rules, without building n-gram
//! strings.
//!
//! datatrove compares n-grams as strings: `" ".join(words[i:i+n])` for the top-n-gram rule
//! (equal exactly when the word tuples are equal, as tokens hold no spaces) and
//! `"".join(words[i:i+n])` for the duplicated-n-gram rule (equal when the concatenations are
//! equal, even if the word boundaries differ). The first is keyed here by interned word ids;
//! the second by a polynomial hash of the concatenated bytes modulo the Mersenne prime
//! 2^61 − 1 together with its byte length, computed from prefix hashes in O(1) per n-gram.
//! Two different concatenations collide with probability below 2^-40 per pair even for long
//! documents, so the statistic equals datatrove's in practice.

use crate::pytext::char_len;
use rustc_hash::{FxHashMap, FxHashSet};

const MOD: u64 = (1 << 61) - 1;
const BASE: u64 = 0x1F3D_5B79_A2C4_E6B1 % MOD;

#[inline]
fn mul_mod(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    let lo = (p as u64) & MOD;
    let hi = (p >> 61) as u64;
    let s = lo + hi;
    if s >= MOD { s - MOD } else { s }
}

#[inline]
fn add_mod(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= MOD { s - MOD } else { s }
}

/// Per-document word data shared by all n.
pub(crate) struct WordStats {
    ids: Vec<u32>,
    /// Prefix sums of word lengths in characters.
    char_cum: Vec<usize>,
    /// Prefix sums of word lengths in bytes.
    byte_cum: Vec<usize>,
    /// Prefix hashes of the concatenated word bytes.
    prefix: Vec<u64>,
    /// BASE^k for k up to the longest span needed so far.
    pow: Vec<u64>,
    /// The n-grams seen by [`Self::all_duplicate_chars`], kept so each n reuses its capacity.
    seen: FxHashSet<(u64, usize)>,
}

impl WordStats {
    pub(crate) fn new(words: &[&str]) -> Self {
        // Per distinct word: its id, characters, bytes' polynomial hash and BASE^bytes, so the
        // prefix hash advances by one multiply per word instead of one per byte (documents repeat
        // most of their words). The prefix values are the same as hashing byte by byte.
        let mut intern: FxHashMap<&str, u32> = FxHashMap::default();
        let mut per_word: Vec<(usize, u64, u64)> = Vec::new();
        let mut ids = Vec::with_capacity(words.len());
        let mut char_cum = Vec::with_capacity(words.len() + 1);
        let mut byte_cum = Vec::with_capacity(words.len() + 1);
        let mut prefix = Vec::with_capacity(words.len() + 1);
        char_cum.push(0);
        byte_cum.push(0);
        prefix.push(0);
        let (mut cc, mut bc, mut h) = (0usize, 0usize, 0u64);
        for w in words {
            let next = intern.len() as u32;
            let id = *intern.entry(w).or_insert(next);
            if id == next {
                let (mut wh, mut pw) = (0u64, 1u64);
                for &b in w.as_bytes() {
                    wh = add_mod(mul_mod(wh, BASE), b as u64 + 1);
                    pw = mul_mod(pw, BASE);
                }
                per_word.push((char_len(w), wh, pw));
            }
            ids.push(id);
            let (chars, wh, pw) = per_word[id as usize];
            cc += chars;
            bc += w.len();
            h = add_mod(mul_mod(h, pw), wh);
            char_cum.push(cc);
            byte_cum.push(bc);
            prefix.push(h);
        }
        Self {
            ids,
            char_cum,
            byte_cum,
            prefix,
            pow: vec![1],
            seen: FxHashSet::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn ensure_pow(&mut self, upto: usize) {
        while self.pow.len() <= upto {
            let last = *self.pow.last().unwrap_or(&1);
            self.pow.push(mul_mod(last, BASE));
        }
    }

    /// datatrove `find_top_duplicate(get_n_grams(words, n))`: character length of the most
    /// frequent space-joined n-gram times its count; ties go to the n-gram seen first.
    /// `None` when there are fewer than `n` words (datatrove skips the rule then).
    pub(crate) fn top_duplicate_chars(&self, n: usize) -> Option<usize> {
        if n == 0 || self.ids.len() < n {
            return None;
        }
        let count = self.ids.len() - n + 1;
        // (count, first position) of the most frequent n-gram; ties go to the one seen first.
        fn best<K: std::hash::Hash + Eq>(count: usize, key: impl Fn(usize) -> K) -> Option<(u32, u32)> {
            let mut counts: FxHashMap<K, (u32, u32)> = FxHashMap::default();
            counts.reserve(count);
            for i in 0..count {
                let e = counts.entry(key(i)).or_insert((0, i as u32));
                e.0 += 1;
            }
            counts.into_values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        }
        let ids = &self.ids;
        // Up to four 32-bit ids pack exactly into one integer key, which hashes in one step.
        let (c, first) = if n <= 4 {
            best(count, |i| ids[i..i + n].iter().fold(0u128, |k, &id| (k << 32) | id as u128))?
        } else {
            best(count, |i| &ids[i..i + n])?
        };
        let first = first as usize;
        let len = self.char_cum[first + n] - self.char_cum[first] + (n - 1);
        Some(len * c as usize)
    }

    /// datatrove `find_all_duplicate(words, n)`: characters in repeated (concatenated)
    /// n-grams, skipping past each repeat.
    pub(crate) fn all_duplicate_chars(&mut self, n: usize) -> usize {
        let n_words = self.ids.len();
        if n == 0 || n_words < n {
            return 0;
        }
        let max_span = (0..=n_words - n)
            .map(|i| self.byte_cum[i + n] - self.byte_cum[i])
            .max()
            .unwrap_or(0);
        self.ensure_pow(max_span);
        let mut unique = std::mem::take(&mut self.seen);
        unique.clear();
        unique.reserve(n_words - n + 1);
        let (mut repeated, mut idx) = (0usize, 0usize);
        while idx + n <= n_words {
            let span = self.byte_cum[idx + n] - self.byte_cum[idx];
            let h = add_mod(
                self.prefix[idx + n],
                MOD - mul_mod(self.prefix[idx], self.pow[span]),
            );
            // `insert` is false when the n-gram was seen: one hash lookup either way.
            if unique.insert((h, span)) {
                idx += 1;
            } else {
                repeated += self.char_cum[idx + n] - self.char_cum[idx];
                idx += n;
            }
        }
        self.seen = unique;
        repeated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_hashes_equal_hashing_the_concatenation_byte_by_byte() {
        let words = ["the", "cat", "the", "ünïcode", "cat", "", "a", "the"];
        let s = WordStats::new(&words);
        let mut h = 0u64;
        let mut want = vec![0u64];
        for w in words {
            for &b in w.as_bytes() {
                h = add_mod(mul_mod(h, BASE), b as u64 + 1);
            }
            want.push(h);
        }
        assert_eq!(s.prefix, want);
        assert_eq!(s.ids, vec![0, 1, 0, 2, 1, 3, 4, 0]);
    }

    #[test]
    fn packed_and_sliced_keys_pick_the_same_top_n_gram() {
        // Ties go to the n-gram seen first, whichever key type counts them.
        let words: Vec<&str> = "b a b a c d c d c d b a".split(' ').collect();
        let s = WordStats::new(&words);
        for n in 1..=6 {
            let by_slice = {
                let mut counts: FxHashMap<&[u32], (u32, u32)> = FxHashMap::default();
                for i in 0..=s.ids.len() - n {
                    counts.entry(&s.ids[i..i + n]).or_insert((0, i as u32)).0 += 1;
                }
                let (c, first) = counts.into_values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))).unwrap();
                (s.char_cum[first as usize + n] - s.char_cum[first as usize] + n - 1) * c as usize
            };
            assert_eq!(s.top_duplicate_chars(n), Some(by_slice), "n = {n}");
        }
    }

    #[test]
    fn top_and_all_duplicates_match_hand_counts() {
        let words = ["a", "b", "a", "b", "a", "b", "c"];
        let mut s = WordStats::new(&words);
        // "a b" occurs 3 times, length 3 -> 9.
        assert_eq!(s.top_duplicate_chars(2), Some(9));
        assert_eq!(s.top_duplicate_chars(8), None);
        // 2-grams: ab(new) ba(new) ab(dup, +2, skip 2) ab? idx=4: "ab" dup +2 -> idx 6 stop.
        assert_eq!(s.all_duplicate_chars(2), 4);
    }

    #[test]
    fn concatenation_semantics() {
        // "ab"+"c" and "a"+"bc" are the same concatenated 2-gram in datatrove.
        let words = ["ab", "c", "a", "bc"];
        let mut s = WordStats::new(&words);
        assert_eq!(s.all_duplicate_chars(2), 3);
        // ...but different space-joined n-grams: top count 1, first "ab c" (4 chars).
        assert_eq!(s.top_duplicate_chars(2), Some(4));
    }
}
