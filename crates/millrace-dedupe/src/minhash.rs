//! MinHash signatures and LSH band keys over word n-grams.
//!
//! ## Tokenisation (deliberately simple and fast)
//! * A *word* is a maximal run of alphanumeric characters (`char::is_alphanumeric`), lowercased
//!   (`char::to_lowercase`). Everything else (spaces, punctuation, symbols, markup characters)
//!   separates words. Full-width ASCII forms (U+FF01..U+FF5E) are mapped to ASCII first, so the
//!   common NFKC-sensitive variant of Latin text still matches.
//! * Han ideographs, hiragana and katakana (including half-width katakana) carry no spaces
//!   between words, so **each such character is a word of its own**; CJK documents then form
//!   character n-grams and still dedupe. Hangul is written with spaces and is treated like
//!   Latin script. Scripts without spaces that are not listed (Thai, Lao, Khmer, ...) form
//!   long "words"; they still dedupe as exact-ish matches but with less recall.
//! * No NFKC, no stemming, no stop words: this is hashing for similarity, not linguistics.
//!
//! ## Hashing
//! Each word is hashed incrementally while it is scanned (FNV-1a over code points, finalised
//! with a 64-bit avalanche mixer), so no `String` is built per word or per n-gram. An n-gram's
//! hash combines its `ngram` word hashes in order. Documents with fewer than `ngram` words (but
//! at least one) contribute a single shingle made of all their words, and documents with no
//! word at all get an "empty" signature that yields **no band keys** (they never match by
//! MinHash; exact dedup still catches identical empty texts).
//!
//! The `bands * rows` permutations are `h_k(x) = a_k * x + b_k (mod 2^64)` with odd `a_k`,
//! both derived from `seed` with SplitMix64, so signatures are reproducible across runs,
//! machines and thread counts. A band key is the xxh3-64 of the band's `rows` values, seeded
//! with the band number so that equal values in different bands never collide.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{DedupeError, Result};

/// Parameters of MinHash deduplication (YAML: `minhash:`). Defaults are FineWeb's: word
/// 5-grams, 14 bands of 8 rows, 64-bit hashes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MinHashParams {
    /// Whether MinHash takes part in a dedupe run.
    pub enabled: bool,
    /// Words per shingle.
    #[serde(alias = "n_grams", alias = "ngram_size", alias = "shingle_size")]
    pub ngram: usize,
    /// Number of LSH bands (datatrove: buckets).
    #[serde(alias = "num_buckets", alias = "buckets", alias = "num_bands")]
    pub bands: usize,
    /// MinHash values per band (datatrove: hashes per bucket).
    #[serde(alias = "hashes_per_bucket", alias = "rows_per_band")]
    pub rows: usize,
    /// Seed of the permutations; change it and every signature changes.
    pub seed: u64,
}

impl Default for MinHashParams {
    fn default() -> Self {
        Self {
            enabled: true,
            ngram: 5,
            bands: 14,
            rows: 8,
            seed: 0x4d49_4c4c_5241_4345,
        }
    }
}

/// Hard caps that keep a mistyped YAML value from allocating absurd amounts per document.
const MAX_HASHES: usize = 4096;
const MAX_NGRAM: usize = 64;

impl MinHashParams {
    /// Checks that the parameters describe a usable signature.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(DedupeError::InvalidParams {
                name,
                reason: reason.to_string(),
            })
        };
        if self.ngram == 0 || self.ngram > MAX_NGRAM {
            return bad("ngram", "must be between 1 and 64");
        }
        if self.bands == 0 {
            return bad("bands", "must be at least 1");
        }
        if self.rows == 0 {
            return bad("rows", "must be at least 1");
        }
        if self.bands.saturating_mul(self.rows) > MAX_HASHES {
            return bad("bands", "bands * rows must not exceed 4096");
        }
        Ok(())
    }

    /// Signature length: `bands * rows`.
    pub fn num_hashes(&self) -> usize {
        self.bands * self.rows
    }

    /// The Jaccard similarity at which two documents share at least one band with probability
    /// about one half, approximated as `(1/bands)^(1/rows)` (0.719 for 14 x 8).
    pub fn threshold(&self) -> f64 {
        if self.bands == 0 || self.rows == 0 {
            return f64::NAN;
        }
        (1.0 / self.bands as f64).powf(1.0 / self.rows as f64)
    }

    /// Probability that two documents of Jaccard similarity `j` share at least one band:
    /// `1 - (1 - j^rows)^bands`.
    pub fn collision_probability(&self, j: f64) -> f64 {
        1.0 - (1.0 - j.powi(self.rows as i32)).powi(self.bands as i32)
    }
}

