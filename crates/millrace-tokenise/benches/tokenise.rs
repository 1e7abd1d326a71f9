//! Millrace `Tokeniser::encode_batch` against the raw `tokenizers` batch calls on the same
//! documents (the 310-document parity fixture: multilingual man pages, docs, HTML) with the
//! same rayon pool. GPT-2 byte-level BPE.
//!
//! `cargo bench -p millrace-tokenise --bench tokenise`; set `RAYON_NUM_THREADS` to pin threads.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use millrace_tokenise::{TokeniseParams, Tokeniser};

fn load_texts() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenise_docs.jsonl.zst");
    millrace_test_fixtures::read_jsonl::<serde_json::Value>(path)
        .into_iter()
        .map(|v| v["text"].as_str().expect("text").to_string())
        .collect()
}

fn gpt2() -> Tokeniser {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gpt2-bytelevel-bpe.tokenizer.json");
    Tokeniser::new(&TokeniseParams {
        tokenizer: path.display().to_string(),
        ..Default::default()
    })
    .expect("gpt2")
}

/// Interleaved best-of-N timing, so machine noise hits every variant alike; prints tokens/s.
fn report(tok: &Tokeniser, texts: &[&str]) {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let raw = tok.inner();
    let variants: [(&str, &dyn Fn() -> usize); 3] = [
        ("millrace encode_batch", &|| {
            tok.encode_batch(texts)
                .expect("encode")
                .iter()
                .map(Vec::len)
                .sum()
        }),
        ("tokenizers encode_batch", &|| {
            raw.encode_batch(texts.to_vec(), false)
                .expect("encode")
                .iter()
                .map(|e| e.len())
                .sum()
        }),
        ("tokenizers encode_batch_fast", &|| {
            raw.encode_batch_fast(texts.to_vec(), false)
                .expect("encode")
                .iter()
                .map(|e| e.len())
                .sum()
        }),
    ];
    let mut best = [Duration::MAX; 3];
    let mut tokens = [0usize; 3];
    for _ in 0..7 {
        for (i, (_, f)) in variants.iter().enumerate() {
            let t = Instant::now();
            tokens[i] = black_box(f());
            best[i] = best[i].min(t.elapsed());
        }
    }
    println!(
        "\n{} docs, {:.2} MB, rayon threads {}",
        texts.len(),
        bytes as f64 / 1e6,
        rayon::current_num_threads()
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let s = best[i].as_secs_f64();
        println!(
            "{name:30} {:>9} tokens  {:>8.0} k tokens/s  {:>6.2} MB/s  ({:.3} s best of 7)",
            tokens[i],
            tokens[i] as f64 / s / 1e3,
            bytes as f64 / s / 1e6,
            s
        );
    }
    println!(
        "millrace / tokenizers encode_batch throughput: {:.3} (>= 0.95 required)\n",
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let owned = load_texts();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let tok = gpt2();
    report(&tok, &texts);

    let mut g = c.benchmark_group("gpt2_batch");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("millrace_encode_batch", |b| {
        b.iter(|| tok.encode_batch(black_box(&texts)).expect("encode"))
    });
    g.bench_function("tokenizers_encode_batch", |b| {
        b.iter(|| {
            tok.inner()
                .encode_batch(black_box(texts.clone()), false)
                .expect("encode")
        })
    });
    g.bench_function("millrace_count_tokens", |b| {
        b.iter(|| tok.count_tokens(black_box(&texts)).expect("count"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
