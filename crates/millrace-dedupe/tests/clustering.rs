//! Determinism, spilling, keep rules and the incremental index.

mod common;

use std::collections::{HashMap, HashSet};

use millrace_dedupe::{DedupeError, DedupeIndex, DedupeParams, Deduper, KeepRule, MinHashParams};

type Verdicts = HashMap<String, Option<String>>;

fn run_docs(
    docs: &[(&str, &str)],
    params: &DedupeParams,
    budget: Option<u64>,
    spill: Option<&std::path::Path>,
) -> (Verdicts, u64) {
    let mut d = Deduper::new(params, spill.map(|p| p.to_path_buf())).expect("params");
    if let Some(b) = budget {
        d.set_memory_budget_bytes(b);
    }
    // Feed in several batches, like the engine does.
    for chunk in docs.chunks(97) {
        d.add_batch(chunk).expect("add");
    }
    let out = d.finish(None, None).expect("finish");
    let runs = out.stats().spilled_runs;
    (
        out.iter()
            .map(|(i, k)| (i.to_string(), k.map(str::to_string)))
            .collect(),
        runs,
    )
}

fn corpus_pairs(docs: &[common::Doc]) -> Vec<(&str, &str)> {
    docs.iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect()
}

/// Deterministic Fisher-Yates with a fixed LCG (no RNG dependency).
fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    let mut s = seed;
    for i in (1..out.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) as usize) % (i + 1);
        out.swap(i, j);
    }
    out
}

/// Segment bytes as the files an index opens.
fn files(segs: &[&[u8]]) -> Vec<std::fs::File> {
    use std::io::Write;
    segs.iter()
        .map(|b| {
            let mut f = tempfile::tempfile().expect("tempfile");
            f.write_all(b).expect("write");
            f
        })
        .collect()
}

#[test]
fn same_result_for_any_thread_count_and_order() {
    let docs = common::corpus();
    let pairs = corpus_pairs(&docs);
    for keep in [KeepRule::SmallestId, KeepRule::Longest] {
        let params = DedupeParams {
            keep,
            ..DedupeParams::default()
        };
        let pool1 = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let pool4 = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .expect("pool");
        let (a, _) = pool1.install(|| run_docs(&pairs, &params, None, None));
        let (b, _) = pool4.install(|| run_docs(&pairs, &params, None, None));
        assert_eq!(a, b, "{keep:?}: 1 thread vs 4 threads");
        let removed = a.values().filter(|v| v.is_some()).count();
        assert!(
            removed > 50,
            "the corpus has duplicates ({removed} removed)"
        );
        for seed in [1u64, 2] {
            let (c, _) = run_docs(&shuffled(&pairs, seed), &params, None, None);
            assert_eq!(a, c, "{keep:?}: shuffled order (seed {seed})");
        }
    }
    // With verification on, the links are still order independent.
    let params = DedupeParams {
        verify_threshold: Some(0.6),
        ..DedupeParams::default()
    };
    let (a, _) = run_docs(&pairs, &params, None, None);
    let (c, _) = run_docs(&shuffled(&pairs, 3), &params, None, None);
    assert_eq!(a, c, "verified links, shuffled order");
}

#[test]
fn smallest_id_keeps_the_smallest_id_of_each_cluster() {
    let docs = common::corpus();
    let (v, _) = run_docs(&corpus_pairs(&docs), &DedupeParams::default(), None, None);
    for (id, k) in &v {
        if let Some(k) = k {
            assert!(k < id, "{id} kept {k}");
            assert_eq!(
                v.get(k),
                Some(&None),
                "the kept document {k} is itself kept"
            );
        }
    }
}

#[test]
fn keep_rules_pick_the_documented_member() {
    let base = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau";
    let longer = format!("{base} upsilon");
    let docs = [("b", base), ("c", longer.as_str()), ("a", base)];
    let get = |keep| {
        let (v, _) = run_docs(
            &docs,
            &DedupeParams {
                keep,
                ..DedupeParams::default()
            },
            None,
            None,
        );
        v
    };
    let v = get(KeepRule::SmallestId);
    assert_eq!(v["a"], None);
    assert_eq!(v["b"].as_deref(), Some("a"));
    assert_eq!(v["c"].as_deref(), Some("a"));
    let v = get(KeepRule::Longest);
    assert_eq!(v["c"], None);
    assert_eq!(v["a"].as_deref(), Some("c"));
    let v = get(KeepRule::FirstSeen);
    assert_eq!(v["b"], None);
    assert_eq!(v["a"].as_deref(), Some("b"));
    assert_eq!(v["c"].as_deref(), Some("b"));
}