/// Precomputed permutations for one parameter set; build once and reuse across documents
/// (cheap to share between threads).
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    mul: Vec<u64>,
    add: Vec<u64>,
}

#[inline]
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Murmur3's 64-bit finaliser: full avalanche for word and shingle hashes.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SHINGLE_MUL: u64 = 0x9FB2_1C65_1E98_DF25;

/// Han, kana and half-width kana: scripts written without spaces, one character per word.
#[inline]
fn is_cjk_word_char(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F      // hiragana
        | 0x30A0..=0x30FF    // katakana
        | 0x31F0..=0x31FF    // katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // half-width katakana
        | 0x20000..=0x3FFFF) // CJK extensions B..
}

/// Calls `emit` with the 64-bit hash of every word of `text`, in order (see the module docs for
/// what a word is). Exposed so that other stages can reuse the exact same tokenisation.
pub fn for_each_word_hash(text: &str, mut emit: impl FnMut(u64)) {
    let mut h = FNV_OFFSET;
    let mut in_word = false;
    for mut c in text.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                h = (h ^ c.to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME);
                in_word = true;
            } else if in_word {
                emit(fmix64(h));
                h = FNV_OFFSET;
                in_word = false;
            }
            continue;
        }
        // Full-width ASCII variants (U+FF01..=U+FF5E) -> ASCII, then the ASCII rules apply.
        if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
            c = char::from_u32(c as u32 - 0xFEE0).unwrap_or(c);
            if c.is_ascii_alphanumeric() {
                h = (h ^ c.to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME);
                in_word = true;
            } else if in_word {
                emit(fmix64(h));
                h = FNV_OFFSET;
                in_word = false;
            }
            continue;
        }
        if is_cjk_word_char(c) {
            if in_word {
                emit(fmix64(h));
                in_word = false;
            }
            emit(fmix64((FNV_OFFSET ^ c as u64).wrapping_mul(FNV_PRIME)));
            h = FNV_OFFSET;
        } else if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                h = (h ^ l as u64).wrapping_mul(FNV_PRIME);
            }
            in_word = true;
        } else if in_word {
            emit(fmix64(h));
            h = FNV_OFFSET;
            in_word = false;
        }
    }
    if in_word {
        emit(fmix64(h));
    }
}

impl MinHasher {
    /// Validates `params` and derives the permutations from its seed.
    pub fn new(params: &MinHashParams) -> Result<Self> {
        params.validate()?;
        let n = params.num_hashes();
        let mut state = params.seed;
        let mut mul = Vec::with_capacity(n);
        let mut add = Vec::with_capacity(n);
        for _ in 0..n {
            mul.push(splitmix64(&mut state) | 1);
            add.push(splitmix64(&mut state));
        }
        Ok(Self {
            params: params.clone(),
            mul,
            add,
        })
    }

    /// The parameters this hasher was built with.
    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// MinHash signature of `text` (`bands * rows` values).
    pub fn signature(&self, text: &str) -> Vec<u64> {
        let mut sig = vec![u64::MAX; self.mul.len()];
        self.signature_into(text, &mut sig);
        sig
    }

