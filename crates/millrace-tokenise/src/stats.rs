//! Token statistics over documents, mergeable across threads.

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two. Lengths below `2 * SUB` land in exact buckets; above that a
/// bucket spans 1/SUB of its octave, so a reported percentile is within 1/128 (0.8 %) of the
/// true value while the histogram stays bounded (at most ~7,400 counters for any u64).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

fn bucket_of(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = exp - SUB_BITS;
    let mantissa = v >> shift; // in [SUB, 2 * SUB)
    ((u64::from(shift) + 1) * SUB + (mantissa - SUB)) as usize
}

/// Largest value that falls in bucket `b`.
fn bucket_upper(b: usize) -> u64 {
    let b = b as u64;
    if b < 2 * SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let mantissa = b % SUB + SUB;
    // u128 because the top bucket's bound is 2^64 - 1 only after subtracting.
    let upper = (u128::from(mantissa + 1) << shift) - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

/// Tokens-per-document accumulator: totals, min/max and a log-linear histogram.
///
/// Build one per thread and [`merge`](TokenStats::merge) them; serialises as its
/// [`TokenStatsSummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenStats {
    documents: u64,
    tokens: u64,
    min: u64,
    max: u64,
    histogram: Vec<u64>,
}

/// The serialisable digest of [`TokenStats`] for run summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenStatsSummary {
    pub documents: u64,
    pub tokens: u64,
    pub mean: f64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl TokenStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one document of `n` tokens.
    pub fn add(&mut self, n: u64) {
        self.min = if self.documents == 0 {
            n
        } else {
            self.min.min(n)
        };
        self.max = self.max.max(n);
        self.documents += 1;
        self.tokens = self.tokens.saturating_add(n);
        let b = bucket_of(n);
        if self.histogram.len() <= b {
            self.histogram.resize(b + 1, 0);
        }
        self.histogram[b] += 1;
    }

    /// Records every document of a batch of encodings.
    pub fn add_batch<T: AsRef<[u32]>>(&mut self, docs: &[T]) {
        for d in docs {
            self.add(d.as_ref().len() as u64);
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &TokenStats) {
        if other.documents == 0 {
            return;
        }
        self.min = if self.documents == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.documents += other.documents;
        self.tokens = self.tokens.saturating_add(other.tokens);
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a += b;
        }
    }

    /// Documents recorded.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Tokens recorded.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Longest document (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Shortest document (0 when empty).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Nearest-rank percentile `p` (0–100) of tokens per document: exact below 256 tokens,
    /// otherwise the upper edge of its histogram bucket (≤ 0.8 % high), never above the max.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.documents == 0 {
            return 0;
        }
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
        let rank = ((p / 100.0) * self.documents as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (b, &count) in self.histogram.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_upper(b).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The digest for run summaries.
    pub fn summary(&self) -> TokenStatsSummary {
        TokenStatsSummary {
            documents: self.documents,
            tokens: self.tokens,
            mean: if self.documents == 0 {
                0.0
            } else {
                self.tokens as f64 / self.documents as f64
            },
            min: self.min,
            p50: self.percentile(50.0),
            p90: self.percentile(90.0),
            p99: self.percentile(99.0),
            max: self.max,
        }
    }
}

impl Serialize for TokenStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.summary().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut prev = 0;
        for v in (0u64..5_000).chain([1 << 20, (1 << 20) + 12_345, u32::MAX as u64, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= prev, "bucket order at {v}");
            prev = b;
            let up = bucket_upper(b);
            assert!(up >= v, "upper {up} < {v}");
            assert!(
                (up - v) as f64 <= v as f64 / SUB as f64 + 1.0,
                "bucket of {v} too wide: {up}"
            );
            if v < 2 * SUB {
                assert_eq!(up, v);
            }
        }
    }

    #[test]
    fn percentiles_exact_for_small_values() {
        let mut s = TokenStats::new();
        for v in 1..=100 {
            s.add(v);
        }
        assert_eq!(s.percentile(50.0), 50);
        assert_eq!(s.percentile(90.0), 90);
        assert_eq!(s.percentile(99.0), 99);
        assert_eq!(s.percentile(100.0), 100);
        assert_eq!(s.percentile(0.0), 1);
        assert_eq!(s.tokens(), 5050);
        assert_eq!(s.min(), 1);
    }

    #[test]
    fn percentiles_close_for_large_values() {
        let mut s = TokenStats::new();
        let vals: Vec<u64> = (0..10_000u64).map(|i| 1000 + i * 37).collect();
        for &v in &vals {
            s.add(v);
        }
        for p in [50.0, 90.0, 99.0] {
            let exact = vals[((p / 100.0) * vals.len() as f64).ceil() as usize - 1];
            let got = s.percentile(p);
            assert!(
                got >= exact && (got - exact) as f64 <= exact as f64 / 128.0,
                "p{p}: {got} vs {exact}"
            );
        }
        assert_eq!(s.max(), *vals.last().unwrap());
    }

    #[test]
    fn merge_equals_sequential() {
        let vals: Vec<u64> = (0..3000u64).map(|i| (i * 7919) % 20_011).collect();
        let mut all = TokenStats::new();
        vals.iter().for_each(|&v| all.add(v));
        let mut a = TokenStats::new();
        let mut b = TokenStats::new();
        vals[..1234].iter().for_each(|&v| a.add(v));
        vals[1234..].iter().for_each(|&v| b.add(v));
        let mut merged = TokenStats::new();
        merged.merge(&b);
        merged.merge(&a);
        merged.merge(&TokenStats::new());
        assert_eq!(merged.summary(), all.summary());
        assert_eq!(merged.documents(), 3000);
    }

    #[test]
    fn serialises_summary() {
        let mut s = TokenStats::new();
        s.add_batch(&[vec![1u32, 2, 3], vec![4]]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["documents"], 2);
        assert_eq!(json["tokens"], 4);
        assert_eq!(json["max"], 3);
        assert_eq!(json["p50"], 1);
        assert_eq!(TokenStats::new().summary().p99, 0);
    }
}
