//! Throughput of Millrace dedupe on the labelled 8 MB corpus (raw text, HTML included):
//! * `signature/1-core`: MinHash signature + band keys, one thread (MB/s per core);
//! * `text_hash/folded` and `text_hash/raw`: exact hashes, one thread;
//! * `dedupe/exact+minhash`: the whole run (parallel sketches with rayon's global pool,
//!   clustering, no spill).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use millrace_dedupe::{DedupeParams, Deduper, MinHashParams, MinHasher, text_hash};

fn corpus() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/corpus-8mb.jsonl.zst"
    );
    millrace_test_fixtures::read_jsonl::<serde_json::Value>(path)
        .into_iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_string(),
                v["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = corpus();
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let params = MinHashParams::default();
    let hasher = MinHasher::new(&params).expect("params");

    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("1-core", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (_, t) in &docs {
                let sig = hasher.signature(t);
                n += hasher.band_keys(&sig).len();
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("text_hash");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for (name, fold) in [("folded", true), ("raw", false)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                docs.iter()
                    .fold(0u128, |acc, (_, t)| acc ^ text_hash(t, fold))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("dedupe");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    let batch: Vec<(&str, &str)> = docs.iter().map(|(i, t)| (i.as_str(), t.as_str())).collect();
    let dp = DedupeParams::default();
    g.bench_function("exact+minhash", |b| {
        b.iter(|| {
            let mut d = Deduper::new(&dp, None).expect("params");
            d.add_batch(&batch).expect("add");
            let out = d.finish(None, None).expect("finish");
            black_box(out.stats().duplicates)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
