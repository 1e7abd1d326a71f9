//! The library entry point does the whole job: a run returns typed epoch records with a per-step
//! funnel that reconciles with what is on disk, and the report is built from those records alone.

use millrace::{Exit, Pipeline, RunOptions};
use std::collections::BTreeMap;
use std::io::Write;

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("in.jsonl");
    let mut f = std::fs::File::create(&p).unwrap();
    for i in 0..60 {
        // Every 10th document repeats document 0 (dedupe), every 7th is short (the SQL stage drops
        // it), and one line is not JSON (the source rejects it).
        let text = if i % 10 == 0 && i > 0 {
            "the very first document of the corpus, with enough words to be kept".to_string()
        } else if i % 7 == 3 {
            "tiny".to_string()
        } else if i == 0 {
            "the very first document of the corpus, with enough words to be kept".to_string()
        } else {
            format!("document number {i} talks about rivers, mills and water in several words")
        };
        writeln!(f, "{}", serde_json::json!({"id": format!("d{i}"), "text": text})).unwrap();
    }
    writeln!(f, "{{not json").unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_reconciles_with_the_output_and_the_report_needs_no_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path());
    let out = tmp.path().join("out");
    let yaml = format!(
        "name: funnel\nsource:\n  files: {}\n  format: jsonl\n  epoch_bytes: 2KB\n  split_bytes: 1KB\nstages:\n  - clean: {{}}\n  - sql: \"SELECT * FROM input WHERE length(text) > 10\"\n  - dedupe: {{ method: exact }}\n  - filter: {{ where: \"id <> 'd1'\" }}\nsinks:\n  - jsonl: {}\nchecks:\n  - row_count: {{ min: 1 }}\n",
        input.display(),
        out.display()
    );
    let spec = millrace_spec::load_str(&yaml, "funnel.yaml", &[]).unwrap();
    let outcome = Pipeline::from_spec(spec).run(RunOptions { checks: Some(Default::default()), ..Default::default() }).await.unwrap();
    assert_eq!(outcome.exit(false), Exit::Success, "{:?}", outcome.error);
    let summary = outcome.summary.as_ref().unwrap();
    assert!(summary.epochs.len() > 1, "several epochs: {}", summary.epochs.len());

    // Steps: read, four stages, write; each step's rows in are the previous step's rows out.
    let names: Vec<&str> = summary.funnel.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["read", "1 clean", "2 sql", "3 dedupe", "4 filter", "write"]);
    for w in summary.funnel.windows(2) {
        assert_eq!(w[1].rows_in, w[0].rows_out, "{:?} -> {:?}", w[0].name, w[1].name);
    }
    for s in &summary.funnel {
        assert_eq!(s.rows_in, s.rows_out + s.rows_rejected + s.rows_filtered, "{s:?}");
    }
    let step = |n: &str| summary.funnel.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!((step("read").rows_in, step("read").rows_rejected), (61, 1));
    let short = (0..60).filter(|i| i % 7 == 3 && !(i % 10 == 0 && *i > 0) && *i != 0).count() as u64;
    assert_eq!(step("2 sql").rows_filtered, short);
    assert_eq!(step("3 dedupe").rows_rejected, 5);
    // Duplicates within an epoch are `exact`, of an earlier epoch `index`.
    let dedupe = step("3 dedupe").rejects_by_reason;
    assert!(dedupe.keys().all(|k| k == "dedupe:exact" || k == "dedupe:index"), "{dedupe:?}");
    assert_eq!(dedupe.values().sum::<u64>(), 5);
    assert_eq!(step("4 filter").rows_rejected, 1);
    assert_eq!(step("4 filter").rejects_by_reason, BTreeMap::from([("filter:where".to_string(), 1)]));
    assert!(summary.funnel.iter().any(|s| s.cpu_ns > 0), "CPU time is measured");

    // The funnel agrees with what is on disk: committed rows and rejects by reason.
    let committed: usize = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(committed as u64, step("write").rows_out);
    assert_eq!(committed as u64, summary.rows_written);
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    for e in std::fs::read_dir(out.join("_rejects")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            for l in std::fs::read_to_string(p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let reason = v["reason"].as_str().unwrap().split(": ").next().unwrap().to_string();
                *rejected.entry(reason).or_default() += 1;
            }
        }
    }
    let from_funnel: u64 = summary.funnel.iter().map(|s| s.rows_rejected).sum();
    assert_eq!(rejected.values().sum::<u64>(), from_funnel, "{rejected:?}");
    assert_eq!(rejected.iter().filter(|(k, _)| k.starts_with("dedupe:")).map(|(_, v)| v).sum::<u64>(), 5);
    assert_eq!(rejected.get("filter:where"), Some(&1));

    // Epoch records carry what each epoch published and consumed.
    for e in &summary.epochs {
        let cp = e.checkpoint.as_ref().expect("checkpointed");
        assert_eq!(cp.epoch, e.epoch);
        assert_eq!(e.manifests[0].rows, e.rows_written);
        assert!(e.committed_at >= e.started_at);
    }
    assert_eq!(summary.epochs.iter().map(|e| e.units).sum::<usize>(), summary.epochs.iter().map(|e| e.checkpoint.as_ref().unwrap().units.len()).sum::<usize>());

    // The report shows every step with its own counts.
    let report = &outcome.governance.report;
    let stages: Vec<(&str, u64, u64, u64)> = report.stages.iter().map(|s| (s.name.as_str(), s.rows_in, s.rows_out, s.rows_rejected)).collect();
    let want: Vec<(&str, u64, u64, u64)> = summary.funnel.iter().map(|s| (s.name.as_str(), s.rows_in, s.rows_out, s.rows_rejected)).collect();
    assert_eq!(stages, want);
    assert_eq!(report.sinks[0].files.len(), summary.epochs.iter().map(|e| e.manifests[0].files.len()).sum::<usize>());
    assert_eq!(report.epochs.len(), summary.epochs.len());
    assert_eq!(outcome.governance.checks.as_ref().unwrap().results.len(), 1);
    let html = std::fs::read_to_string(outcome.governance.html.as_ref().unwrap().trim_start_matches("file://")).unwrap();
    assert!(html.contains("3 dedupe") && html.contains("4 filter"), "every stage in the report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_start_maps_to_one_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!("name: none\nsource:\n  files: {}/nothing-*.jsonl\nsinks:\n  - jsonl: {}/out\n", tmp.path().display(), tmp.path().display());
    let spec = millrace_spec::load_str(&yaml, "none.yaml", &[]).unwrap();
    let outcome = Pipeline::from_spec(spec).run(RunOptions::default()).await.unwrap();
    assert!(outcome.summary.is_none());
    assert!(outcome.error.as_ref().unwrap().to_string().contains("no input files"), "{:?}", outcome.error);
    assert_eq!(outcome.exit(false), Exit::Runtime);
    assert_eq!(outcome.governance.report.status, millrace_report::RunStatus::Failed);
    let missing = Pipeline::load(tmp.path().join("missing.yaml"), &[]).err().expect("no such spec");
    assert_eq!(missing.exit(), Exit::Invalid);
}