#[test]
fn tiny_memory_budget_spills_and_gives_the_same_result() {
    let docs = common::corpus();
    let pairs = corpus_pairs(&docs);
    let dir = tempfile::tempdir().expect("tempdir");
    let params = DedupeParams::default();
    let (in_mem, runs0) = run_docs(&pairs, &params, None, Some(dir.path()));
    assert_eq!(runs0, 0);
    // 848 docs x 15 postings x 16 B = ~200 KB; 8 KB forces ~25 runs.
    let (spilled, runs) = run_docs(&pairs, &params, Some(8 * 1024), Some(dir.path()));
    assert!(runs >= 10, "expected many spilled runs, got {runs}");
    assert_eq!(in_mem, spilled);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read_dir").collect();
    assert!(left.is_empty(), "run files are removed after finish");
}

/// A non-repetitive text of `n` words drawn from a 5,000-word vocabulary.
fn pseudo_text(prefix: &str, n: usize, seed: u64) -> String {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{prefix}{}", (s >> 33) % 5000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn near_copy(text: &str) -> String {
    // Change one word in 80: word 5-gram Jaccard about 0.88, so a band collision is practically
    // certain (1 - (1 - 0.88^8)^14 > 0.9999).
    text.split(' ')
        .enumerate()
        .map(|(i, w)| if i % 80 == 7 { "CHANGED" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn second_run_reports_first_run_ids() {
    let text_x = pseudo_text("word", 400, 1);
    let text_y = pseudo_text("other", 400, 2);
    let text_z = pseudo_text("fresh", 400, 3);
    let params = DedupeParams::default();

    // Run 1: x (kept), its exact copy (removed), y (kept).
    let mut index = DedupeIndex::new(params.fingerprint());
    let mut d = Deduper::new(&params, None).expect("params");
    d.add_batch(&[("r1-x", &text_x), ("r1-xcopy", &text_x), ("r1-y", &text_y)])
        .expect("add");
    let mut seg1 = Vec::new();
    let out1 = d.finish(Some(&index), Some(&mut seg1)).expect("finish");
    assert_eq!(out1.duplicate_of(1), Some("r1-x"));
    index
        .add_segment("run-0001", &seg1)
        .expect("segment");
    assert_eq!(index.num_docs(), 2, "only kept documents are indexed");

    // The engine persists the manifest and the segment, then reloads them.
    let manifest = index.manifest_bytes();
    let index = DedupeIndex::open(&manifest, files(&[&seg1])).expect("reopen");

    // Run 2: a near copy and a case-folded exact copy of x, a near copy of y, new z and its copy.
    // Ids of run 2 sort before run 1's on purpose: indexed documents must still win.
    let x_near = near_copy(&text_x);
    let x_upper = text_x.to_uppercase();
    let y_near = near_copy(&text_y);
    let mut d = Deduper::new(&params, None).expect("params");
    d.add_batch(&[
        ("a-xnear", &x_near),
        ("a-xupper", &x_upper),
        ("a-ynear", &y_near),
        ("a-z", &text_z),
        ("a-zz", &text_z),
    ])
    .expect("add");
    let mut seg2 = Vec::new();
    let out2 = d.finish(Some(&index), Some(&mut seg2)).expect("finish");
    let v: HashMap<&str, Option<&str>> = out2.iter().collect();
    assert_eq!(v["a-xnear"], Some("r1-x"));
    assert_eq!(v["a-xupper"], Some("r1-x"));
    assert_eq!(v["a-ynear"], Some("r1-y"));
    assert_eq!(v["a-z"], None);
    assert_eq!(v["a-zz"], Some("a-z"));
    assert!(out2.is_duplicate_of_indexed(0));
    assert!(!out2.is_duplicate_of_indexed(4));
    assert_eq!(out2.stats().duplicates_of_indexed, 3);

    // Run 3 sees both segments; z now comes from run 2.
    let mut index = index;
    index
        .add_segment("run-0002", &seg2)
        .expect("segment 2");
    assert_eq!(index.num_docs(), 3);
    let index = DedupeIndex::open(&index.manifest_bytes(), files(&[&seg1, &seg2])).expect("reopen 2");
    let mut d = Deduper::new(&params, None).expect("params");
    d.add_batch(&[("0", &text_z), ("1", &text_x)]).expect("add");
    let out3 = d.finish(Some(&index), None).expect("finish");
    assert_eq!(out3.duplicate_of(0), Some("a-z"));
    assert_eq!(out3.duplicate_of(1), Some("r1-x"));
}

#[test]
fn incremental_runs_on_the_labelled_corpus() {
    let docs = common::corpus();
    let labels = common::labels();
    let pairs = corpus_pairs(&docs);
    let (first, second) = pairs.split_at(pairs.len() / 2);
    let first_ids: HashSet<&str> = first.iter().map(|(i, _)| *i).collect();
    let params = DedupeParams::default();
    let mut index = DedupeIndex::new(params.fingerprint());
    let dir = tempfile::tempdir().expect("tempdir");

    let mut d = Deduper::new(&params, Some(dir.path().to_path_buf())).expect("params");
    d.set_memory_budget_bytes(16 * 1024); // spill in both passes of finish
    d.add_batch(first).expect("add");
    let mut seg = Vec::new();
    let out1 = d.finish(Some(&index), Some(&mut seg)).expect("finish");
    let kept1: HashSet<&str> = out1
        .iter()
        .filter(|(_, k)| k.is_none())
        .map(|(i, _)| i)
        .collect();
    index.add_segment("epoch-1", &seg).expect("segment");
    assert_eq!(index.num_docs(), kept1.len());

    let mut d = Deduper::new(&params, None).expect("params");
    d.add_batch(second).expect("add");
    let out2 = d.finish(Some(&index), None).expect("finish");
    let mut cross = 0;
    for (i, (id, dup)) in out2.iter().enumerate() {
        if let Some(k) = dup {
            if out2.is_duplicate_of_indexed(i) {
                cross += 1;
                assert!(first_ids.contains(k), "{id} -> {k} is not a first-run id");
                assert!(kept1.contains(k), "{id} -> {k} was not kept in run 1");
            } else {
                assert!(!first_ids.contains(k));
            }
        }
    }
    // Labelled copies in run 2 whose original was kept in run 1 must mostly be found.
    let expected_cross: Vec<&str> = second
        .iter()
        .filter(|(id, _)| {
            labels[*id]
                .dup_of
                .as_deref()
                .is_some_and(|o| kept1.contains(o))
        })
        .map(|(id, _)| *id)
        .collect();
    println!(
        "cross-run duplicates: {cross}; labelled copies of run-1 originals in run 2: {}",
        expected_cross.len()
    );
    let found = expected_cross
        .iter()
        .filter(|id| out2.iter().any(|(i, k)| i == **id && k.is_some()))
        .count();
    assert!(
        expected_cross.len() >= 10,
        "the split leaves cross-run copies"
    );
    assert!(
        found as f64 >= 0.85 * expected_cross.len() as f64,
        "{found}/{} cross-run copies found",
        expected_cross.len()
    );
}

#[test]
fn index_rejects_corruption_and_foreign_parameters() {
    let params = DedupeParams::default();
    let mut d = Deduper::new(&params, None).expect("params");
    d.add(
        "x",
        "some text that is long enough to have a few shingles in it",
    )
    .expect("add");
    let mut seg = Vec::new();
    d.finish(None, Some(&mut seg)).expect("finish");

    let mut index = DedupeIndex::new(params.fingerprint());
    let mut bad = seg.clone();
    bad[3] ^= 0x40;
    assert!(matches!(
        index.add_segment("s", &bad),
        Err(DedupeError::CorruptSegment { .. })
    ));
    assert!(matches!(
        index.add_segment("s", &seg[..seg.len() - 9]),
        Err(DedupeError::CorruptSegment { .. })
    ));
    assert!(matches!(
        index.add_segment("s", &[]),
        Err(DedupeError::CorruptSegment { .. })
    ));
    index.add_segment("s", &seg).expect("valid segment");
    assert!(matches!(
        index.add_segment("s", &seg),
        Err(DedupeError::DuplicateSegment { .. })
    ));

    let other = DedupeParams {
        minhash: MinHashParams {
            seed: 1,
            ..params.minhash.clone()
        },
        ..params.clone()
    };
    let d = Deduper::new(&other, None).expect("params");
    assert!(matches!(
        d.finish(Some(&index), None),
        Err(DedupeError::ParamsMismatch { .. })
    ));
    let mut foreign = DedupeIndex::new(other.fingerprint());
    assert!(matches!(
        foreign.add_segment("s", &seg),
        Err(DedupeError::ParamsMismatch { .. })
    ));

    assert!(matches!(
        DedupeIndex::open(b"{not json", Vec::new()),
        Err(DedupeError::InvalidManifest { .. })
    ));
    assert!(matches!(
        DedupeIndex::open(&index.manifest_bytes(), Vec::new()),
        Err(DedupeError::InvalidManifest { .. })
    ));
}

#[test]
fn params_from_yaml_style_json() {
    let p: DedupeParams = serde_json::from_str(
        r#"{"exact": {"fold": false}, "minhash": {"num_buckets": 20, "hashes_per_bucket": 5}, "keep": "longest", "verify": 0.6}"#,
    )
    .expect("parse");
    assert!(!p.exact.normalise);
    assert_eq!(
        (p.minhash.bands, p.minhash.rows, p.minhash.ngram),
        (20, 5, 5)
    );
    assert_eq!(p.keep, KeepRule::Longest);
    assert_eq!(p.verify_threshold, Some(0.6));
    assert!(serde_json::from_str::<DedupeParams>(r#"{"bogus": 1}"#).is_err());
    let bad = DedupeParams {
        verify_threshold: Some(1.5),
        ..DedupeParams::default()
    };
    assert!(matches!(
        Deduper::new(&bad, None),
        Err(DedupeError::InvalidParams { .. })
    ));
}
