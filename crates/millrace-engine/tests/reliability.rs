//! Never lose or duplicate a row: each test here reproduces a way an earlier version lost, duplicated
//! or deleted data (a panicking reader, a changed `state:`, a second writer, a changed split, an
//! appended file, a bad file, hive paths encoded twice, SQL that writes, an empty glob) and shows
//! what happens now. Outputs are read back from disk, not from the run's own counters.

mod common;

use common::{committed_ids, committed_rows, read_rejects};
use millrace_connectors::ConnectorError;
use millrace_connectors::ownership::Lease;
use millrace_connectors::store::StoreRegistry;
use millrace_engine::EngineError;
use datafusion::arrow::array::Array;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn load(text: &str) -> millrace_spec::LoadedSpec {
    millrace_spec::load_str(text, "test.yaml", &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// `n` JSONL records with ids `{prefix}{i}`.
fn write_jsonl(path: &Path, prefix: &str, n: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in 0..n {
        writeln!(f, r#"{{"id":"{prefix}{i}","text":"document {i} {}","lang":"en"}}"#, "x".repeat(i % 50)).unwrap();
    }
}

fn spec(src: &str, out: &Path, extra: &str) -> millrace_spec::LoadedSpec {
    load(&format!("name: r\nsource:\n  files: {src}\n  id_field: id\n{extra}sinks:\n  - jsonl: {}\n", out.display()))
}

/// Every id exactly once.
fn assert_exactly_once(out: &Path, expected: usize) {
    let ids = committed_ids(out);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &ids {
        *counts.entry(i).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(dups.is_empty(), "duplicated ids: {dups:?}");
    assert_eq!(ids.len(), expected, "rows committed");
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    v.sort();
    v
}

fn is_conflict(e: &EngineError) -> bool {
    matches!(e, EngineError::Connector(ConnectorError::Conflict { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reader_fails_the_epoch_and_nothing_is_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 300);
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("*.jsonl").display().to_string(), &out, "");
    let scenario = fail::FailScenario::setup();
    fail::cfg("read-unit", "panic(injected reader fault)").unwrap();
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("a reader panic must fail the run");
    fail::remove("read-unit");
    let msg = e.to_string();
    assert!(msg.contains("panic") && msg.contains("a.jsonl") && msg.contains("injected reader fault"), "{msg}");
    assert!(!out.join("_millrace/checkpoints").exists() || files_under(&out.join("_millrace/checkpoints")).is_empty(), "no checkpoint");
    assert!(committed_ids(&out).is_empty());
    // The next run reads the unit in full.
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled);
    assert_exactly_once(&out, 300);
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_state_is_refused_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 200);
    let out = dir.path().join("out");
    let src = dir.path().join("a.jsonl").display().to_string();
    millrace_engine::run(&spec(&src, &out, ""), Default::default()).await.unwrap();
    let before = files_under(&out);
    let empty_state = dir.path().join("elsewhere");
    let moved = load(&format!(
        "name: r\nsource:\n  files: {src}\n  id_field: id\nsinks:\n  - jsonl: {}\nstate: {}\n",
        out.display(),
        empty_state.display()
    ));
    let e = millrace_engine::run(&moved, Default::default()).await.expect_err("another state must not write here");
    assert!(is_conflict(&e), "{e}");
    assert!(e.to_string().contains("owned by pipeline"), "{e}");
    let after: Vec<String> = files_under(&out).into_iter().filter(|f| !f.contains("_lease")).collect();
    let before: Vec<String> = before.into_iter().filter(|f| !f.contains("_lease")).collect();
    assert_eq!(before, after, "nothing deleted or added");
    assert_exactly_once(&out, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_cannot_share_a_rejects_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), "{\"id\":\"1\",\"text\":\"ok\"}\nnot json\n").unwrap();
    let rejects = dir.path().join("rejects");
    let mk = |name: &str| {
        load(&format!(
            "name: {name}\nsource:\n  files: {}\n  id_field: id\nsinks:\n  - jsonl: {}\nrejects: {}\n",
            dir.path().join("a.jsonl").display(),
            dir.path().join(name).display(),
            rejects.display()
        ))
    };
    millrace_engine::run(&mk("first"), Default::default()).await.unwrap();
    let before = files_under(&rejects);
    assert!(before.iter().any(|f| f.ends_with(".jsonl")), "{before:?}");
    let e = millrace_engine::run(&mk("second"), Default::default()).await.expect_err("shared rejects");
    assert!(is_conflict(&e), "{e}");
    assert_eq!(files_under(&rejects), before, "the first pipeline's rejects are untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_is_refused_while_the_first_holds_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 100);
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("a.jsonl").display().to_string(), &out, "");
    let state = StoreRegistry::default().resolve(&out.join("_millrace").display().to_string()).unwrap();
    let held = Lease::acquire(&state, "other-run", Duration::from_secs(60)).await.unwrap();
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("the state is leased");
    assert!(is_conflict(&e), "{e}");
    assert!(e.to_string().contains("other-run"), "names the holder: {e}");
    assert!(committed_ids(&out).is_empty());
    held.release().await.unwrap();
    millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_exactly_once(&out, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_one_spec_commit_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..4 {
        write_jsonl(&dir.path().join(format!("f{k}.jsonl")), &format!("f{k}-"), 2000);
    }
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("*.jsonl").display().to_string(), &out, "  epoch_bytes: 64KiB\n");
    let (a, b) = tokio::join!(millrace_engine::run(&s, Default::default()), millrace_engine::run(&s, Default::default()));
    let results = [a, b];
    let ok = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        if let Err(e) = r {
            assert!(is_conflict(e), "the loser fails with a conflict: {e}");
        }
    }
    assert_eq!(ok, 1, "exactly one run writes");
    assert_exactly_once(&out, 8000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_lost_its_lease_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let state = StoreRegistry::default().resolve(&dir.path().join("state").display().to_string()).unwrap();
    let mine = Lease::acquire(&state, "mine", Duration::from_secs(1)).await.unwrap();
    mine.verify().await.unwrap();
    // Another host takes generation 1 (as a run elsewhere would after the lease lapsed).
    std::fs::write(
        dir.path().join("state/_lease/gen-000000000001.json"),
        r#"{"generation":1,"run_id":"thief","host":"elsewhere","pid":1,"acquired_at":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let e = mine.verify().await.expect_err("fenced");
    assert!(matches!(e, ConnectorError::Fenced { .. }), "{e}");
    assert!(mine.check().is_err(), "stays fenced");
    // The other holder is alive (its heartbeat is fresh): a third run is refused.
    std::fs::write(dir.path().join("state/_lease/beat-000000000001.json"), r#"{"run_id":"thief","renewed_at":"x"}"#).unwrap();
    let e = Lease::acquire(&state, "third", Duration::from_secs(60)).await.expect_err("held elsewhere");
    assert!(matches!(e, ConnectorError::Conflict { .. }), "{e}");
    // Once its heartbeat is older than the lease time, the state can be taken over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let taken = Lease::acquire(&state, "third", Duration::from_secs(1)).await.unwrap();
    taken.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_publish_is_repaired_from_records_only() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 3000);
    let out = dir.path().join("out");
    let src = dir.path().join("a.jsonl").display().to_string();
    let s = spec(&src, &out, "  epoch_bytes: 40KiB\n  split_bytes: 20KiB\n");
    let scenario = fail::FailScenario::setup();
    // Epochs 0 and 1 commit; epoch 2 publishes its files and manifest, then "crashes".
    fail::cfg("before-checkpoint", "2*off->return").unwrap();
    millrace_engine::run(&s, Default::default()).await.expect_err("injected crash");
    fail::remove("before-checkpoint");
    assert!(out.join("_manifest/epoch-000002.json").exists(), "the crash left a published epoch behind");
    // Partial local writes a kill leaves (`<name>#<n>`, hidden by object_store's own listing): the
    // uncommitted epoch's manifest and a staged file are ours; a foreign `#1` name is not.
    std::fs::write(out.join("_manifest/epoch-000002.json#7"), "partial").unwrap();
    std::fs::create_dir_all(out.join("_staging/epoch-000002")).unwrap();
    std::fs::write(out.join("_staging/epoch-000002/part-000002-000-0000.jsonl#3"), "partial").unwrap();
    std::fs::write(out.join("keep.jsonl#1"), "keep").unwrap();
    // Files a user put there, one named like ours: never ours to delete.
    std::fs::write(out.join("notes.txt"), "keep").unwrap();
    std::fs::write(out.join("part-000099-000-0000.jsonl"), "{\"id\":\"user\"}\n").unwrap();
    // Resume with a different split: every byte range not yet consumed, once.
    let s2 = spec(&src, &out, "  epoch_bytes: 40KiB\n  split_bytes: 7KiB\n");
    let r = millrace_engine::run(&s2, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_exactly_once(&out, 3000);
    assert!(out.join("notes.txt").exists() && out.join("part-000099-000-0000.jsonl").exists(), "foreign files survive repair");
    assert!(!out.join("_manifest/epoch-000002.json#7").exists(), "the pending epoch's partial manifest is removed");
    assert!(!out.join("_staging/epoch-000002/part-000002-000-0000.jsonl#3").exists(), "partial staged files are removed");
    assert!(out.join("keep.jsonl#1").exists(), "a foreign `#1` name survives repair");
    assert!(files_under(&out.join("_millrace/pending")).is_empty(), "no pending record left");
    // A third run with yet another split has nothing to do.
    let s3 = spec(&src, &out, "  epoch_bytes: 40KiB\n  split_bytes: 1MiB\n");
    let r = millrace_engine::run(&s3, Default::default()).await.unwrap();
    assert_eq!(r.rows_read, 0, "{r:?}");
    assert_exactly_once(&out, 3000);
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_changed_after_it_was_consumed_is_reported_not_reread() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.jsonl");
    write_jsonl(&file, "a", 500);
    let out = dir.path().join("out");
    let s = spec(&file.display().to_string(), &out, "");
    millrace_engine::run(&s, Default::default()).await.unwrap();
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"{\"id\":\"late\",\"text\":\"appended\"}\n").unwrap();
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(r.rows_read, 0, "{r:?}");
    assert_eq!(r.changed_inputs.len(), 1, "{r:?}");
    assert!(r.changed_inputs[0].ends_with("a.jsonl"));
    assert_exactly_once(&out, 500);
}

fn zstd_jsonl(path: &Path, prefix: &str, n: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..n {
        writeln!(raw, r#"{{"id":"{prefix}{i}","text":"document number {i} {}"}}"#, "y".repeat(i % 97)).unwrap();
    }
    let z = zstd::encode_all(&raw[..], 3).unwrap();
    std::fs::write(path, &z).unwrap();
    z
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_archive_is_quarantined_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    zstd_jsonl(&dir.path().join("good.jsonl.zst"), "g", 1000);
    let z = zstd_jsonl(&dir.path().join("bad.jsonl.zst"), "b", 5000);
    std::fs::write(dir.path().join("bad.jsonl.zst"), &z[..z.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let src = dir.path().join("*.jsonl.zst").display().to_string();
    let r = millrace_engine::run(&spec(&src, &out, ""), Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rejects_by_reason.get("unreadable_unit"), Some(&1), "{:?}", r.rejects_by_reason);
    let ids = committed_ids(&out);
    assert_eq!(ids.iter().filter(|i| i.starts_with('g')).count(), 1000, "the good file is whole");
    let rejects = read_rejects(&out);
    assert!(
        rejects.iter().any(|r| r["source"].as_str().unwrap_or("").contains("bad.jsonl.zst") && r["reason"].as_str().unwrap_or("").starts_with("unreadable_unit")),
        "{rejects:?}"
    );
    // `on_error: fail` stops instead, naming the file.
    let out2 = dir.path().join("out2");
    let e = millrace_engine::run(&spec(&src, &out2, "  on_error: fail\n"), Default::default()).await.expect_err("on_error: fail");
    assert!(e.to_string().contains("bad.jsonl.zst"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_file_over_max_record_bytes_is_rejected_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.txt"), "a small document").unwrap();
    std::fs::write(dir.path().join("huge.txt"), "z".repeat(4096)).unwrap();
    let out = dir.path().join("out");
    let s = load(&format!(
        "name: t\nsource:\n  files: {}\n  format: text\n  max_record_bytes: 1KiB\nsinks:\n  - jsonl: {}\n",
        dir.path().join("*.txt").display(),
        out.display()
    ));
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rows_written, 1);
    assert_eq!(r.rejects_by_reason.get("record_too_large"), Some(&1), "{:?}", r.rejects_by_reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_values_are_encoded_once_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let values = ["<x>", "", "__HIVE_DEFAULT_PARTITION__", "a/b=c", "100%"];
    let mut body = String::new();
    for (i, v) in values.iter().enumerate() {
        for k in 0..(i + 1) {
            body.push_str(&serde_json::json!({"id": format!("{i}-{k}"), "text": "t", "lang": v}).to_string());
            body.push('\n');
        }
    }
    body.push_str("{\"id\":\"null\",\"text\":\"t\",\"lang\":null}\n");
    std::fs::write(dir.path().join("a.jsonl"), body).unwrap();
    let out = dir.path().join("out");
    let s = load(&format!(
        "name: p\nsource:\n  files: {}\n  id_field: id\nsinks:\n  - parquet: {}\n    partition_by: [lang]\n",
        dir.path().join("a.jsonl").display(),
        out.display()
    ));
    millrace_engine::run(&s, Default::default()).await.unwrap();
    let dirs: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("lang=")).collect();
    assert!(dirs.contains(&"lang=%3Cx%3E".to_string()), "encoded once: {dirs:?}");
    assert!(!dirs.iter().any(|d| d.contains("%25") && !d.contains("100")), "no double encoding: {dirs:?}");
    // The checks' reader decodes with the same codec: every value, with its own count.
    let registry = StoreRegistry::default();
    let o = millrace_governance::open_output(&s, &registry, None, None).await.unwrap();
    let batches = o.ctx.sql("SELECT lang, count(*) AS n FROM output GROUP BY lang").await.unwrap().collect().await.unwrap();
    let mut got: BTreeMap<Option<String>, i64> = BTreeMap::new();
    for b in &batches {
        let langs = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        let langs = langs.as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
        let n = b.column(1).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
        for r in 0..b.num_rows() {
            got.insert(langs.is_valid(r).then(|| langs.value(r).to_string()), n.value(r));
        }
    }
    let mut want: BTreeMap<Option<String>, i64> = values.iter().enumerate().map(|(i, v)| (Some(v.to_string()), i as i64 + 1)).collect();
    want.insert(None, 1);
    assert_eq!(got, want);
    // A listed file that disappeared fails the checks instead of reading as empty.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("_manifest/epoch-000000.json")).unwrap()).unwrap();
    std::fs::remove_file(out.join(m["files"][0]["path"].as_str().unwrap())).unwrap();
    let e = millrace_governance::open_output(&s, &registry, None, None).await.err().expect("a missing file is an error");
    assert!(e.to_string().contains("unreadable"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_stages_cannot_write_files() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 10);
    let target = dir.path().join("exfiltrated.csv");
    let s = spec(
        &dir.path().join("a.jsonl").display().to_string(),
        &dir.path().join("out"),
        &format!("stages:\n  - sql: \"COPY (SELECT * FROM input) TO '{}'\"\n", target.display()),
    );
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("COPY is refused");
    assert!(!target.exists(), "no file written");
    assert!(e.to_string().to_lowercase().contains("not supported") || e.to_string().contains("DML"), "{e}");
    let s = spec(
        &dir.path().join("a.jsonl").display().to_string(),
        &dir.path().join("out2"),
        "stages:\n  - sql: \"CREATE TABLE t AS SELECT 1\"\n",
    );
    millrace_engine::run(&s, Default::default()).await.expect_err("DDL is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_glob_is_an_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("nothing-*.jsonl").display().to_string();
    let e = millrace_engine::run(&spec(&src, &dir.path().join("out"), ""), Default::default()).await.expect_err("empty input");
    assert!(matches!(e, EngineError::Connector(ConnectorError::NoInput { .. })), "{e}");
    let r = millrace_engine::run(&spec(&src, &dir.path().join("out2"), "  allow_empty: true\n"), Default::default()).await.unwrap();
    assert_eq!(r.rows_read, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_quoted_newlines_across_chunks_ragged_rows_and_empty_text_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("id,text,n\n");
    let rows = 100_000;
    for i in 0..rows {
        // Every row's text holds a quoted newline, so chunk boundaries fall inside quotes.
        body.push_str(&format!("r{i},\"line one of {i}\nline two, {}\",{i}\n", "w".repeat(i % 80)));
    }
    body.push_str("ragged,row,with,too,many\n");
    body.push_str("empty,,7\n");
    body.push_str("badnum,\"text\",notanumber\n");
    assert!(body.len() > 6 << 20, "spans more than one 4 MiB chunk");
    std::fs::write(dir.path().join("a.csv"), &body).unwrap();
    let out = dir.path().join("out");
    let s = load(&format!(
        "name: c\nsource:\n  files: {}\n  id_field: id\nsinks:\n  - jsonl: {}\n",
        dir.path().join("a.csv").display(),
        out.display()
    ));
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rows_read, rows as u64 + 3, "{r:?}");
    assert_exactly_once(&out, rows);
    let reasons: Vec<&str> = r.rejects_by_reason.keys().map(String::as_str).collect();
    assert_eq!(reasons, vec!["invalid_csv", "missing_text_field", "schema_mismatch"], "{:?}", r.rejects_by_reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_over_max_record_bytes_is_rejected_with_its_hash_and_the_rest_is_read() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("{{\"id\":\"huge\",\"text\":\"{}\"}}", "h".repeat(3 << 20));
    let mut body = String::new();
    for i in 0..2000 {
        body.push_str(&format!("{{\"id\":\"a{i}\",\"text\":\"t {i}\"}}\n"));
        if i == 1000 {
            body.push_str(&huge);
            body.push('\n');
        }
    }
    let mut bytes = body.into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"bin\",\"text\":\"\xff\xfe\"}\n");
    std::fs::write(dir.path().join("a.jsonl"), &bytes).unwrap();
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("a.jsonl").display().to_string(), &out, "  max_record_bytes: 1MiB\n  split_bytes: 512KiB\n");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_exactly_once(&out, 2000);
    let rejects = read_rejects(&out);
    let big = rejects.iter().find(|r| r["reason"].as_str().unwrap().starts_with("record_too_large")).expect("oversized reject");
    let mut full = huge.into_bytes();
    full.push(b'\n');
    assert_eq!(big["record_bytes"].as_u64(), Some(full.len() as u64));
    assert_eq!(big["record_sha256"].as_str().unwrap(), hex::encode(sha2::Sha256::digest(&full)));
    assert!(big["record"].as_str().unwrap().len() <= 64 << 10);
    let bin = rejects.iter().find(|r| r["reason"].as_str().unwrap().starts_with("invalid_utf8")).expect("invalid utf-8 reject");
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(bin["record_base64"].as_str().unwrap()).unwrap();
    assert_eq!(raw, b"{\"id\":\"bin\",\"text\":\"\xff\xfe\"}".to_vec(), "the exact bytes survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_partition_values_keep_a_bounded_number_of_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..6000 {
        body.push_str(&format!("{{\"id\":\"{i}\",\"text\":\"t\",\"key\":\"k{}\"}}\n", i % 2000));
    }
    std::fs::write(dir.path().join("a.jsonl"), body).unwrap();
    let out = dir.path().join("out");
    let s = load(&format!(
        "name: m\nsource:\n  files: {}\n  id_field: id\nsinks:\n  - jsonl: {}\n    partition_by: [key]\n    max_open_files: 8\n",
        dir.path().join("a.jsonl").display(),
        out.display()
    ));
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled);
    let ids = committed_ids(&out);
    assert_eq!(ids.len(), 6000);
    let dirs = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("key=")).count();
    assert_eq!(dirs, 2000);
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_outage_of_30_seconds_is_ridden_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Ok(ep) = std::env::var("MILLRACE_TEST_S3_ENDPOINT") else {
        assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "MILLRACE_TEST_S3_ENDPOINT is required");
        return;
    };
    let target: std::net::SocketAddr = ep.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let down = std::sync::Arc::new(AtomicBool::new(false));
    let proxy = common::outage_proxy(target, down.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    for k in 0..8 {
        write_jsonl(&dir.path().join(format!("f{k}.jsonl")), &format!("f{k}-"), 10_000);
    }
    let root = format!("s3://millrace-test/outage-{}", uuid::Uuid::new_v4());
    let s = load(&format!(
        "name: o\nsource:\n  files: {}\n  id_field: id\n  epoch_bytes: 64KiB\nsinks:\n  - jsonl: {root}/out\nengine:\n  lease_seconds: 120\nstorage:\n  s3:\n    endpoint: http://{proxy}\n    allow_http: true\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    virtual_hosted_style_request: false\n    retry_timeout: 120s\n",
        dir.path().join("*.jsonl").display()
    ));
    let run = tokio::spawn({
        let s = s.clone();
        async move { millrace_engine::run(&s, Default::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    if run.is_finished() {
        panic!("the outage must begin mid-run; the run ended with {:?}", run.await.map(|r| r.map(|s| s.rows_written)));
    }
    down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    down.store(false, Ordering::SeqCst);
    let r = run.await.unwrap().expect("the run rides out the outage");
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rows_written, 80_000);
    assert!(r.storage_request_failures > 0, "the outage is reported: {r:?}");
    // Read back through the server directly, by an independent reader.
    let v = common::check_exactly_once("jsonl", &format!("{root}/out"), &ep);
    assert_eq!((v["rows"].as_u64(), v["unique_ids"].as_u64()), (Some(80_000), Some(80_000)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_first_file_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-empty.jsonl"), "").unwrap();
    write_jsonl(&dir.path().join("b.jsonl"), "b", 50);
    let out = dir.path().join("out");
    let r = millrace_engine::run(&spec(&dir.path().join("*.jsonl").display().to_string(), &out, ""), Default::default()).await.unwrap();
    assert!(r.reconciled);
    assert_exactly_once(&out, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_parquet_file_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parquet");
    std::fs::copy(corpus.join("small.parquet"), dir.path().join("a.parquet")).unwrap();
    std::fs::copy(corpus.join("truncated.parquet"), dir.path().join("b.parquet")).unwrap();
    let out = dir.path().join("out");
    let r = millrace_engine::run(&spec(&dir.path().join("*.parquet").display().to_string(), &out, ""), Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rejects_by_reason.get("unreadable_unit"), Some(&1), "{:?}", r.rejects_by_reason);
    assert_eq!(r.rows_written, 2, "the good file's rows with text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraction_in_an_integer_column_is_rejected_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    // Past the schema sample (1000 records), so `n` is inferred as an integer column.
    for i in 0..1200 {
        body.push_str(&format!("{{\"id\":\"{i}\",\"text\":\"t\",\"n\":{i}}}\n"));
    }
    body.push_str("{\"id\":\"frac\",\"text\":\"t\",\"n\":1.9}\n");
    std::fs::write(dir.path().join("a.jsonl"), body).unwrap();
    let out = dir.path().join("out");
    let r = millrace_engine::run(&spec(&dir.path().join("a.jsonl").display().to_string(), &out, ""), Default::default()).await.unwrap();
    assert!(r.reconciled);
    assert_eq!(r.rejects_by_reason.get("schema_mismatch"), Some(&1), "{:?}", r.rejects_by_reason);
    assert_exactly_once(&out, 1200);
    assert!(!committed_ids(&out).contains(&"frac".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_are_redacted_when_the_pipeline_redacts_pii() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.jsonl"),
        "{\"id\":\"1\",\"text\":\"write to jane.doe@example.com\"}\n{\"id\":\"2\",\"text\": broken json jane.doe@example.com\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("a.jsonl").display().to_string(), &out, "stages:\n  - redact_pii: { mode: redact }\n");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled);
    let rejects = read_rejects(&out);
    assert_eq!(rejects.len(), 1);
    let rec = rejects[0]["record"].as_str().unwrap();
    assert!(!rec.contains("jane.doe@example.com") && rec.contains("<EMAIL>"), "{rec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_state_does_not_delete_committed_output() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 300);
    let out = dir.path().join("out");
    let s = spec(&dir.path().join("a.jsonl").display().to_string(), &out, "  epoch_bytes: 8KiB\n");
    millrace_engine::run(&s, Default::default()).await.unwrap();
    std::fs::remove_dir_all(out.join("_millrace/checkpoints")).unwrap();
    let before: Vec<String> = files_under(&out).into_iter().filter(|f| !f.starts_with("_millrace")).collect();
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("the state is gone");
    assert!(is_conflict(&e) && e.to_string().contains("state was deleted"), "{e}");
    let after: Vec<String> = files_under(&out).into_iter().filter(|f| !f.starts_with("_millrace")).collect();
    assert_eq!(before, after, "nothing deleted");
    assert_exactly_once(&out, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_file_in_the_way_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    write_jsonl(&dir.path().join("a.jsonl"), "a", 100);
    let out = dir.path().join("out");
    let s = load(&format!(
        "name: r\nsource:\n  files: {}\n  id_field: id\n  epoch_bytes: 2KiB\n  split_bytes: 2KiB\nsinks:\n  - jsonl: {}\nengine:\n  threads: 1\n",
        dir.path().join("a.jsonl").display(),
        out.display()
    ));
    let scenario = fail::FailScenario::setup();
    fail::cfg("before-checkpoint", "1*off->return").unwrap();
    millrace_engine::run(&s, Default::default()).await.expect_err("injected crash in epoch 1");
    fail::remove("before-checkpoint");
    scenario.teardown();
    // A user drops a file exactly where epoch 2 will publish.
    std::fs::write(out.join("part-000002-000-0000.jsonl"), "mine\n").unwrap();
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("the file is in the way");
    assert!(is_conflict(&e), "{e}");
    assert_eq!(std::fs::read_to_string(out.join("part-000002-000-0000.jsonl")).unwrap(), "mine\n");
}

/// Writes `a.jsonl` (1200 records, then one with a field past the schema sample) and `b.jsonl`
/// (records with a field `a.jsonl` never has), one epoch each, the schema sampled from `a` alone.
fn two_shapes(dir: &Path) -> String {
    // Outputs go next to `in/`, not into it (a `*` of a source glob crosses directories).
    let dir = &dir.join("in");
    std::fs::create_dir(dir).unwrap();
    let mut a = String::new();
    for i in 0..1200 {
        a.push_str(&format!("{{\"id\":\"a{i}\",\"text\":\"t\"}}\n"));
    }
    a.push_str("{\"id\":\"late\",\"text\":\"t\",\"license\":\"mit\"}\n");
    std::fs::write(dir.join("a.jsonl"), a).unwrap();
    let b: String = (0..50).map(|i| format!("{{\"id\":\"b{i}\",\"text\":\"t\",\"url\":\"https://x/{i}\"}}\n")).collect();
    std::fs::write(dir.join("b.jsonl"), b).unwrap();
    dir.join("*.jsonl").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_outside_the_schema_sample_are_never_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let src = two_shapes(dir.path());
    let run = |mode: &str| {
        let out = dir.path().join(format!("out-{mode}"));
        let s = spec(&src, &out, &format!("  epoch_bytes: 1\n  schema: {{mode: {mode}, sample_files: 1}}\n"));
        (out, s)
    };

    // strict: the columns of the sample, and every record with another field rejected.
    let (out, s) = run("strict");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rejects_by_reason.get("unexpected_field"), Some(&51), "{:?}", r.rejects_by_reason);
    assert_exactly_once(&out, 1200);
    let rej = read_rejects(&out);
    assert!(rej.iter().any(|j| j["reason"].as_str().unwrap().contains("`license`") && j["record"].as_str().unwrap().contains("mit")), "{rej:?}");

    // evolve (the default): the second epoch samples its new file and adds `url`; the field past
    // the first file's sample is still rejected, not dropped.
    let (out, s) = run("evolve");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rejects_by_reason.get("unexpected_field"), Some(&1), "{:?}", r.rejects_by_reason);
    assert_exactly_once(&out, 1250);
    let rows = committed_rows(&out);
    assert_eq!(rows.iter().filter(|v| v["url"].as_str().is_some_and(|u| u.starts_with("https://x/"))).count(), 50);

    // capture_extra: nothing rejected; what the columns lack is in `_extra`.
    let (out, s) = run("capture_extra");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert!(r.rejects_by_reason.is_empty(), "{:?}", r.rejects_by_reason);
    assert_exactly_once(&out, 1251);
    let rows = committed_rows(&out);
    let extra = |id: &str| -> serde_json::Value {
        let v = rows.iter().find(|v| v["id"] == id).unwrap();
        serde_json::from_str(v["_extra"].as_str().unwrap_or("null")).unwrap()
    };
    assert_eq!(extra("late"), serde_json::json!({"license": "mit"}));
    assert_eq!(extra("b7"), serde_json::json!({"url": "https://x/7"}));
    assert_eq!(extra("a3"), serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_conflict_in_the_schema_sample_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let body = [
        r#"{"id":"1","text":"t","meta":{"k":1}}"#,
        r#"{"id":"2","text":"t","meta":5}"#,
        r#"{"id":"3","text":"t","meta":"s"}"#,
        r#"{"id":"4","text":"t"}"#,
    ]
    .join("\n");
    std::fs::write(dir.path().join("a.jsonl"), body).unwrap();
    let out = dir.path().join("out");
    let r = millrace_engine::run(&spec(&dir.path().join("a.jsonl").display().to_string(), &out, ""), Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    // `meta` is a string column: the object does not fit it and is rejected alone.
    assert_eq!(r.rejects_by_reason.get("schema_mismatch"), Some(&1), "{:?}", r.rejects_by_reason);
    let rows = committed_rows(&out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows.iter().find(|v| v["id"] == "2").unwrap()["meta"], "5");
}

fn write_parquet(path: &Path, with_score: bool) {
    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("id", std::sync::Arc::new(StringArray::from(vec![format!("{}1", with_score), format!("{}2", with_score)]))),
        ("text", std::sync::Arc::new(StringArray::from(vec!["t", "u"]))),
    ];
    if with_score {
        cols.push(("score", std::sync::Arc::new(Float64Array::from(vec![0.5, 0.25]))));
    }
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_columns_outside_the_schema_follow_the_schema_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    write_parquet(&dir.path().join("in/a.parquet"), false);
    write_parquet(&dir.path().join("in/b.parquet"), true);
    let src = dir.path().join("in/*.parquet").display().to_string();
    let run = |mode: &str| spec(&src, &dir.path().join(format!("out-{mode}")), &format!("  epoch_bytes: 1\n  schema: {{mode: {mode}}}\n"));

    let r = millrace_engine::run(&run("strict"), Default::default()).await.unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rejects_by_reason.get("unreadable_unit"), Some(&1), "the file with `score` is quarantined: {:?}", r.rejects_by_reason);
    let rej = read_rejects(&dir.path().join("out-strict"));
    assert!(rej.iter().any(|j| j["reason"].as_str().unwrap().contains("`score`")), "{rej:?}");

    let r = millrace_engine::run(&run("evolve"), Default::default()).await.unwrap();
    assert!(r.reconciled && r.rejects_by_reason.is_empty(), "{r:?}");
    let rows = committed_rows(&dir.path().join("out-evolve"));
    assert_eq!(rows.iter().filter_map(|v| v["score"].as_f64()).sum::<f64>(), 0.75);

    let r = millrace_engine::run(&run("capture_extra"), Default::default()).await.unwrap();
    assert!(r.reconciled && r.rejects_by_reason.is_empty(), "{r:?}");
    let rows = committed_rows(&dir.path().join("out-capture_extra"));
    let extra: Vec<&str> = rows.iter().filter_map(|v| v["_extra"].as_str()).collect();
    assert_eq!(extra.len(), 2);
    assert!(extra.contains(&r#"{"score":0.5}"#), "{extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedupe_index_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    write_jsonl(&dir.path().join("in/a.jsonl"), "a", 100);
    let src = dir.path().join("in/*.jsonl").display().to_string();
    let index = dir.path().join("index");
    let stages = format!("stages:\n  - dedupe: {{ index: {} }}\n", index.display());
    // Another run is writing the index: this one waits its turn (conflict), touching nothing.
    let loc = StoreRegistry::default().resolve(&index.display().to_string()).unwrap();
    let held = Lease::acquire(&loc, "index-writer", Duration::from_secs(60)).await.unwrap();
    let s = spec(&src, &dir.path().join("out1"), &stages);
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("the index is leased");
    assert!(is_conflict(&e) && e.to_string().contains("index-writer"), "{e}");
    assert!(committed_ids(&dir.path().join("out1")).is_empty());
    held.release().await.unwrap();
    millrace_engine::run(&s, Default::default()).await.unwrap();
    // Sharing one after another stays possible: another pipeline dedupes against the index.
    let r = millrace_engine::run(&spec(&src, &dir.path().join("out2"), &stages), Default::default()).await.unwrap();
    assert_eq!(r.rows_written, 0, "every document is a duplicate of the first pipeline's");
}
