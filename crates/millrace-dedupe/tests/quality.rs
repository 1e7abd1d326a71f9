//! Dedup quality against the labelled corpus (raw text, HTML included), scored like
//! `score_dedup.py`. Prints P/R/F1 for exact, MinHash and both, plus the verification variants.

mod common;

use std::collections::HashSet;

use millrace_dedupe::{DedupeParams, Deduper, ExactParams, MinHashParams};

fn run(docs: &[common::Doc], params: &DedupeParams) -> (HashSet<String>, Vec<(String, String)>) {
    let mut d = Deduper::new(params, None).expect("params");
    let batch: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    d.add_batch(&batch).expect("add");
    let out = d.finish(None, None).expect("finish");
    let mut removed = HashSet::new();
    let mut pairs = Vec::new();
    for (id, dup) in out.iter() {
        if let Some(k) = dup {
            removed.insert(id.to_string());
            pairs.push((id.to_string(), k.to_string()));
        }
    }
    (removed, pairs)
}

#[test]
fn quality_on_labelled_corpus() {
    let docs = common::corpus();
    let labels = common::labels();
    assert_eq!(docs.len(), 848);
    let base = DedupeParams::default();
    let exact_only = DedupeParams {
        minhash: MinHashParams {
            enabled: false,
            ..base.minhash.clone()
        },
        ..base.clone()
    };
    let minhash_only = DedupeParams {
        exact: ExactParams {
            enabled: false,
            ..base.exact.clone()
        },
        ..base.clone()
    };
    let mut results = Vec::new();
    let mut variants: Vec<(String, DedupeParams)> = vec![
        (
            "exact (raw bytes)".into(),
            DedupeParams {
                exact: ExactParams {
                    enabled: true,
                    normalise: false,
                },
                ..exact_only.clone()
            },
        ),
        ("exact (folded, default)".into(), exact_only),
        ("minhash".into(), minhash_only),
        ("combined (default)".into(), base.clone()),
    ];
    for t in [0.5, 0.6, 0.7] {
        variants.push((
            format!("combined, verify >= {t}"),
            DedupeParams {
                verify_threshold: Some(t),
                ..base.clone()
            },
        ));
    }
    for (name, p) in &variants {
        let (removed, pairs) = run(&docs, p);
        let s = common::score(&labels, &removed);
        println!(
            "{name:<28} removed {:>3} expected {:>3} TP {:>3}  P {:.4} R {:.4} F1 {:.4}",
            s.removed, s.expected, s.tp, s.precision, s.recall, s.f1
        );
        // False positives: removed docs whose kept doc is not in their labelled group.
        for (id, kept) in &pairs {
            let g = labels.get(id).and_then(|l| l.dup_group.clone());
            let gk = labels.get(kept).and_then(|l| l.dup_group.clone());
            if g.is_none() || g != gk {
                println!("    unlabelled removal: {id} -> {kept}");
            }
        }
        results.push((name.clone(), s));
    }
    // Pair recall of near copies (as score_dedup.py's pair breakdown): a near copy is linked
    // when it ends in the same cluster as its original (same kept document).
    let mut d = Deduper::new(&base, None).expect("params");
    let batch: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    d.add_batch(&batch).expect("add");
    let out = d.finish(None, None).expect("finish");
    let keeper: std::collections::HashMap<&str, &str> =
        out.iter().map(|(id, k)| (id, k.unwrap_or(id))).collect();
    let (mut linked, mut pairs, mut missed) = (0, 0, Vec::new());
    for l in labels.values().filter(|l| l.is_near_dup) {
        let Some(o) = &l.dup_of else { continue };
        pairs += 1;
        if keeper.get(l.id.as_str()) == keeper.get(o.as_str()) {
            linked += 1;
        } else {
            missed.push(l.id.as_str());
        }
    }
    missed.sort_unstable();
    println!("near-copy pair recall (default): {linked}/{pairs}; not linked: {missed:?}");
    assert!(
        linked as f64 / pairs as f64 >= 0.8,
        "near-copy pair recall {linked}/{pairs}"
    );

    let combined = results
        .iter()
        .find(|(n, _)| n == "combined (default)")
        .map(|(_, s)| *s)
        .expect("combined");
    assert!(
        combined.precision >= 0.95,
        "precision {:.4} < 0.95",
        combined.precision
    );
    assert!(
        combined.recall >= 0.90,
        "recall {:.4} < 0.90",
        combined.recall
    );
}
