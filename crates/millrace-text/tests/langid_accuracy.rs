//! Accuracy of `detect_language` on real multilingual documents.
//!
//! `sample_docs_accuracy` runs on the crate's own sample (`tests/data/sample-docs.jsonl`).
//! `corpus_accuracy` is ignored: it measures accuracy and speed on a whole labelled corpus, plain
//! or zstd-compressed JSONL (a relative path is taken from this crate's folder), e.g.
//! `MILLRACE_LANGID_CORPUS=../../../shared/bench/labelled/corpus-8mb.jsonl.zst cargo test --release -p millrace-text --test langid_accuracy -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::time::Instant;

use millrace_text::{LangIdParams, detect_language};

fn labelled_text_docs(jsonl: &str) -> Vec<(String, String)> {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["format"] == "text")
        .filter_map(|v| {
            Some((
                v["lang"].as_str()?.to_string(),
                v["text"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn accuracy(docs: &[(String, String)], p: &LangIdParams) -> (f64, BTreeMap<String, usize>) {
    let mut ok = 0;
    let mut errors = BTreeMap::new();
    for (lang, text) in docs {
        let got = detect_language(text, p).map_or("none", |(l, _)| l);
        if got == lang {
            ok += 1;
        } else {
            *errors.entry(format!("{lang}->{got}")).or_insert(0) += 1;
        }
    }
    (ok as f64 / docs.len().max(1) as f64, errors)
}

#[test]
fn sample_docs_accuracy() {
    let data = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sample-docs.jsonl"
    ))
    .expect("sample docs");
    let docs = labelled_text_docs(&data);
    assert!(docs.len() >= 40);
    let (acc, errors) = accuracy(&docs, &LangIdParams::default());
    println!(
        "accuracy {acc:.3} on {} docs, errors {errors:?}",
        docs.len()
    );
    assert!(acc >= 0.9, "accuracy {acc:.3}, errors {errors:?}");
}

#[test]
#[ignore = "needs MILLRACE_LANGID_CORPUS pointing at a labelled corpus (.jsonl or .jsonl.zst)"]
fn corpus_accuracy() {
    let path = std::env::var("MILLRACE_LANGID_CORPUS").expect("set MILLRACE_LANGID_CORPUS");
    let docs = labelled_text_docs(&millrace_test_fixtures::read_text(path));
    for max_bytes in [512, 2048, 8192, 0] {
        let p = LangIdParams { max_bytes };
        let bytes: usize = docs
            .iter()
            .map(|d| {
                if max_bytes == 0 {
                    d.1.len()
                } else {
                    d.1.len().min(max_bytes)
                }
            })
            .sum();
        let t = Instant::now();
        let (acc, errors) = accuracy(&docs, &p);
        let s = t.elapsed().as_secs_f64();
        println!(
            "max_bytes {max_bytes:>5}: accuracy {acc:.3} on {} docs, {:.1} MB/s of detected bytes, {:.0} docs/s, errors {errors:?}",
            docs.len(),
            bytes as f64 / 1e6 / s,
            docs.len() as f64 / s
        );
    }
}
