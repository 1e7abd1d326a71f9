//! Golden-file tests: every folder of `tests/golden/` is a case run through the real engine (see
//! tests/golden/README.md). Cases are discovered at run time.

use std::path::{Path, PathBuf};

use millrace_test_fixtures::repo_root;

fn read_jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", p.display())))
        .collect()
}

fn sorted(mut v: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    v.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    v
}

/// Reads every committed JSONL file of a sink (or rejects) directory through its manifests.
fn committed_rows(dir: &Path) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("_manifest")) else { return rows };
    for e in entries {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        for f in m["files"].as_array().unwrap() {
            rows.extend(read_jsonl(&dir.join(f["path"].as_str().unwrap())));
        }
    }
    rows
}

async fn run_case(case: &Path) -> Result<(), String> {
    let out = tempfile::tempdir().unwrap();
    let stages = std::fs::read_to_string(case.join("stages.yaml")).unwrap();
    let indented: String = stages.lines().map(|l| format!("  {l}\n")).collect();
    let spec = format!(
        "name: golden\nsource:\n  files: {}\n  format: jsonl\nstages:\n{indented}sinks:\n  - jsonl: {}/out\nrejects: {}/rejects\nengine:\n  threads: 1\n",
        case.join("input.jsonl").display(),
        out.path().display(),
        out.path().display()
    );
    let spec = millrace_spec::load_str(&spec, &case.display().to_string(), &[]).map_err(|e| e.to_string())?;
    let summary = millrace_engine::run(&spec, Default::default()).await.map_err(|e| e.to_string())?;
    if !summary.reconciled {
        return Err(format!("counts do not reconcile: {summary:?}"));
    }
    let got = sorted(committed_rows(&out.path().join("out")));
    let rejects: Vec<serde_json::Value> = sorted(
        committed_rows(&out.path().join("rejects"))
            .into_iter()
            .map(|r| serde_json::json!({"id": r["id"], "reason": r["reason"]}))
            .collect(),
    );
    let bless = std::env::var("MILLRACE_BLESS").is_ok_and(|v| v == "1");
    let write = |name: &str, rows: &[serde_json::Value]| {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(case.join(name), text).unwrap();
    };
    let expected_path = case.join("expected.jsonl");
    if bless || !expected_path.exists() {
        write("expected.jsonl", &got);
        if !rejects.is_empty() {
            write("rejects.jsonl", &rejects);
        }
        if !bless {
            return Err(format!("{} had no expected.jsonl; wrote it from this run: check it by hand", case.display()));
        }
        return Ok(());
    }
    let expected = sorted(read_jsonl(&expected_path));
    if got != expected {
        return Err(format!(
            "output differs\n  got:      {}\n  expected: {}",
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&expected).unwrap()
        ));
    }
    let expected_rejects = sorted(read_jsonl(&case.join("rejects.jsonl")));
    if rejects != expected_rejects {
        return Err(format!("rejects differ\n  got:      {rejects:?}\n  expected: {expected_rejects:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_cases() {
    // Relative paths in cases (tokenizer files) are relative to the repository root.
    std::env::set_current_dir(repo_root()).unwrap();
    let dir = repo_root().join("tests/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "expected golden cases in {}", dir.display());
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run_case(c).await {
            failures.push(format!("{}: {e}", c.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
