//! The profile of the rows a run writes (document length and tokens-per-document histograms,
//! language mix, non-null counts per column), accumulated from the batches on their way to the
//! sinks, so that the report never reads the output back.
//!
//! Each writer task profiles its own partition; the epoch's partitions are merged into the run's
//! profile only when the epoch commits, so the profile covers exactly the committed rows.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use crate::udf::is_string;
use millrace_report::Histogram;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Edges 0, 1, 2, 5, 10, 20, 50, ... 1e10: log-spaced and readable.
static LOG_EDGES: LazyLock<Vec<f64>> = LazyLock::new(|| {
    let mut e = vec![0.0];
    let mut decade = 1.0;
    while decade <= 1e9 {
        for m in [1.0, 2.0, 5.0] {
            e.push(m * decade);
        }
        decade *= 10.0;
    }
    e.push(1e10);
    e
});

/// The bucket of `x` over [`LOG_EDGES`]: `k` with `edges[k] <= x < edges[k + 1]`; values below the
/// first inner edge fall in the first bucket and values at or past the last inner edge in the last.
fn bucket(x: f64) -> usize {
    let last = LOG_EDGES.len() - 2;
    LOG_EDGES[1..=last].iter().position(|e| x < *e).unwrap_or(last)
}

/// Counts per bucket of [`LOG_EDGES`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LogCounts(Vec<u64>);

impl LogCounts {
    fn add(&mut self, x: f64) {
        if self.0.is_empty() {
            self.0 = vec![0; LOG_EDGES.len() - 1];
        }
        self.0[bucket(x)] += 1;
    }

    fn merge(&mut self, other: &LogCounts) {
        if self.0.is_empty() {
            self.0 = other.0.clone();
        } else {
            for (a, b) in self.0.iter_mut().zip(&other.0) {
                *a += b;
            }
        }
    }