    /// Writes the signature into `sig` (which must hold `bands * rows` values; extra values are
    /// left untouched, missing ones are not computed) and returns the number of shingles seen.
    pub fn signature_into(&self, text: &str, sig: &mut [u64]) -> usize {
        let n = self.params.ngram;
        let k = sig.len().min(self.mul.len());
        let (sig, mul, add) = (&mut sig[..k], &self.mul[..k], &self.add[..k]);
        sig.fill(u64::MAX);
        let mut ring = [0u64; MAX_NGRAM];
        let mut words = 0usize;
        let mut shingles = 0usize;
        let apply = |g: u64, sig: &mut [u64]| {
            for ((s, &a), &b) in sig.iter_mut().zip(mul).zip(add) {
                // A predictable branch: after the first few shingles the minimum rarely changes.
                let v = a.wrapping_mul(g).wrapping_add(b);
                if v < *s {
                    *s = v;
                }
            }
        };
        for_each_word_hash(text, |w| {
            ring[words % n] = w;
            words += 1;
            if words >= n {
                let start = words - n;
                let g = shingle_hash((0..n).map(|j| ring[(start + j) % n]));
                apply(g, sig);
                shingles += 1;
            }
        });
        if words > 0 && words < n {
            let g = shingle_hash(ring[..words].iter().copied());
            apply(g, sig);
            shingles += 1;
        }
        shingles
    }

    /// One key per band of `sig` (see [`band_keys`]).
    pub fn band_keys(&self, sig: &[u64]) -> Vec<u64> {
        band_keys_with(sig, self.params.rows)
    }
}

#[inline]
fn shingle_hash(words: impl Iterator<Item = u64>) -> u64 {
    let mut g = 0u64;
    for w in words {
        g = (g.rotate_left(27) ^ w).wrapping_mul(SHINGLE_MUL);
    }
    fmix64(g)
}

