//! End-to-end runs of the `pipeline` binary, with outputs checked by pyarrow.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn quickstart_runs_and_pyarrow_reads_the_output() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("qs");
    let o = bin()
        .current_dir(repo_root())
        .env("MILLRACE_OUT", &dest)
        .args(["run", "pipelines/quickstart.yaml", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_read"], 303, "{s}");
    assert_eq!(s["rows_written"], 300);
    assert_eq!(s["rows_rejected"], 3);
    assert_eq!(s["reconciled"], true);
    let py = Command::new("python3").arg(repo_root().join("tests/e2e/check_parquet.py")).arg(&dest).output().unwrap();
    assert!(py.status.success(), "pyarrow check failed: {}", String::from_utf8_lossy(&py.stderr));
    let r: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(r["rows"], 300, "{r}");
    assert_eq!(r["dataset_rows"], 300, "{r}");
    assert_eq!(r["unique_ids"], 300);
    let cols: Vec<&str> = r["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for c in ["id", "text", "url", "format", "n_chars", "lang"] {
        assert!(cols.contains(&c), "{cols:?}");
    }
    // A second run finds everything committed.
    let o = bin().current_dir(repo_root()).env("MILLRACE_OUT", &dest).args(["run", "pipelines/quickstart.yaml", "--json"]).output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_read"], 0, "{s}");
}

#[test]
fn validate_reports_line_and_column_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "name: x\nsource:\n  files: a.jsonl\n  fromat: jsonl\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml:4:3"), "{err}");
    assert!(err.contains("did you mean `format`"), "{err}");
}

#[test]
fn validate_rejects_bad_url_scheme_and_missing_env() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "name: x\nsource:\n  files: s4://bucket/a.jsonl\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":3:10") && err.contains("s4://"), "{err}");
    std::fs::write(&p, "name: x\nsource:\n  files: ${MILLRACE_SURELY_UNSET_VAR}\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MILLRACE_SURELY_UNSET_VAR"));
}

#[test]
fn explain_prints_plans_and_runtime_errors_exit_1() {
    let o = bin().current_dir(repo_root()).args(["explain", "pipelines/quickstart.yaml"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("Logical plan") && s.contains("Physical plan") && s.contains("StreamingTableExec"), "{s}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.yaml");
    std::fs::write(&p, format!("name: x\nsource:\n  files: {}/nope.jsonl\nsinks:\n  - parquet: {}/o\n", dir.path().display(), dir.path().display())).unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.jsonl"));
}

#[test]
fn set_overrides_and_limit() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("lim");
    let o = bin()
        .current_dir(repo_root())
        .args(["run", "pipelines/quickstart.yaml", "--json", "--limit", "10", "--set"])
        .arg(format!("sinks.0.parquet={}", dest.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_written"], 10, "{s}");
    assert_eq!(s["limited"], true);
    assert!(dest.join("_manifest").exists());
}

#[test]
fn secrets_in_urls_are_never_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let p = dir.path().join("secret.yaml");
    // Port 9 (discard) on loopback refuses the connection: the run fails and reports the URL.
    std::fs::write(
        &p,
        format!("name: s\nsource:\n  files: http://reader:SECRETPW@127.0.0.1:9/data/x.jsonl?sig=SASTOKEN\n  format: jsonl\nsinks:\n  - jsonl: {}\n", out.display()),
    )
    .unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("127.0.0.1"), "the error names the location: {err}");
    assert!(!err.contains("SECRETPW") && !err.contains("SASTOKEN"), "{err}");
    let mut rendered = String::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                rendered.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    assert!(rendered.contains("run_id"), "run.json was written");
    assert!(!rendered.contains("SECRETPW") && !rendered.contains("SASTOKEN"), "{rendered}");
}

#[test]
fn a_second_writer_exits_with_the_conflict_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), "{\"id\":\"1\",\"text\":\"x\"}\n").unwrap();
    let lease = dir.path().join("out/_millrace/_lease");
    std::fs::create_dir_all(&lease).unwrap();
    std::fs::write(
        lease.join("gen-000000000000.json"),
        r#"{"generation":0,"run_id":"busy","host":"another-host","pid":1,"acquired_at":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(&p, format!("name: s\nsource:\n  files: {}/a.jsonl\nsinks:\n  - jsonl: {}/out\n", dir.path().display(), dir.path().display())).unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("busy"));
}