    /// The histogram trimmed to the buckets between the first and last non-empty one.
    pub(crate) fn histogram(&self) -> Histogram {
        let edges = &*LOG_EDGES;
        let (Some(lo), Some(hi)) = (self.0.iter().position(|c| *c > 0), self.0.iter().rposition(|c| *c > 0)) else {
            return Histogram::default();
        };
        Histogram { edges: edges[lo..=hi + 1].to_vec(), counts: self.0[lo..=hi].to_vec() }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OutputProfile {
    pub rows: u64,
    pub(crate) doc_length_chars: LogCounts,
    pub(crate) tokens_per_doc: LogCounts,
    /// Rows per `lang` value (null or empty as `unknown`); empty when there is no `lang` column.
    pub language_mix: BTreeMap<String, u64>,
    /// Non-null values per column name.
    pub non_null: BTreeMap<String, u64>,
}

impl OutputProfile {
    /// Adds a batch as written (reject column already removed). `text` is the source's text field;
    /// a `text` column is used when that one is not a string column.
    pub fn observe(&mut self, batch: &RecordBatch, text: &str) {
        self.rows += batch.num_rows() as u64;
        let schema = batch.schema();
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            *self.non_null.entry(f.name().clone()).or_default() += (c.len() - c.null_count()) as u64;
        }
        let is_str = |n: &str| schema.field_with_name(n).map(|f| is_string(f.data_type())).unwrap_or(false);
        if let Some(t) = [text, "text"].into_iter().find(|n| is_str(n)) {
            if let Some(col) = batch.column_by_name(t).and_then(|c| cast(c, &DataType::Utf8).ok()) {
                let s = col.as_string::<i32>();
                for i in 0..s.len() {
                    if s.is_valid(i) {
                        self.doc_length_chars.add(s.value(i).chars().count() as f64);
                    }
                }
            }
        }
        if let Some(c) = batch.column_by_name("n_tokens").filter(|c| c.data_type().is_numeric()) {
            if let Ok(v) = cast(c, &DataType::Float64) {
                let v = v.as_primitive::<Float64Type>();
                for i in 0..v.len() {
                    if v.is_valid(i) {
                        self.tokens_per_doc.add(v.value(i));
                    }
                }
            }
        }
        if let Some(c) = batch.column_by_name("lang") {
            if let Ok(l) = cast(c, &DataType::Utf8) {
                let l = l.as_string::<i32>();
                for i in 0..l.len() {
                    let k = if l.is_null(i) || l.value(i).is_empty() { "unknown" } else { l.value(i) };
                    count_bounded(&mut self.language_mix, k, 1);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &OutputProfile) {
        self.rows += other.rows;
        self.doc_length_chars.merge(&other.doc_length_chars);
        self.tokens_per_doc.merge(&other.tokens_per_doc);
        for (k, v) in &other.language_mix {
            count_bounded(&mut self.language_mix, k, *v);
        }
        for (k, v) in &other.non_null {
            *self.non_null.entry(k.clone()).or_default() += v;
        }
    }

    pub fn doc_length_histogram(&self) -> Histogram {
        self.doc_length_chars.histogram()
    }

    pub fn tokens_histogram(&self) -> Histogram {
        self.tokens_per_doc.histogram()
    }
}

/// Distinct `lang` values a profile keeps; the rest count under [`OTHER_LANGUAGES`]. A `lang`
/// column of arbitrary strings must not grow the report (or memory) with the data.
pub const MAX_LANGUAGES: usize = 256;
pub const OTHER_LANGUAGES: &str = "(other)";

fn count_bounded(mix: &mut BTreeMap<String, u64>, k: &str, n: u64) {
    if let Some(c) = mix.get_mut(k) {
        *c += n;
    } else if mix.len() < MAX_LANGUAGES {
        mix.insert(k.to_string(), n);
    } else {
        *mix.entry(OTHER_LANGUAGES.to_string()).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringArray, UInt32Array};
    use std::sync::Arc;

    #[test]
    fn edges_are_ascending_and_readable() {
        let e = &*LOG_EDGES;
        assert_eq!(&e[..6], &[0.0, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*e.last().unwrap_or(&0.0), 1e10);
    }

    #[test]
    fn buckets_are_half_open() {
        assert_eq!(bucket(-3.0), 0);
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.5), 0);
        assert_eq!(bucket(1.0), 1);
        assert_eq!(bucket(4.99), 2);
        assert_eq!(bucket(5.0), 3);
        assert_eq!(bucket(1e12), LOG_EDGES.len() - 2);
    }

    fn batch(texts: &[Option<&str>], tokens: &[Option<u32>], langs: &[Option<&str>]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            ("text", Arc::new(StringArray::from(texts.to_vec())) as ArrayRef),
            ("n_tokens", Arc::new(UInt32Array::from(tokens.to_vec())) as ArrayRef),
            ("lang", Arc::new(StringArray::from(langs.to_vec())) as ArrayRef),
        ])
        .expect("batch")
    }

    #[test]
    fn profiles_merge_to_the_whole() {
        let a = batch(&[Some("héllo"), None], &[Some(3), Some(700)], &[Some("en"), None]);
        let b = batch(&[Some("a longer document of text")], &[None], &[Some("")]);
        let mut p1 = OutputProfile::default();
        p1.observe(&a, "text");
        let mut p2 = OutputProfile::default();
        p2.observe(&b, "text");
        let mut whole = OutputProfile::default();
        whole.merge(&p1);
        whole.merge(&p2);

        assert_eq!(whole.rows, 3);
        // "héllo" is 5 characters (not 6 bytes): bucket [5, 10); 25 characters: [20, 50).
        let h = whole.doc_length_histogram();
        assert_eq!(h.edges, vec![5.0, 10.0, 20.0, 50.0]);
        assert_eq!(h.counts, vec![1, 0, 1]);
        let t = whole.tokens_histogram();
        assert_eq!(t.edges.first(), Some(&2.0));
        assert_eq!(t.edges.last(), Some(&1000.0));
        assert_eq!(t.counts.iter().sum::<u64>(), 2);
        assert_eq!(whole.language_mix, BTreeMap::from([("en".to_string(), 1), ("unknown".to_string(), 2)]));
        let mut many = BTreeMap::new();
        for i in 0..10_000 {
            count_bounded(&mut many, &format!("l{i}"), 1);
        }
        assert!(many.len() <= MAX_LANGUAGES + 1);
        assert_eq!(many.values().sum::<u64>(), 10_000);
        assert_eq!(whole.non_null["text"], 2);
        assert_eq!(whole.non_null["n_tokens"], 2);
        assert_eq!(whole.non_null["lang"], 2);
    }
}