/// Band keys for a signature split into bands of `rows` values. Bands whose values are all
/// `u64::MAX` (documents without a single word) produce no key, so empty documents are never
/// linked by MinHash. A trailing partial band is ignored.
pub fn band_keys_with(sig: &[u64], rows: usize) -> Vec<u64> {
    if rows == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(sig.len() / rows);
    let mut buf = [0u8; 8 * 64];
    for (band, chunk) in sig.chunks_exact(rows).enumerate() {
        if chunk.iter().all(|&v| v == u64::MAX) {
            continue;
        }
        // Hash in blocks of 64 values so that large `rows` never needs a heap buffer.
        let mut key = band as u64;
        for block in chunk.chunks(64) {
            for (i, v) in block.iter().enumerate() {
                buf[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            key = xxh3_64_with_seed(&buf[..block.len() * 8], key ^ 0x6d72_6264_6b65_7931);
        }
        out.push(key);
    }
    out
}

/// MinHash signature of `text` with `params` (`bands * rows` values). Builds the permutations
/// on every call; use [`MinHasher`] for many documents.
pub fn signature(text: &str, params: &MinHashParams) -> Result<Vec<u64>> {
    Ok(MinHasher::new(params)?.signature(text))
}

/// SQL-friendly alias of [`signature`] (the engine exposes it as `minhash(text)`).
pub fn minhash(text: &str, params: &MinHashParams) -> Result<Vec<u64>> {
    signature(text, params)
}

/// One key per band of `sig`, using `params.rows` values per band.
pub fn band_keys(sig: &[u64], params: &MinHashParams) -> Vec<u64> {
    band_keys_with(sig, params.rows)
}

/// Signatures for a batch of texts (rayon across documents; `None` stays `None`).
pub fn minhash_batch(
    texts: &[Option<&str>],
    params: &MinHashParams,
) -> Result<Vec<Option<Vec<u64>>>> {
    use rayon::prelude::*;
    let hasher = MinHasher::new(params)?;
    Ok(texts
        .par_iter()
        .map(|t| t.map(|t| hasher.signature(t)))
        .collect())
}

/// Estimated Jaccard similarity of two signatures: the fraction of positions with equal values.
pub fn signature_similarity(a: &[u64], b: &[u64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / n as f64
}

/// A compact verification sketch: the low 16 bits of every signature value ("b-bit MinHash").
/// Two unrelated values agree on 16 bits with probability 2^-16, so the similarity estimate
/// is practically unbiased at a quarter of the memory.
pub fn compact_sketch(sig: &[u64]) -> Vec<u16> {
    sig.iter().map(|&v| v as u16).collect()
}

/// Estimated Jaccard similarity of two [`compact_sketch`]es.
pub fn sketch_similarity(a: &[u16], b: &[u16]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn words(text: &str) -> Vec<u64> {
        let mut v = Vec::new();
        for_each_word_hash(text, |h| v.push(h));
        v
    }

    #[test]
    fn tokenisation_rules() {
        assert_eq!(words("Hello, WORLD!"), words("hello world"));
        assert_eq!(words("ＨＥＬＬＯ world"), words("hello world"));
        assert_eq!(words("a-b").len(), 2);
        assert_eq!(words("Größe straße").len(), 2);
        assert_eq!(words("Größe"), words("GRÖSSE".replace("SS", "ß").as_str()));
        // each ideograph / kana is a word; embedded Latin stays one word
        assert_eq!(words("日本語のテキスト").len(), 8);
        assert_eq!(words("abc日本").len(), 3);
        assert_eq!(words("日本")[0], words("日")[0]);
        assert!(words(" \n\t.,;").is_empty());
    }

    #[test]
    fn params_and_threshold() {
        let p = MinHashParams::default();
        assert_eq!(p.num_hashes(), 112);
        assert!((p.threshold() - 0.7192).abs() < 1e-3);
        assert!(p.collision_probability(0.9) > 0.99);
        assert!(p.collision_probability(0.3) < 0.01);
        assert!(
            MinHasher::new(&MinHashParams {
                bands: 0,
                ..p.clone()
            })
            .is_err()
        );
        assert!(
            MinHasher::new(&MinHashParams {
                ngram: 0,
                ..p.clone()
            })
            .is_err()
        );
        assert!(MinHasher::new(&MinHashParams { rows: 100_000, ..p }).is_err());
    }

    #[test]
    fn empty_documents_have_no_band_keys() {
        let h = MinHasher::new(&MinHashParams::default()).unwrap();
        let sig = h.signature("  ... ");
        assert!(sig.iter().all(|&v| v == u64::MAX));
        assert!(h.band_keys(&sig).is_empty());
        // short docs still get one shingle and 14 keys
        assert_eq!(h.band_keys(&h.signature("two words")).len(), 14);
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let p = MinHashParams::default();
        let t = "the quick brown fox jumps over the lazy dog again and again";
        assert_eq!(signature(t, &p).unwrap(), signature(t, &p).unwrap());
        let q = MinHashParams {
            seed: 7,
            ..p.clone()
        };
        assert_ne!(signature(t, &p).unwrap(), signature(t, &q).unwrap());
        let keys = band_keys(&signature(t, &p).unwrap(), &p);
        assert_eq!(keys.len(), 14);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 14);
    }

    /// The signature similarity must estimate the true word 5-gram Jaccard similarity.
    #[test]
    fn similarity_estimates_jaccard() {
        let p = MinHashParams {
            bands: 32,
            rows: 16,
            ..MinHashParams::default()
        };
        let h = MinHasher::new(&p).unwrap();
        let base: Vec<String> = (0..400)
            .map(|i| format!("w{}", (i * 7919) % 1000))
            .collect();
        for &changed in &[0usize, 10, 40, 100] {
            let mut other = base.clone();
            for i in 0..changed {
                other[i * (400 / changed.max(1)) % 400] = format!("x{i}");
            }
            let sh = |ws: &[String]| -> HashSet<Vec<String>> {
                ws.windows(5).map(|w| w.to_vec()).collect()
            };
            let (a, b) = (sh(&base), sh(&other));
            let truth = a.intersection(&b).count() as f64 / a.union(&b).count() as f64;
            let sa = h.signature(&base.join(" "));
            let sb = h.signature(&other.join(" "));
            let est = signature_similarity(&sa, &sb);
            assert!(
                (est - truth).abs() < 0.08,
                "changed {changed}: truth {truth:.3} est {est:.3}"
            );
            let est16 = sketch_similarity(&compact_sketch(&sa), &compact_sketch(&sb));
            assert!((est16 - est).abs() < 0.02);
        }
    }
}
