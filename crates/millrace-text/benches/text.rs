//! Throughput (MB/s of input) of Millrace's text stages on real documents from
//! `tests/data/sample-docs.jsonl` (HTML pages and multilingual text from the labelled corpus).
//! Run: `cargo bench -p millrace-text --bench text`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use millrace_text::{
    CleanMode, CleanParams, LangIdParams, LineFilters, NormalForm, NormaliseParams, PiiParams,
    clean, detect_language, normalise, redact_pii,
};

struct Docs {
    html: Vec<String>,
    text: Vec<String>,
}

fn load() -> Docs {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-docs.jsonl");
    let data =
        std::fs::read_to_string(path).expect("tests/data/sample-docs.jsonl is part of the crate");
    let mut docs = Docs {
        html: Vec::new(),
        text: Vec::new(),
    };
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSONL");
        let text = v["text"].as_str().unwrap_or_default().to_string();
        if v["format"] == "html" {
            docs.html.push(text)
        } else {
            docs.text.push(text)
        }
    }
    docs
}

fn bytes(v: &[String]) -> u64 {
    v.iter().map(|s| s.len() as u64).sum()
}

fn benches(c: &mut Criterion) {
    let docs = load();
    let all: Vec<String> = docs.html.iter().chain(&docs.text).cloned().collect();

    let mut g = c.benchmark_group("clean");
    g.throughput(Throughput::Bytes(bytes(&docs.html)));
    let p = CleanParams::default();
    g.bench_function("html_default", |b| {
        b.iter(|| {
            for d in &docs.html {
                black_box(clean(d, &p));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes(&docs.text)));
    let p = CleanParams {
        mode: CleanMode::Text,
        line_filters: LineFilters::c4(),
        ..Default::default()
    };
    g.bench_function("text_c4_lines", |b| {
        b.iter(|| {
            for d in &docs.text {
                black_box(clean(d, &p));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("normalise");
    g.throughput(Throughput::Bytes(bytes(&docs.text)));
    let p = NormaliseParams::default();
    g.bench_function("nfc_default", |b| {
        b.iter(|| {
            for d in &docs.text {
                black_box(normalise(d, &p));
            }
        })
    });
    let p = NormaliseParams {
        form: NormalForm::Nfkc,
        lowercase: true,
        canonical_quotes: true,
        canonical_dashes: true,
        ..Default::default()
    };
    g.bench_function("nfkc_all_rules", |b| {
        b.iter(|| {
            for d in &docs.text {
                black_box(normalise(d, &p));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pii");
    g.throughput(Throughput::Bytes(bytes(&all)));
    let p = PiiParams::default();
    g.bench_function("redact_all_kinds", |b| {
        b.iter(|| {
            for d in &all {
                black_box(redact_pii(d, &p));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("langid");
    g.throughput(Throughput::Bytes(bytes(&docs.text)));
    let p = LangIdParams::default();
    g.bench_function("prefix_2k", |b| {
        b.iter(|| {
            for d in &docs.text {
                black_box(detect_language(d, &p));
            }
        })
    });
    let p = LangIdParams { max_bytes: 0 };
    g.bench_function("whole_doc", |b| {
        b.iter(|| {
            for d in &docs.text {
                black_box(detect_language(d, &p));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = text;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(text);
