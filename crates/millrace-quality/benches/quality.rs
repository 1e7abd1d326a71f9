//! Throughput of the quality filters on the parity corpus (557 real documents, 4 MB):
//! `cargo bench -p millrace-quality --bench quality`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use millrace_quality::{
    C4QualityParams, FilterSpec, FineWebQualityParams, GopherQualityParams, GopherRepetitionParams,
    QualityPipeline,
};
use std::hint::black_box;

fn corpus() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/parity/corpus.jsonl.zst"
    );
    millrace_test_fixtures::read_jsonl::<serde_json::Value>(path)
        .into_iter()
        .filter(|v| v["format"].as_str() == Some("text"))
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let configs: Vec<(&str, Vec<FilterSpec>)> = vec![
        (
            "gopher_quality",
            vec![FilterSpec::GopherQuality(GopherQualityParams::default())],
        ),
        (
            "gopher_repetition",
            vec![FilterSpec::GopherRepetition(
                GopherRepetitionParams::default(),
            )],
        ),
        (
            "c4_quality",
            vec![FilterSpec::C4Quality(C4QualityParams::default())],
        ),
        (
            "fineweb_quality",
            vec![FilterSpec::FineWebQuality(FineWebQualityParams::default())],
        ),
        (
            // All four on every document (each run on the original text, no early exit), i.e.
            // the cost of evaluating the whole FineWeb-style filter set.
            "all_four_independent",
            vec![
                FilterSpec::GopherRepetition(GopherRepetitionParams::default()),
                FilterSpec::GopherQuality(GopherQualityParams::default()),
                FilterSpec::C4Quality(C4QualityParams::default()),
                FilterSpec::FineWebQuality(FineWebQualityParams::default()),
            ],
        ),
    ];
    let mut g = c.benchmark_group("quality");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    for (name, specs) in &configs {
        let pipeline = QualityPipeline::new(specs).expect("valid specs");
        if *name == "all_four_independent" {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    for d in &docs {
                        for f in pipeline.filters() {
                            black_box(f.apply(black_box(d)));
                        }
                    }
                })
            });
        } else {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    for d in &docs {
                        black_box(pipeline.run(black_box(d)));
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
